# SPDX-License-Identifier: GPL-3.0-or-later
"""Job kinds: how a job becomes tasks, and what the farm does with them (through the API, with a fake clock).

A job of tiles hands its tiles out one at a time to whoever asks, keeps a
frame's stitch until all its tiles are done, gives a stitch that denoises
only to a slave whose Blender can, and names which task makes each frame. A
speed test gives each slave its own tasks and measures them.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_calls import BLEND, deliver, register, submit, upload, work
from flask.testing import FlaskClient

from netrender.common import tiling
from netrender.common.framestate import frame_progress
from netrender.common.model import JobSpec
from netrender.farm.jobtypes import DENOISE, Plan


def tiles_job(client: FlaskClient, frames: list[int], tiles: int = 4, denoise: bool = False) -> dict[str, Any]:
    return submit(client, frames, chunks=5, kind="tiles", tiles=tiles, size=[96, 54], denoise=denoise)


@pytest.mark.parametrize(("tiles", "size", "grid"), [(4, (96, 54), (2, 2)), (16, (1920, 1080), (6, 3)),
                                                     (16, (1080, 1920), (4, 5)), (3, (1, 1), (1, 1)),
                                                     (64, (4096, 2048), (11, 6))])
def test_a_grid_has_near_square_tiles_covering_every_pixel_once(tiles: int, size: tuple[int, int],
                                                                 grid: tuple[int, int]) -> None:
    assert tiling.grid(tiles, *size) == grid
    columns, rows = grid
    covered = [0] * (size[0] * size[1])
    for index in range(columns * rows):
        x0, y0, x1, y1 = tiling.rect(index, columns, rows, *size)
        for y in range(y0, y1):
            for x in range(x0, x1):
                covered[y * size[0] + x] += 1
    assert set(covered) == {1}


def test_a_border_names_exactly_the_tiles_pixels_the_way_blender_rounds() -> None:
    """Blender multiplies each 32-bit border fraction by the frame's size and drops the fraction."""
    import numpy as np

    width, height = 1999, 1123
    for region in [(0, 0, 1999, 1123), (1, 2, 3, 4), (1000, 561, 1999, 1123), (667, 0, 1333, 375)]:
        xmin, xmax, ymin, ymax = (np.float32(f) for f in tiling.border(region, width, height))
        x0, y0, x1, y1 = region
        assert (int(xmin * np.float32(width)), int(xmax * np.float32(width))) == (x0, x1)
        assert (int(ymin * np.float32(height)), int(ymax * np.float32(height))) == (height - y1, height - y0)
    assert tiling.overscan((10, 10, 20, 20), 8, 25, 100) == (2, 2, 25, 28)


def test_a_plan_numbers_tiles_frame_by_frame_then_one_stitch_per_frame() -> None:
    spec = JobSpec("s", "s.blend", (5, 9), (), kind="tiles", tiles=4, size=(96, 54), denoise=True)
    plan = Plan.of(spec)
    assert plan.tiles == 4 and plan.task_numbers(spec.frames) == list(range(1, 11))
    assert [(d.kind, d.frame) for d in map(plan.detail, range(1, 11))] == \
        [("tile", 5)] * 4 + [("tile", 9)] * 4 + [("stitch", 5), ("stitch", 9)]
    assert plan.detail(10).inputs == tuple((n, plan.detail(n).rect) for n in range(5, 9))  # type: ignore[union-attr]
    assert plan.waiting([9, 10], done={1, 2, 3, 4, 5, 6, 7}) == {10}
    assert plan.needs(9) == {DENOISE} and plan.needs(1) == frozenset()
    assert plan.outputs([]) == [(5, 9), (9, 10)] and Plan.from_json(plan.to_json()) == plan
    assert Plan.of(JobSpec("f", "f.blend", (1, 2), ())).outputs([1, 2]) == [(1, 1), (2, 2)]


def test_tiles_go_one_at_a_time_and_a_stitch_waits_for_its_tiles(client: FlaskClient) -> None:
    job = tiles_job(client, [1])
    assert job["kind"] == "tiles" and job["grid"] == [2, 2] and job["frame_count"]["total"] == 5
    first, second = register(client, "a"), register(client, "b")
    handed = {}
    for slave in (first, second, first, second):
        chunk = work(client, slave)
        assert chunk is not None and len(chunk["frames"]) == 1 and chunk["tasks"][0]["kind"] == "tile"
        handed[chunk["frames"][0]] = slave
    assert sorted(handed) == [1, 2, 3, 4]
    assert work(client, first) is None  # the stitch waits for its tiles
    for number in (1, 2, 3):
        assert deliver(client, job["id"], number, handed[number]).status_code == 200
    assert work(client, first) is None
    # What the add-on's render window draws: the finished tiles where they belong, the frame not yet.
    progress = frame_progress(client.get(f"/api/jobs/{job['id']}").json, 1)
    assert progress is not None and progress.status == "queued" and progress.tile_count == 4
    assert progress.tiles == [(1, (0, 0, 48, 27)), (2, (48, 0, 96, 27)), (3, (0, 27, 48, 54))]
    assert (progress.done, progress.total) == (3, 5)
    assert frame_progress(client.get(f"/api/jobs/{job['id']}").json, 2) is None
    assert deliver(client, job["id"], 4, handed[4]).status_code == 200
    stitch = work(client, second)
    assert stitch is not None and stitch["frames"] == [5]
    assert [t[0] for t in stitch["tasks"][0]["inputs"]] == [1, 2, 3, 4]
    detail = client.get(f"/api/jobs/{job['id']}").json
    assert detail["outputs"] == [{"frame": 1, "task": 5, "status": "dispatched"}]
    assert client.get(f"/api/jobs/{job['id']}/outputs/1").status_code == 409
    assert deliver(client, job["id"], 5, second).status_code == 200
    assert client.get(f"/api/jobs/{job['id']}").json["status"] == "finished"
    assert client.get(f"/api/jobs/{job['id']}/outputs/1").status_code == 200
    assert client.get(f"/api/jobs/{job['id']}/outputs/2").status_code == 404


