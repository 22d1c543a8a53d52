# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm with real Blender: frames rendered by slave processes equal a local render, pixel for pixel."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import render_locally
from pixels import differences

from netrender.cli.demo import free_port, wait_for_master
from netrender.client import Client, JobOptions, LocalFile
from netrender.common.blobs import file_sha256
from netrender.common.connection import Connection
from netrender.master import MasterServer
from netrender.node.session import BlenderSession
from netrender.node.sessions import Sessions
from netrender.pack.packer import PackError
from netrender.samples import build_scene
from netrender.slave import Slave, SlaveConfig

pytestmark = pytest.mark.blender
WAIT = 240.0


def wait_for(client: Client, job_id: int) -> dict:
    """Follow a job to its end, giving up (and failing) after WAIT seconds."""
    deadline = time.monotonic() + WAIT

    def sleep(seconds: float) -> None:
        assert time.monotonic() < deadline, f"job {job_id} did not end in {WAIT} s"
        time.sleep(seconds)

    return client.wait(job_id, poll=0.2, sleep=sleep)


def assert_same_frames(farm_frames: list[Path], reference: dict[int, Path]) -> None:
    assert sorted(int(p.stem) for p in farm_frames) == sorted(reference)
    for path in farm_frames:
        assert differences(path, reference[int(path.stem)]) == [], path.name


def test_two_slaves_render_an_animation_like_local_blender(
    tmp_path: Path, live_master: MasterServer, spawn_slaves, sample_scene: Path, sample_reference: dict[int, Path]
) -> None:
    spawn_slaves(live_master.url, count=2)
    client = Client(live_master.url)
    sent = client.submit(sample_scene, JobOptions(frames=list(range(1, 13)), chunks=1, name="e2e"))
    assert sent.uploaded_files == 1 and sent.uploaded_bytes == sample_scene.stat().st_size
    job = wait_for(client, sent.job["id"])
    assert job["status"] == "finished", [f["message"] for f in job["frames"]]
    assert len({f["slave_id"] for f in job["frames"]}) == 2, "both slaves should have rendered frames"
    assert_same_frames(client.download(job["id"], tmp_path / "frames"), sample_reference)

    again = client.submit(sample_scene, JobOptions(frames=[1], name="again"))
    assert (again.uploaded_files, again.uploaded_bytes) == (0, 0)


def test_a_texture_in_a_subfolder_travels_with_the_job(
    tmp_path: Path, live_master: MasterServer, spawn_slaves, texture_scene: Path
) -> None:
    reference = render_locally(texture_scene, [1, 2], tmp_path / "reference")
    # Without its texture the scene renders differently: so equal pixels prove the texture was there.
    bare = tmp_path / "bare" / texture_scene.name
    bare.parent.mkdir()
    shutil.copy(texture_scene, bare)
    untextured = render_locally(bare, [1], tmp_path / "untextured")
    assert differences(untextured[1], reference[1]) != []

    spawn_slaves(live_master.url)
    client = Client(live_master.url)
    sent = client.submit(texture_scene, JobOptions(frames=[1, 2], chunks=2))
    assert sorted(f.path for f in sent.files) == ["textured.blend", "textures/checker.png"]
    job = wait_for(client, sent.job["id"])
    assert job["status"] == "finished", [f["message"] for f in job["frames"]]
    assert_same_frames(client.download(job["id"], tmp_path / "frames"), reference)


def test_a_corrupt_blend_fails_with_the_log_while_other_jobs_render(
    tmp_path: Path, live_master: MasterServer, spawn_slaves, sample_scene: Path, sample_reference: dict[int, Path]
) -> None:
    corrupt = tmp_path / "corrupt.blend"
    corrupt.write_bytes(b"BLENDER-v304" + bytes(range(256)) * 20)
    client = Client(live_master.url)
    with pytest.raises(PackError, match="cannot read corrupt.blend"):
        client.submit(corrupt, JobOptions(frames=[1]))  # the client catches it first…
    # …but a master must cope with one that reaches it anyway.
    files = [LocalFile(corrupt, "corrupt.blend", file_sha256(corrupt), corrupt.stat().st_size)]
    bad = client.submit(corrupt, JobOptions(frames=[1, 2], chunks=2), files=files).job
    good = client.submit(sample_scene, JobOptions(frames=[3, 4])).job
    spawn_slaves(live_master.url)

    failed = wait_for(client, bad["id"])
    assert failed["status"] == "failed"
    for frame in failed["frames"]:
        assert frame["status"] == "error"
        assert "Failed to read blend file" in frame["message"]
        log = client.conn.request("GET", f"/api/jobs/{bad['id']}/frames/{frame['number']}/log").text
        assert "Blender 3.4" in log and "Failed to read blend file" in log
    finished = wait_for(client, good["id"])
    assert finished["status"] == "finished"
    assert_same_frames(client.download(good["id"], tmp_path / "good"), {n: sample_reference[n] for n in (3, 4)})


