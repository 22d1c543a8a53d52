# SPDX-License-Identifier: GPL-3.0-or-later
"""What the web monitor reads from the API: history, pace, thumbnails, the results zip, slave control."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
from api_calls import deliver, register, submit, work
from conftest import EXR_BYTES, FakeClock
from flask import Flask
from flask.testing import FlaskClient

from netrender.common.errors import Conflict

PNG = b"\x89PNG\r\n\x1a\n" + b"pretend image data"


def test_a_job_tells_its_history_and_pace(client: FlaskClient, clock: FakeClock) -> None:
    job = submit(client, [1, 2, 3, 4])["id"]
    a, b = register(client, "a"), register(client, "b")
    clock.advance(1)
    work(client, a)
    work(client, b)
    listed = client.get("/api/jobs").json["jobs"][0]
    assert (listed["busy"], listed["mean_render_time"], listed["eta"]) == (2, None, None)
    deliver(client, job, 1, a)  # render_time 1.5
    deliver(client, job, 2, b)
    client.post(f"/api/jobs/{job}/pause")
    client.post(f"/api/jobs/{job}/resume")
    client.patch(f"/api/jobs/{job}", json={"priority": 3})
    work(client, a)
    detail = client.get(f"/api/jobs/{job}").json
    # 2 frames left (one dispatched, one queued) at 1.5 s each, 1 slave on it
    assert (detail["busy"], detail["mean_render_time"], detail["eta"]) == (1, 1.5, 3.0)
    assert [e["event"] for e in detail["history"]] == [
        "submitted: 4 frame(s)", "started", "paused", "resumed", "changed priority to 3"]
    assert detail["history"][1]["at"] == clock()  # started when the first chunk went out
    client.post(f"/api/jobs/{job}/requeue")
    assert client.get(f"/api/jobs/{job}").json["history"][-1]["event"] == "requeued every frame"


def test_a_finished_job_records_it_once(client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    slave = register(client)
    work(client, slave)
    deliver(client, job, 1, slave)
    deliver(client, job, 1, slave)
    events = [e["event"] for e in client.get(f"/api/jobs/{job}").json["history"]]
    assert events == ["submitted: 1 frame(s)", "started", "finished"]


def test_a_slave_thumbnail_is_kept_served_and_dropped_on_reset(client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    slave, other = register(client, "renderer"), register(client, "other")
    work(client, slave)
    url = f"/api/jobs/{job}/frames/1/thumbnail"
    assert client.get(url).json["error"]["code"] == "frame_not_ready"
    assert client.put(f"{url}?slave={slave}", data=PNG).status_code == 409  # not rendered yet
    deliver(client, job, 1, slave)
    assert client.put(f"{url}?slave={slave}", data=b"GIF89a").status_code == 400
    assert client.put(f"{url}?slave={other}", data=PNG).status_code == 409  # not its frame
    assert client.put(f"{url}?slave={slave}", data=PNG).json == {"stored": True}
    answer = client.get(url)
    assert answer.status_code == 200 and answer.mimetype == "image/png" and answer.data == PNG
    client.post(f"/api/jobs/{job}/frames/1/reset")
    assert client.get(url).json["error"]["code"] == "frame_not_ready"  # no stale preview


def test_a_reset_during_a_thumbnail_upload_leaves_no_preview(app: Flask, client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    slave = register(client)
    work(client, slave)
    deliver(client, job, 1, slave)
    farm = app.extensions["netrender.farm"]

    def upload() -> Iterator[bytes]:
        yield PNG[:4]
        farm.reset(job, 5.0, [1])  # between the check before the upload and the file landing
        yield PNG[4:]

    with pytest.raises(Conflict):
        farm.store_thumbnail(job, 1, slave, upload(), 5.0)
    assert not farm.thumbnail_path(job, 1).exists()
    assert [p.name for p in farm.thumbnail_path(job, 1).parent.iterdir()] == []  # nor its temporary file


def test_all_finished_frames_download_as_one_zip(client: FlaskClient) -> None:
    job = submit(client, [1, 2, 3])["id"]
    slave = register(client)
    for frame in (1, 3):
        work(client, slave)
        deliver(client, job, frame, slave, EXR_BYTES + bytes([frame]))
    answer = client.get(f"/api/jobs/{job}/results.zip")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [f"job_{job}/000001.exr", f"job_{job}/000003.exr"]
        assert archive.read(f"job_{job}/000003.exr") == EXR_BYTES + b"\x03"
    assert "job_" in answer.headers["Content-Disposition"]
    assert client.get("/api/jobs/99/results.zip").status_code == 404


def test_a_disabled_slave_gives_its_frames_back_and_gets_no_work(client: FlaskClient) -> None:
    job = submit(client, [1, 2], chunks=2)["id"]
    slave = register(client, "node")
    work(client, slave)
    seen = client.get("/api/slaves").json["slaves"][0]
    assert (seen["state"], seen["current_job"], seen["current_frames"]) == ("rendering", job, [1, 2])
    disabled = client.put(f"/api/slaves/{slave}/disable").json
    assert (disabled["state"], disabled["disabled"], disabled["current_frames"]) == ("disabled", True, [])
    assert client.get(f"/api/jobs/{job}").json["frame_count"]["queued"] == 2
    beat = client.post(f"/api/slaves/{slave}/heartbeat", json={"job_id": job, "frames": [1, 2]})
    assert beat.json["stop"] is True
    assert work(client, slave) is None
    assert client.delete(f"/api/slaves/{slave}/disable").json["state"] == "idle"
    assert work(client, slave)["frames"] == [1, 2]  # type: ignore[index]
    assert client.put("/api/slaves/nobody/disable").json["error"]["code"] == "unknown_slave"
