# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's HTTP API through Flask's test client: the whole cycle and every kind of bad call."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from api_calls import BLEND, deliver, error_of, register, submit, upload, work
from conftest import EXR_BYTES, FakeClock
from flask import Flask
from flask.testing import FlaskClient

from netrender.farm.jobs import Farm


def test_a_job_goes_from_submission_to_downloaded_frames(client: FlaskClient) -> None:
    job = submit(client, [1, 2, 3], chunks=2)
    assert job["status"] == "queued" and job["frame_count"]["total"] == 3
    slave = register(client)
    chunk = work(client, slave)
    assert chunk is not None and chunk["frames"] == [1, 2] and chunk["blend"] == "scene.blend"
    assert chunk["listed"] is True and chunk["files"] == [] and chunk["found"] == []  # read once per job instead
    listing = client.get(f"/api/jobs/{job['id']}/files").json
    assert listing == {"files": [{"path": "scene.blend", "sha256": listing["files"][0]["sha256"], "size": len(BLEND)}],
                       "found": []}
    assert client.get(f"/api/files/{listing['files'][0]['sha256']}").data == BLEND
    assert client.get(f"/api/jobs/{job['id']}").json["status"] == "running"
    for frame in (1, 2):
        assert deliver(client, job["id"], frame, slave).json["status"] == "done"
    assert work(client, slave)["frames"] == [3]  # type: ignore[index]
    deliver(client, job["id"], 3, slave)
    assert work(client, slave) is None
    detail = client.get(f"/api/jobs/{job['id']}").json
    assert detail["status"] == "finished" and detail["finished_at"] is not None
    assert [f["render_time"] for f in detail["frames"]] == [1.5, 1.5, 1.5]
    assert client.get(f"/api/jobs/{job['id']}/frames/2/result").data == EXR_BYTES
    assert client.get("/api/slaves").json["slaves"][0]["frames_done"] == 3


def test_the_same_result_twice_is_stored_once(client: FlaskClient, app: Flask) -> None:
    job = submit(client, [1])
    slave = register(client)
    work(client, slave)
    deliver(client, job["id"], 1, slave, EXR_BYTES + b"first")
    again = deliver(client, job["id"], 1, slave, EXR_BYTES + b"second")
    assert again.status_code == 200 and again.json["status"] == "done"
    assert client.get(f"/api/jobs/{job['id']}/frames/1/result").data == EXR_BYTES + b"first"
    farm: Farm = app.extensions["netrender.farm"]
    assert [p.name for p in farm.frame_path(job["id"], 1).parent.iterdir()] == ["000001.exr"]
    assert client.get("/api/slaves").json["slaves"][0]["frames_done"] == 1


def test_a_failed_frame_keeps_its_message_and_log(client: FlaskClient) -> None:
    job = submit(client, [7])
    slave = register(client)
    work(client, slave)
    client.put(f"/api/jobs/{job['id']}/frames/7/log", data=b"Blender said: boom\n")
    answer = client.post(f"/api/jobs/{job['id']}/frames/7/error", json={"slave": slave, "message": "boom"})
    assert answer.json["status"] == "error" and answer.json["message"] == "boom"
    assert client.get(f"/api/jobs/{job['id']}").json["status"] == "failed"
    assert client.get(f"/api/jobs/{job['id']}/frames/7/log").data == b"Blender said: boom\n"


def test_only_missing_files_are_asked_for(client: FlaskClient) -> None:
    known = upload(client, b"already here")
    unknown = hashlib.sha256(b"not yet").hexdigest()
    answer = client.post("/api/files/missing", json={"hashes": [known, unknown]})
    assert answer.json == {"missing": [unknown], "adopted": []}


def test_a_job_with_files_not_uploaded_is_refused(client: FlaskClient) -> None:
    sha = hashlib.sha256(b"never sent").hexdigest()
    answer = client.post("/api/jobs", json={"blend": "a.blend", "frames": [1],
                                            "files": [{"path": "a.blend", "sha256": sha, "size": 10}]})
    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "missing_files"
    assert answer.json["error"]["details"]["missing"] == [sha]


def test_an_upload_that_does_not_match_its_hash_is_refused(client: FlaskClient, app: Flask) -> None:
    sha = hashlib.sha256(b"the real bytes").hexdigest()
    answer = client.put(f"/api/files/{sha}", data=b"other bytes")
    assert answer.status_code == 400 and answer.json["error"]["code"] == "hash_mismatch"
    store = app.extensions["netrender.farm"].blobs
    assert not store.has(sha)
    assert not any(p.is_file() for p in store.root.rglob("*"))  # no partial file left behind


