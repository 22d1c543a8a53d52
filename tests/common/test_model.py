"""The frame state machine, job status derivation and job-spec parsing guard the farm's data."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import pytest

from netrender.common.errors import InvalidRequest, InvalidTransition
from netrender.common.model import (
    FRAME_TRANSITIONS,
    FileRef,
    Frame,
    FrameCounts,
    FrameEvent,
    FrameStatus,
    JobControl,
    JobSpec,
    JobStatus,
    job_status,
    next_frame_status,
)
from netrender.common.work import Assignment, TaskDetail, listing_from_json, listing_json

Q, D, OK, ERR = FrameStatus.QUEUED, FrameStatus.DISPATCHED, FrameStatus.DONE, FrameStatus.ERROR
E = FrameEvent

LEGAL = [
    (Q, E.DISPATCH, D),
    (D, E.COMPLETE, OK),
    (Q, E.COMPLETE, OK),
    (ERR, E.COMPLETE, OK),
    (D, E.FAIL, ERR),
    (Q, E.FAIL, ERR),
    (D, E.REQUEUE, Q),
    (ERR, E.RESET, Q),
    (OK, E.RESET, Q),
    (Q, E.RESET, Q),
    (D, E.RESET, Q),
]
ILLEGAL = [
    (status, event)
    for status, event in itertools.product(FrameStatus, FrameEvent)
    if (status, event) not in {(s, e) for s, e, _ in LEGAL}
]


def test_transition_table_is_exactly_the_expected_moves() -> None:
    assert {(s, e): new for s, e, new in LEGAL} == FRAME_TRANSITIONS


@pytest.mark.parametrize(("status", "event", "expected"), LEGAL)
def test_legal_move(status: FrameStatus, event: FrameEvent, expected: FrameStatus) -> None:
    assert next_frame_status(status, event) is expected


@pytest.mark.parametrize(("status", "event"), ILLEGAL)
def test_illegal_move_raises(status: FrameStatus, event: FrameEvent) -> None:
    with pytest.raises(InvalidTransition, match=f"{status.value} frame cannot {event.value}"):
        next_frame_status(status, event)


def test_illegal_pairs_cover_the_rest() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(FrameStatus) * len(FrameEvent)
    assert len(ILLEGAL) == 9


@pytest.mark.parametrize(
    ("control", "counts", "expected"),
    [
        (JobControl.ACTIVE, FrameCounts(total=3, queued=3), JobStatus.QUEUED),
        (JobControl.ACTIVE, FrameCounts(), JobStatus.QUEUED),
        (JobControl.ACTIVE, FrameCounts(total=3, queued=2, dispatched=1), JobStatus.RUNNING),
        (JobControl.ACTIVE, FrameCounts(total=3, queued=2, done=1), JobStatus.RUNNING),
        (JobControl.ACTIVE, FrameCounts(total=3, queued=2, error=1), JobStatus.RUNNING),
        (JobControl.PAUSED, FrameCounts(total=3, queued=2, done=1), JobStatus.PAUSED),
        (JobControl.CANCELLED, FrameCounts(total=3, done=3), JobStatus.CANCELLED),
        (JobControl.ACTIVE, FrameCounts(total=3, done=3), JobStatus.FINISHED),
        (JobControl.PAUSED, FrameCounts(total=3, done=3), JobStatus.FINISHED),
        (JobControl.ACTIVE, FrameCounts(total=3, done=2, error=1), JobStatus.FAILED),
        (JobControl.PAUSED, FrameCounts(total=3, error=3), JobStatus.FAILED),
    ],
)
def test_job_status(control: JobControl, counts: FrameCounts, expected: JobStatus) -> None:
    assert job_status(control, counts) is expected


SHA = "a" * 64
SHA2 = "b" * 64


def spec(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "My job",
        "blend": "shots/scene.blend",
        "frames": [1, 2, 3],
        "files": [
            {"path": "shots/scene.blend", "sha256": SHA, "size": 10},
            {"path": "textures/a.png", "sha256": SHA2, "size": 20},
        ],
        "tags": ["gpu"],
        "priority": 5,
        "chunks": 2,
        "engine": "BLENDER_EEVEE",
    }
    data.update(changes)
    return data


def test_valid_spec_parses() -> None:
    job = JobSpec.from_json(spec())
    assert job.name == "My job"
    assert job.blend == "shots/scene.blend"
    assert job.frames == (1, 2, 3)
    assert [f.path for f in job.files] == ["shots/scene.blend", "textures/a.png"]
    assert job.files[1].sha256 == SHA2 and job.files[1].size == 20
    assert job.tags == ("gpu",)
    assert (job.priority, job.chunks, job.engine) == (5, 2, "BLENDER_EEVEE")


def test_defaults_for_optional_fields() -> None:
    data = spec()
    for key in ("tags", "priority", "chunks", "engine"):
        del data[key]
    job = JobSpec.from_json(data)
    assert (job.tags, job.priority, job.chunks, job.engine, job.category) == ((), 1, 1, "CYCLES", "")


def test_empty_name_defaults_to_blend_file_name() -> None:
    assert JobSpec.from_json(spec(name="")).name == "scene.blend"


def file_entry(path: str, sha: str = SHA) -> dict[str, Any]:
    return {"path": path, "sha256": sha, "size": 1}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"blend": "other.blend"}, id="blend-not-among-files"),
        pytest.param({"files": [file_entry("shots/scene.blend"), file_entry("shots/scene.blend", SHA2)]},
                     id="duplicate-file-paths"),
        pytest.param({"frames": []}, id="empty-frames"),
        pytest.param({"frames": [1, 2, 1]}, id="repeated-frame"),
        pytest.param({"frames": [-1]}, id="negative-frame"),
        pytest.param({"frames": [True]}, id="bool-frame"),
        pytest.param({"engine": "POVRAY"}, id="unknown-engine"),
        pytest.param({"priority": 0}, id="priority-too-low"),
        pytest.param({"priority": 101}, id="priority-too-high"),
        pytest.param({"chunks": "3"}, id="chunks-as-string"),
        pytest.param({"files": [file_entry("shots/scene.blend"), file_entry("../secret.png")]},
                     id="path-with-dotdot"),
        pytest.param({"files": [file_entry("shots/scene.blend", "ABC")]}, id="bad-sha256"),
        pytest.param({"files": [file_entry("shots/scene.blend", "A" * 64)]}, id="uppercase-sha256"),
    ],
)
def test_invalid_spec_raises(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        JobSpec.from_json(spec(**changes))


def test_a_frame_as_json_has_every_field() -> None:
    """``Frame.to_json`` is spelled out for speed: a field added later must not be left out of it."""
    frame = Frame(3, 7, FrameStatus.DONE, "s1", 1.5, "ok", 2.0, 3.5, 1)
    assert frame.to_json() == {**dataclasses.asdict(frame), "status": "done"}


def test_an_assignment_as_json_has_every_field_and_comes_back_whole() -> None:
    """``Assignment.to_json`` and ``FileRef.to_json`` are spelled out for speed, like ``Frame.to_json``."""
    files = (FileRef("a.blend", "0" * 64, 5), FileRef("tex/b.png", "1" * 64, 9))
    work = Assignment(4, (1, 2), "a.blend", "CYCLES", files, True, False, True, output_dir="/srv/out")
    as_dicts = [dataclasses.asdict(f) for f in files]
    assert work.to_json() == {**dataclasses.asdict(work), "frames": [1, 2], "files": as_dicts, "found": [],
                              "tasks": [], "bakes": []}
    after_bake = Assignment(6, (1,), "a.blend", "CYCLES", files, bake_job=5, bakes=((1, "Cloth", "Cloth"),))
    assert Assignment.from_json(after_bake.to_json()) == after_bake
    assert Assignment.from_json(work.to_json()) == work
    shared = Assignment(5, (3,), "P:\\show\\a.blend", "CYCLES", (), shared=True, found=("P:\\show\\t.png",))
    assert Assignment.from_json(shared.to_json()) == shared
    tile = TaskDetail(7, "tile", 12, (1920, 1080), (0, 0, 480, 270), denoise=True)
    stitch = TaskDetail(9, "stitch", 12, (1920, 1080), inputs=((7, (0, 0, 480, 270)), (8, (480, 0, 960, 270))))
    tiled = Assignment(6, (7, 9), "a.blend", "CYCLES", files, tasks=(tile, stitch))
    assert Assignment.from_json(tiled.to_json()) == tiled and tiled.detail(9) == stitch and tiled.detail(1) is None
    baking = Assignment(8, (2,), "a.blend", "CYCLES", files, tasks=(TaskDetail(2, "bake", 2, cache=("Emitter",
                                                                                                 "particles/P")),))
    assert Assignment.from_json(baking.to_json()) == baking


def test_an_assignment_sent_without_its_files_is_completed_by_the_jobs_listing() -> None:
    files = (FileRef("shots/a.blend", "0" * 64, 5), FileRef("assets/b.png", "1" * 64, 9))
    sent = Assignment(4, (1, 2), "shots/a.blend", "CYCLES", (), listed=True)
    received = Assignment.from_json(json.loads(json.dumps(sent.to_json())))
    assert received == sent and received.listed and received.files == ()
    listing = listing_from_json(json.loads(json.dumps(listing_json(files, ("P:\\show\\t.png",)))))
    whole = received.with_listing(*listing)
    assert whole == Assignment(4, (1, 2), "shots/a.blend", "CYCLES", files, found=("P:\\show\\t.png",))


@pytest.mark.parametrize("bad", [[], {"files": [{"path": "/etc/passwd", "sha256": "0" * 64, "size": 1}]},
                                 {"files": [{"path": "a.blend", "sha256": "nothex", "size": 1}]}])
def test_a_listing_is_checked_like_an_assignment(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        listing_from_json(bad)