def test_a_frame_to_denoise_goes_only_to_a_slave_that_can(client: FlaskClient) -> None:
    job = tiles_job(client, [1], denoise=True)
    cannot = register(client, "cannot")
    for _ in range(4):
        chunk = work(client, cannot)
        assert chunk is not None
        assert deliver(client, job["id"], chunk["frames"][0], cannot).status_code == 200
    assert work(client, cannot) is None  # the stitch needs a denoiser
    can = register(client, "can", capabilities=["denoise"])
    stitch = work(client, can)
    assert stitch is not None and stitch["frames"] == [5] and stitch["tasks"][0]["denoise"] is True


def test_a_speed_test_gives_each_slave_its_own_tests(client: FlaskClient) -> None:
    one, two = register(client, "one"), register(client, "two")
    job = client.post("/api/jobs", json={"kind": "speedtest", "frames": [3], "files": [], "priority": 100}).json
    assert job["kind"] == "speedtest" and job["frame_count"]["total"] == 2  # the machine test, on each slave
    first, second = work(client, one), work(client, two)
    assert first is not None and second is not None and first["frames"] != second["frames"]
    assert first["tasks"][0]["kind"] == "machine"
    assert work(client, one) is None  # the other slave's test is not one's to take
    assert deliver(client, job["id"], first["frames"][0], one).status_code == 200
    speed = {s["id"]: s["speed"] for s in client.get("/api/slaves").json["slaves"]}
    assert speed[one]["machine_seconds"] == 1.5 and speed[two]["machine_seconds"] is None


def test_a_speed_test_needs_slaves_and_tiles_need_cycles(client: FlaskClient) -> None:
    refused = client.post("/api/jobs", json={"kind": "speedtest", "frames": [1], "files": []})
    assert refused.status_code == 409 and "no slave" in refused.json["error"]["message"]
    sha = upload(client, BLEND)
    eevee = client.post("/api/jobs", json={"kind": "tiles", "tiles": 4, "size": [96, 54], "engine": "BLENDER_EEVEE",
                                           "frames": [1], "blend": "a.blend",
                                           "files": [{"path": "a.blend", "sha256": sha, "size": len(BLEND)}]})
    assert eevee.status_code == 400 and "Cycles only" in eevee.json["error"]["message"]


def test_a_tile_that_fails_for_good_fails_its_stitch_and_the_job_ends(client: FlaskClient) -> None:
    job = tiles_job(client, [1, 2], tiles=2)  # tasks 1-2: frame 1's tiles, 3-4: frame 2's; 5, 6: the stitches
    only = register(client, "only")
    chunk = work(client, only)
    assert chunk is not None and chunk["frames"] == [1]
    failed = client.post(f"/api/jobs/{job['id']}/frames/1/error", json={"slave": only, "message": "guided"}).json
    assert failed["status"] == "error"  # no other slave to try it: failed for good
    tasks = {t["number"]: t for t in client.get(f"/api/jobs/{job['id']}").json["frames"]}
    assert tasks[5]["status"] == "error" and tasks[5]["message"] == "tile 1 failed: guided"
    assert tasks[6]["status"] == "queued"  # the other frame goes on
    for number in (2, 3, 4, 6):
        chunk = work(client, only)
        assert chunk is not None and chunk["frames"] == [number]
        assert deliver(client, job["id"], number, only).status_code == 200
    ended = client.get(f"/api/jobs/{job['id']}").json
    assert ended["status"] == "failed" and (ended["frame_count"]["done"], ended["frame_count"]["error"]) == (4, 2)
    # Resetting the stitch queues the tile it lacks too; the frame then completes.
    assert client.post(f"/api/jobs/{job['id']}/frames/5/reset").status_code == 200
    tasks = {t["number"]: t["status"] for t in client.get(f"/api/jobs/{job['id']}").json["frames"]}
    assert tasks == {1: "queued", 2: "done", 3: "done", 4: "done", 5: "queued", 6: "done"}
    for number in (1, 5):
        chunk = work(client, only)
        assert chunk is not None and chunk["frames"] == [number]
        assert deliver(client, job["id"], number, only).status_code == 200
    assert client.get(f"/api/jobs/{job['id']}").json["status"] == "finished"
    # Resetting a tile queues its stitch again, so the frame shows the new tile.
    assert client.post(f"/api/jobs/{job['id']}/frames/3/reset").status_code == 200
    tasks = {t["number"]: t["status"] for t in client.get(f"/api/jobs/{job['id']}").json["frames"]}
    assert (tasks[3], tasks[4], tasks[6]) == ("queued", "done", "queued")
