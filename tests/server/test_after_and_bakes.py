# SPDX-License-Identifier: GPL-3.0-or-later
"""Bake jobs and jobs that wait for another, through the API with a fake clock: who gets work, and when it fails.

Real Blender bakes are in ``tests/e2e/test_bakes.py``; here the slaves are
the test's calls, so every rule is shown in milliseconds.
"""

from __future__ import annotations

import io
import zipfile

from api_calls import BLEND, deliver, error_of, register, submit, upload, work
from conftest import EXR_BYTES, FakeClock
from flask import Flask
from flask.testing import FlaskClient

CACHES = [["Cloth", "Cloth"], ["Emitter", "particles/Particles"]]


def zipped(**files: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"blendcache_scene/{name}", data)
    return out.getvalue()


def bake_job(client: FlaskClient) -> dict:  # type: ignore[type-arg]
    return submit(client, [1, 2], kind="bake", caches=CACHES)


def test_a_bake_job_is_a_task_per_cache_whose_result_is_a_zip_of_cache_files(client: FlaskClient) -> None:
    job = bake_job(client)
    assert job["kind"] == "bake" and job["caches"] == CACHES and job["frame_count"]["total"] == 2
    slave = register(client)
    given = work(client, slave)
    assert given is not None and given["frames"] == [1]
    assert given["tasks"][0]["kind"] == "bake" and given["tasks"][0]["cache"] == ["Cloth", "Cloth"]
    assert "must be a zip" in error_of(deliver(client, job["id"], 1, slave, EXR_BYTES), 400)["message"]
    assert deliver(client, job["id"], 1, slave, zipped(**{"436C6F7468_000001_00.bphys": b"c1"})).status_code == 200
    given = work(client, slave)
    assert given is not None and given["tasks"][0]["cache"] == ["Emitter", "particles/Particles"]
    assert deliver(client, job["id"], 2, slave, zipped(**{"456D_000001_00.bphys": b"p1"})).status_code == 200
    finished = client.get(f"/api/jobs/{job['id']}").json
    assert finished["status"] == "finished" and finished["outputs"] == []  # caches, not pictures
    with zipfile.ZipFile(io.BytesIO(client.get(f"/api/jobs/{job['id']}/results.zip").data)) as zf:
        assert sorted(zf.namelist()) == ["blendcache_scene/436C6F7468_000001_00.bphys",
                                         "blendcache_scene/456D_000001_00.bphys"]
    assert error_of(client.get(f"/api/jobs/{job['id']}/frames/1/thumbnail"), 404)


def test_a_frame_result_must_still_be_an_exr(client: FlaskClient) -> None:
    job = submit(client, [1])
    slave = register(client)
    work(client, slave)
    assert "OpenEXR" in error_of(deliver(client, job["id"], 1, slave, zipped(a=b"x")), 400)["message"]


def test_bad_bake_jobs_are_refused(client: FlaskClient) -> None:
    for extra in ({"kind": "bake"}, {"kind": "bake", "caches": []}, {"kind": "bake", "caches": [["Cloth"]]},
                  {"kind": "bake", "caches": [["Cloth", "Cloth"], ["Cloth", "Cloth"]], "frames": [1, 2]},
                  {"kind": "bake", "caches": CACHES, "frames": [1]}):
        body = {"name": "x", "blend": "scene.blend", "files": [], "frames": [1], **extra}
        assert error_of(client.post("/api/jobs", json=body), 400)


def test_a_job_after_another_waits_for_it_then_gets_the_bakes_with_its_work(client: FlaskClient) -> None:
    bake = bake_job(client)
    render = submit(client, [5, 6], after=bake["id"])
    assert render["after"] == bake["id"]
    slave = register(client)
    assert work(client, slave)["job_id"] == bake["id"]  # type: ignore[index]
    assert work(client, slave)["job_id"] == bake["id"]  # type: ignore[index]
    assert work(client, slave) is None  # the render waits: its bake is not done
    deliver(client, bake["id"], 1, slave, zipped(a=b"1"))
    assert work(client, slave) is None
    deliver(client, bake["id"], 2, slave, zipped(b=b"2"))
    given = work(client, slave)
    assert given is not None and given["job_id"] == render["id"]
    assert given["bake_job"] == bake["id"] and given["bakes"] == [[1, *CACHES[0]], [2, *CACHES[1]]]


def test_a_job_after_a_failed_one_fails_with_the_reason_and_never_starts(app: Flask, client: FlaskClient,
                                                                         clock: FakeClock) -> None:
    client.patch("/api/balancing", json={"retry": False})
    bake = bake_job(client)
    render = submit(client, [5, 6], after=bake["id"])
    slave = register(client)
    work(client, slave)
    client.post(f"/api/jobs/{bake['id']}/frames/1/error", json={"slave": slave, "message": "no point cache Nope"})
    app.extensions["netrender.farm"].run_once(clock())
    assert client.get(f"/api/jobs/{render['id']}").json["status"] == "queued"  # the bake's other cache may still
    work(client, slave)
    deliver(client, bake["id"], 2, slave, zipped(b=b"2"))  # ... and does, but the bake has failed
    assert client.get(f"/api/jobs/{bake['id']}").json["status"] == "failed"
    assert client.get(f"/api/jobs/{render['id']}").json["status"] == "queued"  # until the master looks
    app.extensions["netrender.farm"].run_once(clock())
    job = client.get(f"/api/jobs/{render['id']}").json
    assert job["status"] == "failed" and [f["slave_id"] for f in job["frames"]] == [None, None]
    assert all(f"job {bake['id']}" in f["message"] and "no point cache Nope" in f["message"]
               for f in job["frames"])
    assert any("cannot start" in str(event) for event in job["history"])


def test_a_job_after_a_removed_or_cancelled_one_fails(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    first, second = submit(client, [1]), submit(client, [1])
    waits_first = submit(client, [1], after=first["id"])
    waits_second = submit(client, [1], after=second["id"])
    client.delete(f"/api/jobs/{first['id']}")
    client.post(f"/api/jobs/{second['id']}/cancel")
    app.extensions["netrender.farm"].run_once(clock())
    for job, why in ((waits_first, "was removed"), (waits_second, "cancelled")):
        answer = client.get(f"/api/jobs/{job['id']}").json
        assert answer["status"] == "failed" and why in answer["frames"][0]["message"]


def test_after_must_name_a_job_that_can_still_finish(client: FlaskClient) -> None:
    files = [{"path": "scene.blend", "sha256": upload(client, BLEND), "size": len(BLEND)}]
    body = {"name": "x", "blend": "scene.blend", "files": files, "frames": [1]}
    assert "not on this master" in error_of(client.post("/api/jobs", json={**body, "after": 99}), 400)["message"]
    cancelled = submit(client, [1])
    client.post(f"/api/jobs/{cancelled['id']}/cancel")
    refused = error_of(client.post("/api/jobs", json={**body, "after": cancelled["id"]}), 409)
    assert "could never start" in refused["message"]
    shared = {"name": "x", "blend": "/srv/show/scene.blend", "files": [], "frames": [1], "shared": True,
              "after": bake_job(client)["id"]}
    assert "not --shared" in error_of(client.post("/api/jobs", json=shared), 400)["message"]
    assert [j["id"] for j in client.get("/api/jobs").json["jobs"]] == [1, 2]  # nothing refused was created