def test_cancelling_a_job_tells_its_slave_to_stop(client: FlaskClient) -> None:
    job = submit(client, [1, 2])
    slave = register(client)
    work(client, slave)
    beat = {"job_id": job["id"], "frames": [1]}
    assert client.post(f"/api/slaves/{slave}/heartbeat", json=beat).json["stop"] is False
    assert client.post(f"/api/jobs/{job['id']}/cancel").json["status"] == "cancelled"
    assert client.post(f"/api/slaves/{slave}/heartbeat", json=beat).json["stop"] is True
    assert work(client, slave) is None


def test_the_more_slaves_the_rarer_each_ones_heartbeats(client: FlaskClient) -> None:
    slaves = [register(client, f"node{i}") for i in range(250)]
    beat = {"job_id": None, "frames": []}
    assert client.post(f"/api/slaves/{slaves[0]}/heartbeat", json=beat).json == {"stop": False, "next_in": 2.5}
    client.patch("/api/balancing", json={"lost_timeout": 8})  # but never so rare that a slave looks lost
    assert client.post(f"/api/slaves/{slaves[0]}/heartbeat", json=beat).json["next_in"] == 2.0


def test_a_stopping_slave_gives_back_only_its_own_frames(client: FlaskClient) -> None:
    job = submit(client, [1, 2, 3], chunks=2)
    first, second = register(client, "a"), register(client, "b")
    work(client, first)  # frames 1, 2
    work(client, second)  # frame 3
    answer = client.post(f"/api/slaves/{first}/release", json={"job_id": job["id"], "frames": [1, 2, 3]})
    assert answer.json == {"released": [1, 2]}
    statuses = [f["status"] for f in client.get(f"/api/jobs/{job['id']}").json["frames"]]
    assert statuses == ["queued", "queued", "dispatched"]
    assert work(client, first)["frames"] == [1, 2]  # type: ignore[index]


def test_pause_holds_back_work_and_resume_releases_it(client: FlaskClient) -> None:
    job = submit(client, [1])
    slave = register(client)
    assert client.post(f"/api/jobs/{job['id']}/pause").json["status"] == "paused"
    assert work(client, slave) is None
    client.post(f"/api/jobs/{job['id']}/resume")
    assert work(client, slave)["frames"] == [1]  # type: ignore[index]


def test_removing_a_job_deletes_it_and_optionally_its_files(client: FlaskClient, app: Flask) -> None:
    job = submit(client, [1])
    folder = app.extensions["netrender.farm"].job_dir(job["id"])
    assert (folder / "files" / "scene.blend").read_bytes() == BLEND
    assert client.delete(f"/api/jobs/{job['id']}?delete_files=true").status_code == 200
    assert not folder.exists()
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.get("/api/jobs").json == {"jobs": []}


def test_a_restarted_master_resumes_its_jobs(tmp_path: Path, clock: FakeClock) -> None:
    from netrender.master import MasterConfig, create_app

    config = MasterConfig(path=tmp_path / "farm", clock=clock)
    first = create_app(config)
    client = first.test_client()
    job = submit(client, [1, 2, 3])
    slave = register(client)
    work(client, slave)
    deliver(client, job["id"], 1, slave)
    work(client, slave)  # frame 2 is dispatched when the master goes down
    first.extensions["netrender.farm"].close()

    second = create_app(config).test_client()
    detail = second.get(f"/api/jobs/{job['id']}").json
    assert [f["status"] for f in detail["frames"]] == ["done", "queued", "queued"]
    assert second.get(f"/api/jobs/{job['id']}/frames/1/result").data == EXR_BYTES
    assert len(list((tmp_path / "farm").glob("master_*"))) == 1


