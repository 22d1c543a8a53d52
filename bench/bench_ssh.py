# SPDX-License-Identifier: GPL-3.0-or-later
"""SSH nodes against ordinary slaves: the same job on two nodes of one thread and on two slaves of one thread.

Two OpenSSH servers run on 127.0.0.1 (Debian's ``sshd``, with keys made for
the run, as the tests start them), so each "node" is this machine reached
over SSH: the job's files are placed there by SFTP, Blender runs through the
SSH connection and calls back on a forwarded port, and each frame comes back
by SFTP. The ordinary slaves run as threads of the master's process, as the
SSH nodes' slaves do, so both sides share the same interpreter. Each round
times, on a master started afresh with its slaves or nodes registered and
idle, from the submit to the last frame stored (the master's own clock):

- **2 slaves**: two ordinary slaves of one thread;
- **2 SSH nodes**: two SSH nodes of one thread.

The scene is the sample (Cycles, 480x270, 12 samples: about 0.75 s a frame
at one thread here). The goal: the nodes within 1.05 of the slaves.

    .venv/bin/python bench/bench_ssh.py [--frames 24] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test's SSH server helper
from sshd import missing, spec_for, start_sshd  # noqa: E402

from netrender.client import Client, JobOptions  # noqa: E402
from netrender.master import MasterConfig, MasterServer  # noqa: E402
from netrender.samples import build_scene  # noqa: E402
from netrender.slave import Slave, SlaveConfig  # noqa: E402

GOAL = 1.05


def timed_job(server: MasterServer, blend: Path, frames: int, count: int) -> float:
    """Wait for ``count`` idle slaves, submit, and return the seconds to the last frame stored."""
    client = Client(server.url)
    while len(client.slaves()) < count:
        time.sleep(0.05)
    time.sleep(0.5)
    submitted = time.time()  # the master stamps frames with time.time() too
    job_id = client.submit(blend, JobOptions(frames=list(range(1, frames + 1)))).job["id"]
    while (job := client.job(job_id))["status"] not in ("finished", "failed"):
        time.sleep(0.1)
    if job["status"] != "finished":
        raise RuntimeError(f"the job {job['status']}: {[f['message'] for f in job['frames'] if f['message']]}")
    return max(f["finished_at"] for f in job["frames"]) - submitted


def with_slaves(folder: Path, blend: Path, frames: int) -> float:
    server = MasterServer(MasterConfig(path=folder / "master", address="127.0.0.1", port=0))
    server.start()
    slaves = [Slave(SlaveConfig(master=server.url, path=folder / f"slave{i}", name=f"slave{i}", threads=1))
              for i in range(2)]
    runners = [threading.Thread(target=s.run, daemon=True) for s in slaves]
    try:
        for runner in runners:
            runner.start()
        return timed_job(server, blend, frames, 2)
    finally:
        for slave in slaves:
            slave.stop()
        for runner in runners:
            runner.join(timeout=30)
        server.close()


def with_nodes(folder: Path, blend: Path, frames: int, servers: list[Any]) -> float:
    nodes = tuple(spec_for(s, folder / f"node{i}", threads=1) for i, s in enumerate(servers))
    server = MasterServer(MasterConfig(path=folder / "master", address="127.0.0.1", port=0, ssh_nodes=nodes))
    server.start()
    try:
        return timed_job(server, blend, frames, 2)
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if reason := missing():
        parser.error(reason)
    folder = Path(tempfile.mkdtemp(prefix="netrender-bench-ssh-"))
    servers = [start_sshd(folder / f"sshd{i}") for i in range(2)]
    try:
        blend = build_scene(folder / "scene" / "scene.blend", frames=args.frames, size="480x270", samples=12)
        print(f"{args.frames} frames of the sample scene (480x270, 12 samples), one thread per slave or node; "
              f"{args.rounds} round(s)", flush=True)
        slaves, nodes = [], []
        for n in range(args.rounds):
            slaves.append(with_slaves(folder / f"slaves{n}", blend, args.frames))
            nodes.append(with_nodes(folder / f"nodes{n}", blend, args.frames, servers))
            print(f"round {n + 1}: 2 slaves {slaves[-1]:.2f} s, 2 SSH nodes {nodes[-1]:.2f} s", flush=True)
        ratio = statistics.median(nodes) / statistics.median(slaves)
        print(f"medians: 2 slaves {statistics.median(slaves):.2f} s, 2 SSH nodes {statistics.median(nodes):.2f} s")
        print(f"SSH nodes / slaves: {ratio:.3f} (goal <= {GOAL}: {'met' if ratio <= GOAL else 'missed'})")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
