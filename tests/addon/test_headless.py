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


def render_locally_as_png(tmp_path: Path, scene: Path, *frames: str) -> None:
    """A copy of ``scene`` rendered by plain Blender into ``local_out/####.png``, the reference."""
    local = tmp_path / "local" / "shot.blend"
    local.parent.mkdir()
    shutil.copy(scene, local)
    subprocess.run([blender(), "-b", str(local), "-o", str(tmp_path / "local_out" / "####"), "-F", "PNG", *frames],
                   check=True, capture_output=True, timeout=300)


def test_a_client_scene_rendered_with_dash_a_writes_what_local_cycles_writes(
    tmp_path: Path, live_master: MasterServer, spawn_slaves, sample_scene: Path
) -> None:
    frames = 4
    render_locally_as_png(tmp_path, sample_scene, "-e", str(frames), "-a")
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



def test_a_tiled_still_from_a_client_scene_writes_what_local_cycles_writes(
    tmp_path: Path, live_master: MasterServer, spawn_slaves, sample_scene: Path
) -> None:
    render_locally_as_png(tmp_path, sample_scene, "-t", "1", "-f", "3")
    farm_blend = tmp_path / "farm" / "shot.blend"
    farm_blend.parent.mkdir()
    run_script(tmp_path, "make_blend.py", "CLIENT", live_master.port, tmp_path / "client", farm_blend,
               tmp_path / "farm_out" / "####", 12, 6, blend=sample_scene)
    spawn_slaves(live_master.url, 2)
    proc = subprocess.run([blender(), "-b", str(farm_blend), "--addons", "netrender", "-f", "3"],
                          env=blender_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(p.name for p in (tmp_path / "farm_out").iterdir()) == ["0003.png"]
    assert idiff(tmp_path / "farm_out" / "0003.png", tmp_path / "local_out" / "0003.png") == ""
    [job] = Client(live_master.url).jobs()
    detail = Client(live_master.url).job(job["id"])
    tiles = [t for t in detail["frames"] if t["task"]["kind"] == "tile"]
    assert job["kind"] == "tiles" and len(tiles) == 6
    # The tiles the render window showed as they came, each the size of its region.
    shown = sorted((tmp_path / "client" / "netrender_client" / f"job_{job['id']}" / "tiles").iterdir())
    assert [int(p.stem) for p in shown] == [t["number"] for t in tiles]


def test_stopping_a_client_render_cancels_the_job_it_sent(tmp_path: Path, live_master: MasterServer,
                                                          sample_scene: Path) -> None:
    farm_blend = tmp_path / "farm" / "shot.blend"
    farm_blend.parent.mkdir()
    run_script(tmp_path, "make_blend.py", "CLIENT", live_master.port, tmp_path / "client", farm_blend,
               tmp_path / "farm_out" / "####", 12, 4, blend=sample_scene)
    client = Client(live_master.url)
    proc = spawn(tmp_path, "-b", str(farm_blend), "--addons", "netrender", "-f", "1", log=tmp_path / "client.log")
    try:
        deadline = time.monotonic() + 120
        while not client.jobs():  # no slave: the job waits, and so does the render
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "client.log").read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # Esc, headless
        proc.wait(timeout=60)
    finally:
        proc.kill()
    [job] = client.jobs()
    assert job["status"] == "cancelled", (tmp_path / "client.log").read_text()[-3000:]
    assert "cancelled" in (tmp_path / "client.log").read_text()