def test_an_unknown_slave_is_told_to_register_again(client: FlaskClient) -> None:
    answer = client.post("/api/slaves/deadbeef/work")
    assert answer.status_code == 404 and answer.json["error"]["code"] == "unknown_slave"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "/api/jobs", "{not json", 400, "invalid_request"),
        ("post", "/api/jobs", "[1, 2]", 400, "invalid_request"),
        ("post", "/api/slaves", '{"name": 5}', 400, "invalid_request"),
        ("post", "/api/slaves", '{"name": "n", "tags": "a;b"}', 400, "invalid_request"),
        ("post", "/api/files/missing", '{"hashes": ["../../etc/passwd"]}', 400, "invalid_request"),
        ("get", "/api/jobs/999", None, 404, "unknown_job"),
        ("post", "/api/jobs/999/cancel", None, 404, "unknown_job"),
        ("get", "/api/jobs/999/frames/1/result", None, 404, "unknown_job"),
        ("get", "/api/jobs/abc", None, 404, "not_found"),
        ("get", "/api/files/not-a-hash", None, 400, "invalid_request"),
        ("delete", "/api/slaves", None, 405, "method_not_allowed"),
        ("get", "/api/nothing/here", None, 404, "not_found"),
    ],
)
def test_malformed_calls_get_a_json_error(client: FlaskClient, method: str, path: str, body: str | None,
                                          status: int, code: str) -> None:
    response = getattr(client, method)(path, data=body, content_type="application/json")
    assert error_of(response, status)["code"] == code


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"frames": "1-10"}, "'frames' must be a list"),
        ({"frames": [1, "2"]}, "integers"),
        ({"priority": "high"}, "'priority' must be an integer"),
        ({"chunks": 0}, "'chunks' must be between"),
        ({"engine": "POVRAY"}, "'engine' must be one of"),
        ({"blend": "../scene.blend"}, "must not hold"),
        ({"files": [{"path": "/etc/passwd", "sha256": "0" * 64, "size": 1}]}, "must be relative"),
        ({"files": [{"path": "a/../../b.blend", "sha256": "0" * 64, "size": 1}]}, "must not hold"),
        ({"files": [{"path": "C:/x.blend", "sha256": "0" * 64, "size": 1}]}, "must be relative"),
        ({"missing": "/srv/tex.png"}, "'missing' must be a list"),
        ({"missing": ["/srv/tex.png", ""]}, "'missing' must be a list of paths"),
        ({"missing": ["a\x00b"]}, "'missing' must be a list of paths"),
        ({"shared": True, "blend": "/p/scene.blend"}, "a job rendered in place on shared storage carries no 'files'"),
        ({"shared": True, "files": [], "blend": "shots/a.blend"}, "'blend' 'shots/a.blend' must be an absolute"),
        ({"shared": True, "files": [], "blend": "/p/a.blend", "found": [3]}, "'found' must be a list of paths"),
        ({"output_dir": "frames/"}, "'output_dir' 'frames/' must be an absolute path"),
    ],
)
def test_bad_job_fields_are_named_in_the_error(client: FlaskClient, change: dict[str, Any], words: str) -> None:
    body = {"blend": "scene.blend", "frames": [1],
            "files": [{"path": "scene.blend", "sha256": "0" * 64, "size": 1}], **change}
    error = error_of(client.post("/api/jobs", json=body), 400)
    assert words in error["message"]


def test_a_result_that_is_not_an_exr_is_refused(client: FlaskClient) -> None:
    job = submit(client, [1])
    slave = register(client)
    work(client, slave)
    assert error_of(deliver(client, job["id"], 1, slave, b"<html>oops</html>"), 400)["code"] == "invalid_request"
    assert client.get(f"/api/jobs/{job['id']}/frames/1").json["status"] == "dispatched"


@pytest.mark.parametrize("render_time", ["nan", "inf", "-1", "soon"])
def test_a_result_with_a_bad_render_time_is_refused(client: FlaskClient, render_time: str) -> None:
    job = submit(client, [1])
    slave = register(client)
    work(client, slave)
    url = f"/api/jobs/{job['id']}/frames/1/result?slave={slave}&render_time={render_time}"
    assert error_of(client.put(url, data=EXR_BYTES), 400)["code"] == "invalid_request"


def test_a_result_from_an_unknown_slave_is_refused(client: FlaskClient) -> None:
    job = submit(client, [1])
    assert error_of(deliver(client, job["id"], 1, "nobody"), 404)["code"] == "unknown_slave"


def test_a_frame_not_rendered_yet_cannot_be_downloaded(client: FlaskClient) -> None:
    job = submit(client, [1])
    error = error_of(client.get(f"/api/jobs/{job['id']}/frames/1/result"), 409)
    assert error["code"] == "frame_not_ready" and error["details"] == {"status": "queued"}


class PatternStream(io.RawIOBase):
    """``size`` bytes of a repeating pattern, produced on demand and never held whole."""

    def __init__(self, size: int) -> None:
        self.size, self.pos = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: 0, 1: self.pos, 2: self.size}[whence] + offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos)
        buffer[:n] = (b"netrender" * (n // 9 + 2))[self.pos % 9 : self.pos % 9 + n]
        self.pos += n
        return n


def test_an_upload_streams_to_disk_instead_of_memory(client: FlaskClient, app: Flask) -> None:
    size = 64 << 20
    source = PatternStream(size)
    digest = hashlib.sha256()
    for block in iter(lambda: source.read(1 << 20), b""):
        digest.update(block)
    sha = digest.hexdigest()
    tracemalloc.start()
    try:
        answer = client.put(f"/api/files/{sha}", input_stream=PatternStream(size), content_length=size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert answer.status_code == 201 and answer.json["size"] == size
    assert app.extensions["netrender.farm"].blobs.path(sha).stat().st_size == size
    assert peak < 8 << 20, f"the upload used {peak >> 20} MiB of memory for a {size >> 20} MiB file"
