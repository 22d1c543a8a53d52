# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless Blender 3.4 with the add-on: a master and a slave from .blend files, and a client's -a."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from blender_env import blender, blender_env, run_script, spawn
from pixels import differences, idiff

from netrender.cli.demo import free_port, wait_for_master
from netrender.client import Client, JobOptions
from netrender.common.connection import Connection
from netrender.master import MasterServer

pytestmark = pytest.mark.blender


def test_a_master_and_a_slave_run_headless_from_blend_files(
    tmp_path: Path, sample_scene: Path, sample_reference: dict[int, Path]
) -> None:
    port = free_port()
    for mode in ("MASTER", "SLAVE"):
        run_script(tmp_path, "make_blend.py", mode, port, tmp_path / mode.lower(), tmp_path / f"{mode.lower()}.blend")
    master = spawn(tmp_path, "-b", str(tmp_path / "master.blend"), "--addons", "netrender", "-a",
                   log=tmp_path / "master.log")
    slave = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_master(Connection(url), timeout=60)
        slave = spawn(tmp_path, "-b", str(tmp_path / "slave.blend"), "--addons", "netrender", "-a",
                      log=tmp_path / "slave.log")
        client = Client(url)
        job_id = client.submit(sample_scene, JobOptions(frames=[3, 4])).job["id"]
        deadline = time.monotonic() + 180
        while client.job(job_id)["status"] != "finished":
            assert time.monotonic() < deadline, (tmp_path / "slave.log").read_text()[-3000:]
            time.sleep(0.2)
        frames = client.download(job_id, tmp_path / "frames")
        for path in frames:
            assert differences(path, sample_reference[int(path.stem)]) == []
        assert len(client.conn.get("/api/slaves")["slaves"]) == 1
    finally:
        for proc in (slave, master):  # Ctrl-C, slave first, as the manual recommends
            if proc is not None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)  # Blender exits 1 after an interrupted render: that is expected
    for name in ("master", "slave"):
        log = (tmp_path / f"{name}.log").read_text()
        assert "Blender quit" in log and "Traceback" not in log, log[-3000:]
    assert (tmp_path / "master" / "blender_master.data").is_file()  # resumable on the same path


def test_a_client_scene_rendered_with_dash_a_writes_what_local_cycles_writes(
    tmp_path: Path, live_master: MasterServer, spawn_slaves, sample_scene: Path
) -> None:
    local = tmp_path / "local" / "shot.blend"
    local.parent.mkdir()
    shutil.copy(sample_scene, local)
    frames = 4
    subprocess.run([blender(), "-b", str(local), "-o", str(tmp_path / "local_out" / "####"), "-F", "PNG",
                    "-e", str(frames), "-a"], check=True, capture_output=True, timeout=300)
    farm_blend = tmp_path / "farm" / "shot.blend"
    farm_blend.parent.mkdir()
    run_script(tmp_path, "make_blend.py", "CLIENT", live_master.port, tmp_path / "client", farm_blend,
               tmp_path / "farm_out" / "####", frames, blend=sample_scene)
    spawn_slaves(live_master.url)
    proc = subprocess.run([blender(), "-b", str(farm_blend), "--addons", "netrender", "-a"],
                          env=blender_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    written = sorted(p.name for p in (tmp_path / "farm_out").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "local_out").iterdir()) == \
        [f"{n:04d}.png" for n in range(1, frames + 1)]
    for name in written:
        assert idiff(tmp_path / "farm_out" / name, tmp_path / "local_out" / name) == ""
    jobs = Client(live_master.url).jobs()
    assert len(jobs) == 1 and jobs[0]["frame_count"]["total"] == frames  # one job for the whole animation

    # One frame rendered in a new Blender: no current job holds it there, so it sends a one-frame job.
    (tmp_path / "farm_out" / "0002.png").unlink()
    proc = subprocess.run([blender(), "-b", str(farm_blend), "--addons", "netrender", "-f", "2"],
                          env=blender_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    jobs = Client(live_master.url).jobs()
    assert [j["frame_count"]["total"] for j in jobs] == [frames, 1]
    assert idiff(tmp_path / "farm_out" / "0002.png", tmp_path / "local_out" / "0002.png") == ""

