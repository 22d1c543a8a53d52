# SPDX-License-Identifier: GPL-3.0-or-later
"""A job's file list reaches a slave once per job, not with every chunk.

Against a real master over HTTP, with the stand-in Blender of ``test_slave``:
the work answers carry no files, the slave reads the list once and keeps it
for the job's next chunks, and a list that cannot be had fails the chunk with
the reason instead of rendering with no files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from test_slave import FakeBlender, make_job

from netrender.common.errors import ApiError
from netrender.common.pathmap import PathMap
from netrender.common.work import Assignment
from netrender.master import MasterServer
from netrender.node.files import LISTINGS_KEPT, sent_paths
from netrender.slave import Slave, SlaveConfig


def counting_slave(tmp_path: Path, master: MasterServer) -> tuple[Slave, list[str]]:
    slave = Slave(SlaveConfig(master=master.url, path=tmp_path / "slave"), run_blender=FakeBlender())
    asked: list[str] = []
    original = slave.conn.get
    slave.conn.get = lambda path, *a, **k: asked.append(path) or original(path, *a, **k)  # type: ignore[method-assign]
    return slave, asked


def test_a_slave_reads_a_jobs_file_list_once_for_all_its_chunks(tmp_path: Path, live_master: MasterServer) -> None:
    slave, asked = counting_slave(tmp_path, live_master)
    job_id = make_job(tmp_path, live_master, [1, 2, 3, 4, 5, 6])  # chunks of 2: three work answers
    while slave.run_once():
        pass
    assert [r.done for r in slave.reports] == [[1, 2], [3, 4], [5, 6]]
    assert asked.count(f"/api/jobs/{job_id}/files") == 1


def test_a_slave_keeps_the_lists_of_its_last_jobs_only(tmp_path: Path, live_master: MasterServer) -> None:
    slave, asked = counting_slave(tmp_path, live_master)
    jobs = [make_job(tmp_path, live_master, [1]) for _ in range(LISTINGS_KEPT + 1)]
    while slave.run_once():
        pass
    assert sorted(r.job_id for r in slave.reports) == jobs
    assert slave.listings is not None and len(slave.listings) == LISTINGS_KEPT
    assert slave.reports[0].job_id not in slave.listings  # the first job rendered is the one forgotten
    assert len([p for p in asked if p.endswith("/files")]) == LISTINGS_KEPT + 1


def test_a_job_removed_before_its_list_is_read_fails_the_chunk_with_the_reason(
        tmp_path: Path, live_master: MasterServer) -> None:
    slave, _ = counting_slave(tmp_path, live_master)
    statuses: list[str] = []
    slave.on_status = statuses.append
    job_id = make_job(tmp_path, live_master, [1, 2])
    slave.register()
    work = slave._next_work()
    assert work is not None and work.listed and work.files == ()
    live_master.farm.remove(job_id, delete_files=True, now=time.time())
    report = slave.render(work)
    assert report.done == [] and report.failed == [1, 2]
    assert any(f"cannot read the list of job {job_id}'s files" in s and "no job" in s for s in statuses), statuses


def test_a_list_that_does_not_parse_fails_the_chunk(tmp_path: Path, live_master: MasterServer) -> None:
    slave, _ = counting_slave(tmp_path, live_master)
    make_job(tmp_path, live_master, [1])
    slave.register()
    work = slave._next_work()
    assert work is not None
    bad: dict[str, Any] = {"files": [{"path": "../../etc/passwd", "sha256": "0" * 64, "size": 1}], "found": []}
    slave.conn.get = lambda path, *a, **k: bad  # type: ignore[method-assign]
    report = slave.render(work)
    assert report.failed == [1] and not any((tmp_path / "slave").rglob("passwd"))


def test_an_unlisted_assignment_is_never_checked_against_an_empty_list() -> None:
    """Blender's missing-file lines are checked against the job's files: an unread list would pass them all."""
    work = Assignment(3, (1,), "shot.blend", "CYCLES", (), listed=True)
    with pytest.raises(ValueError, match="never read"):
        sent_paths(work, Path("/tmp/job_3/files"), PathMap())


def test_the_master_answers_an_unknown_jobs_list_with_404(live_master: MasterServer) -> None:
    slave = Slave(SlaveConfig(master=live_master.url, path=Path("/nonexistent")), run_blender=FakeBlender())
    with pytest.raises(ApiError) as caught:
        slave.conn.get("/api/jobs/999/files")
    assert (caught.value.status, caught.value.code) == (404, "unknown_job")
