# SPDX-License-Identifier: GPL-3.0-or-later
"""An SSH node's connection cut mid-frame: the frame renders elsewhere, no Blender is left on the host.

The test kills the SSH server's process for the node's connection (what a
network cut or a rebooted router does to the node's side), then checks the
frame comes back from the ordinary slave, pixel-identical, that the node's
Blender died with the connection, and that the node logs in again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import render_locally, wait_until
from pixels import differences
from sshd import Sshd, spec_for

from netrender.client import Client, JobOptions
from netrender.master import MasterConfig, MasterServer
from netrender.pack.hashes import HashCache
from netrender.samples import build_scene

pytestmark = pytest.mark.blender


def blenders_in(folder: Path) -> list[int]:
    """Pids of Blender processes working in ``folder`` (the node's work folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0]) == b"blender" and any(str(folder).encode() in a for a in argv):
                found.append(int(entry.name))
    return found


def parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def test_a_cut_connection_sends_the_frame_elsewhere_and_leaves_no_blender(
    tmp_path: Path, sshd: Sshd, spawn_slaves: object
) -> None:
    scene = build_scene(tmp_path / "scene" / "slow.blend", frames=1, size="320x180", samples=256, texture=True)
    remote = tmp_path / "remote"
    spec = spec_for(sshd, remote, threads=1)
    master = MasterServer(MasterConfig(path=tmp_path / "master", address="127.0.0.1", port=0, ssh_nodes=(spec,)))
    master.start()
    try:
        client = Client(master.url, hashes=HashCache(None))
        wait_until(lambda: len(client.slaves()) == 1, timeout=60, what="the node to register")
        job_id = client.submit(scene, JobOptions(frames=[1])).job["id"]
        rendering = wait_until(lambda: blenders_in(remote), timeout=60, what="the node's Blender to start")
        wait_until(lambda: client.job(job_id)["frames"][0]["status"] == "dispatched", what="the frame to go out")
        spawn_slaves(master.url)  # where the frame goes next
        wait_until(lambda: len(client.slaves()) == 2, timeout=60, what="the slave to register")
        session = parent_of(rendering[0])
        assert session in sshd.sessions()  # the server's process for the node's connection
        os.kill(session, signal.SIGKILL)

        wait_until(lambda: not any(pid in blenders_in(remote) for pid in rendering), timeout=10,
                   what="the node's Blender to end with its connection")
        job = wait_until(lambda: (j := client.job(job_id))["status"] in ("finished", "failed") and j, timeout=180,
                         what="the job to end")
        assert job["status"] == "finished"
        names = {s["id"]: s["name"] for s in client.slaves()}
        assert names[job["frames"][0]["slave_id"]] != spec.name  # rendered elsewhere
        local = render_locally(scene, [1], tmp_path / "local")
        frames = client.download(job_id, tmp_path / "farm")
        assert differences(frames[0], local[1]) == []
        wait_until(lambda: client.conn.get("/api/nodes")["nodes"][0]["state"] == "online", timeout=30,
                   what="the node to log in again")
        assert not blenders_in(remote)
    finally:
        master.close()
    assert not blenders_in(remote)  # nor after the master stopped
