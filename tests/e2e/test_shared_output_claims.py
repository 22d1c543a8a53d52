# SPDX-License-Identifier: GPL-3.0-or-later
"""A shared output folder others write too: frames found there, done or claimed, are not rendered again."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import render_locally
from pixels import differences

from netrender.client import Client, JobOptions
from netrender.master import MasterServer
from netrender.pack.hashes import HashCache
from netrender.samples import build_scene
from netrender.slave import Slave, SlaveConfig

pytestmark = pytest.mark.blender
NOT_AGAIN = "not rendered again"


def test_frames_done_or_claimed_by_another_process_are_taken_not_rendered(
    tmp_path: Path, start_master: Callable[..., MasterServer]
) -> None:
    storage = tmp_path / "storage"
    blend = build_scene(storage / "proj" / "shot.blend", frames=4)
    local = render_locally(blend, [1, 2, 3, 4], tmp_path / "local")
    out = storage / "renders"
    out.mkdir()
    shutil.copy(local[2], out / "000002.exr")  # another process rendered frame 2
    (out / "000003.exr").write_bytes(b"")  # and is rendering frame 3: its placeholder

    def finish_frame_3() -> None:  # that process finishes, as Blender does: the placeholder is replaced
        time.sleep(2)
        shutil.copy(local[3], out / ".frame3.tmp")
        os.replace(out / ".frame3.tmp", out / "000003.exr")

    other = threading.Thread(target=finish_frame_3)
    other.start()
    master = start_master(storage_roots=(storage,))
    client = Client(master.url, hashes=HashCache(None))
    job_id = client.submit(blend, JobOptions(frames=[1, 2, 3, 4], shared=True, output_dir=str(out))).job["id"]
    slave = Slave(SlaveConfig(master=master.url, path=tmp_path / "node", threads=1))
    try:
        for _ in range(8):
            if client.job(job_id)["status"] == "finished":
                break
            slave.run_once()
        slave.deliver()
    finally:
        slave.sessions.close()
        other.join()
    job = client.job(job_id)
    assert job["status"] == "finished", job["frames"]
    logs = {n: client.conn.request("GET", f"/api/jobs/{job_id}/frames/{n}/log").text for n in (1, 2, 3, 4)}
    assert [n for n, text in logs.items() if NOT_AGAIN in text] == [2, 3]  # taken from the folder
    assert all("Saved:" in logs[n] for n in (1, 4))  # rendered here
    for frame, path in zip((1, 2, 3, 4), client.download(job_id, tmp_path / "farm"), strict=True):
        assert differences(path, local[frame]) == []
        assert differences(out / f"{frame:06d}.exr", local[frame]) == []  # the folder holds every frame, whole
