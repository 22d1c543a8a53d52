# SPDX-License-Identifier: GPL-3.0-or-later
"""What a crash leaves behind is cleaned up: half uploads on the master, a Blender whose slave died."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXR_BYTES

from netrender.common.model import FrameStatus, JobSpec, JobStatus
from netrender.farm.jobs import Farm, open_root


def test_a_restarted_master_drops_the_uploads_a_crash_cut_short(tmp_path: Path) -> None:
    root = open_root(tmp_path / "farm")
    Farm(root).close()
    half = [root / "store" / "ab" / ".part-x1", root / "job_1" / "frames" / ".incoming-abc.exr"]
    for path in half:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half an upload")
    kept = root / "job_1" / "frames" / "000001.exr"
    kept.write_bytes(b"a finished frame")
    Farm(root).close()
    assert [p.exists() for p in half] == [False, False] and kept.exists()


def test_a_done_frame_whose_file_never_reached_the_disk_is_rendered_again(tmp_path: Path) -> None:
    """A power cut can keep the database's "done" and lose the file, which is not fsynced: start-up notices."""
    root = open_root(tmp_path / "farm")
    farm = Farm(root)
    blend = b"a blend"
    farm.blobs.put(hashlib.sha256(blend).hexdigest(), [blend])
    spec = JobSpec.from_json({"blend": "a.blend", "frames": [1, 2, 3], "files": [
        {"path": "a.blend", "sha256": hashlib.sha256(blend).hexdigest(), "size": len(blend)}]})
    job = farm.submit(spec, now=1.0)
    slave = farm.register_slave("s", "", {}, [], now=1.0).id
    for number in (1, 2, 3):
        assert farm.request_work(slave, now=2.0) is not None
        farm.complete_frame(job.id, number, slave, 0.5, [EXR_BYTES], now=3.0)
    assert farm.job(job.id).status is JobStatus.FINISHED
    farm.close()
    farm.frame_path(job.id, 2).unlink()
    farm.frame_path(job.id, 3).write_bytes(b"")
    for number in (1, 2):  # previews the slave had sent
        farm.thumbnail_path(job.id, number).parent.mkdir(parents=True, exist_ok=True)
        farm.thumbnail_path(job.id, number).write_bytes(b"\x89PNG")

    farm = Farm(root)
    statuses = {f.number: f.status for f in farm.frames(job.id)}
    assert statuses == {1: FrameStatus.DONE, 2: FrameStatus.QUEUED, 3: FrameStatus.QUEUED}
    assert farm.thumbnail_path(job.id, 1).exists() and not farm.thumbnail_path(job.id, 2).exists()
    assert "lost" in farm.frame(job.id, 2).message
    assert farm.job(job.id).finished_at is None and farm.job(job.id).status is not JobStatus.FINISHED
    farm.close()


PARENT = """
import sys
from pathlib import Path
from netrender.node import blender
sleeper = [sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"]
blender.run(sleeper, Path(sys.argv[1]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are a Linux feature")
def test_blender_does_not_outlive_a_killed_slave(tmp_path: Path) -> None:
    log = tmp_path / "blender.log"
    slave = subprocess.Popen([sys.executable, "-c", PARENT, str(log)])
    deadline = time.monotonic() + 20
    while not log.is_file() or not log.read_text().strip():
        assert time.monotonic() < deadline, "the stand-in Blender never started"
        time.sleep(0.05)
    child = int(log.read_text().split()[0])
    slave.send_signal(signal.SIGKILL)
    slave.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "Blender kept running after its slave was killed"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie waiting for its reaper is dead too
        return fh.read().split()[2] != "Z"