@pytest.mark.parametrize("persistent", [False, True], ids=["blender-per-chunk", "blender-per-job"])
def test_cancelling_a_job_stops_blender_within_two_seconds(
    tmp_path: Path, live_master: MasterServer, persistent: bool
) -> None:
    slow = build_scene(tmp_path / "slow" / "slow.blend", frames=1, size="640x360", samples=100000)
    client = Client(live_master.url)
    job_id = client.submit(slow, JobOptions(frames=[1])).job["id"]
    lines: list[str] = []
    config = SlaveConfig(master=live_master.url, path=tmp_path / "slave", threads=1, persistent=persistent)
    slave = Slave(config, sessions=Sessions(factory=lambda spec, log: BlenderSession(spec, log, on_line=lines.append)))
    original = slave.run_blender
    slave.run_blender = lambda argv, log, **kw: original(argv, log, **{**kw, "on_line": lines.append})
    worker = threading.Thread(target=slave.run_once)
    worker.start()
    deadline = time.monotonic() + 60
    while not any("Sample" in line for line in lines):  # Blender is rendering now
        assert time.monotonic() < deadline and worker.is_alive(), "Blender never started rendering"
        time.sleep(0.05)
    cancelled_at = time.monotonic()
    client.conn.post(f"/api/jobs/{job_id}/cancel")
    worker.join(timeout=10)
    stopped_after = time.monotonic() - cancelled_at
    assert not worker.is_alive()
    assert slave.reports[-1].cancelled
    assert stopped_after < 2.0, f"Blender ran on for {stopped_after:.2f} s after the cancel"


def test_ctrl_c_on_a_slave_stops_it_and_requeues_its_frames(
    tmp_path: Path, live_master: MasterServer, spawn_slaves
) -> None:
    slow = build_scene(tmp_path / "slow" / "slow.blend", frames=1, size="640x360", samples=100000)
    client = Client(live_master.url)
    job_id = client.submit(slow, JobOptions(frames=[1])).job["id"]
    (proc,) = spawn_slaves(live_master.url)
    deadline = time.monotonic() + 60
    # Wait until Blender is mid-render: its log on the slave shows samples.
    while not any("Sample" in p.read_text() for p in (tmp_path / "slave-1").glob("slave_*/job_*/logs/*.log")):
        assert time.monotonic() < deadline and proc.poll() is None, "the slave never started rendering"
        time.sleep(0.05)
    assert client.job(job_id)["frames"][0]["status"] == "dispatched"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    frame = client.job(job_id)["frames"][0]
    assert (frame["status"], frame["slave_id"], frame["message"]) == ("queued", None, "")


def test_a_restarted_master_process_lists_the_same_jobs_and_frames(
    tmp_path: Path, spawn_slaves, sample_scene: Path, sample_reference: dict[int, Path]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "netrender", "master", "--path", str(tmp_path / "farm"),
            "--address", "127.0.0.1", "--port", str(port)]
    master = subprocess.Popen(argv, stderr=subprocess.PIPE)
    try:
        wait_for_master(Connection(url))
        spawn_slaves(url)
        client = Client(url)
        job_id = client.submit(sample_scene, JobOptions(frames=[5, 6], chunks=2)).job["id"]
        assert wait_for(client, job_id)["status"] == "finished"
        before = client.jobs()
    finally:
        master.send_signal(signal.SIGINT)
        assert master.wait(timeout=20) == 0
    restarted = subprocess.Popen(argv, stderr=subprocess.PIPE)
    try:
        wait_for_master(Connection(url))
        after = Client(url).jobs()
        assert [(j["id"], j["status"], j["frame_count"]) for j in after] == \
               [(j["id"], j["status"], j["frame_count"]) for j in before]
        frames = Client(url).download(job_id, tmp_path / "after")
        assert_same_frames(frames, {n: sample_reference[n] for n in (5, 6)})
        assert len(list((tmp_path / "farm").glob("master_*"))) == 1
    finally:
        restarted.send_signal(signal.SIGINT)
        restarted.wait(timeout=20)


@pytest.mark.parametrize("mode", ["absolute", "relative"])
def test_a_texture_outside_the_blend_folder_travels_with_the_job(
    tmp_path: Path, live_master: MasterServer, texture_scene: Path, mode: str
) -> None:
    from blender_env import run_script

    shared = tmp_path / "assets" / "shared"
    shared.mkdir(parents=True)
    texture = shared / "checker.png"
    shutil.copy(texture_scene.parent / "textures" / "checker.png", texture)
    blend = tmp_path / "project" / "shot" / "outside.blend"
    blend.parent.mkdir(parents=True)
    written = run_script(tmp_path, "make_outside.py", texture, blend, mode, blend=texture_scene)["written"]
    assert written.startswith("/" if mode == "absolute" else "//../")
    reference = render_locally(blend, [1], tmp_path / "reference")

    client = Client(live_master.url)
    sent = client.submit(blend, JobOptions(frames=[1]))
    names = sorted(f.path for f in sent.files)
    if mode == "relative":  # the job's root climbs to hold both: nothing is rewritten
        assert names == ["assets/shared/checker.png", "project/shot/outside.blend"]
    else:  # an absolute path goes where BAT puts files from outside the project, and the .blend is rewritten
        assert names == ["_outside_project" + str(texture), "outside.blend"]
    texture.rename(texture.with_suffix(".gone"))  # the slave can only use the job's copy now
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", threads=1))
    assert slave.run_once()
    job = client.job(sent.job["id"])
    assert job["status"] == "finished", [f["message"] for f in job["frames"]]
    assert_same_frames(client.download(job["id"], tmp_path / "frames"), reference)
