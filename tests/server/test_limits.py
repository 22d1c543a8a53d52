# SPDX-License-Identifier: GPL-3.0-or-later
"""Uploads over the limit and a full disk: a clear error, nothing half-written, the master keeps serving."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_calls import register, submit, work
from conftest import EXR_BYTES, FakeClock
from flask.testing import FlaskClient

from netrender.master import MasterConfig, create_app


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("netrender.sqlite")}


def test_an_upload_over_the_limit_is_refused_and_not_kept(tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(MasterConfig(path=tmp_path / "master", clock=clock, max_upload=1000))
    client = app.test_client()
    data = b"x" * 5000
    answer = client.put(f"/api/files/{hashlib.sha256(data).hexdigest()}", data=data)
    assert answer.status_code == 413 and answer.json["error"]["code"] == "too_large"
    assert "1000 bytes" in answer.json["error"]["message"]
    assert [p.name for p in files_under(tmp_path / "master")] == ["blender_master.data"]  # only the pointer
    job = submit(client, [1])["id"]  # small files still go through
    slave = register(client)
    work(client, slave)
    big = client.put(f"/api/jobs/{job}/frames/1/result?slave={slave}", data=EXR_BYTES + b"x" * 5000)
    assert big.status_code == 413
    assert client.get(f"/api/jobs/{job}/frames/1").json["status"] == "dispatched"
    app.extensions["netrender.farm"].close()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB filesystem, so the master really runs out of space."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "tiny"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_gives_a_clear_error_and_a_consistent_state(tiny_disk: Path, clock: FakeClock) -> None:
    app = create_app(MasterConfig(path=tiny_disk, clock=clock))
    client: FlaskClient = app.test_client()
    job = submit(client, [1, 2])["id"]
    slave = register(client)
    work(client, slave)
    before = files_under(tiny_disk)
    data = os.urandom(1 << 20)  # twice the disk
    answer = client.put(f"/api/files/{hashlib.sha256(data).hexdigest()}", data=data)
    assert answer.status_code == 507 and answer.json["error"]["code"] == "storage_full"
    assert "no space left" in answer.json["error"]["message"]
    result = client.put(f"/api/jobs/{job}/frames/1/result?slave={slave}", data=EXR_BYTES + data)
    assert result.status_code == 507
    assert files_under(tiny_disk) == before  # no partial upload or frame left behind
    detail = client.get(f"/api/jobs/{job}").json  # still serving, state unchanged
    assert [f["status"] for f in detail["frames"]] == ["dispatched", "queued"]
    ok = client.put(f"/api/jobs/{job}/frames/1/result?slave={slave}", data=EXR_BYTES)
    assert ok.status_code == 200 and ok.json["status"] == "done"  # room for a small one still
    app.extensions["netrender.farm"].close()
