# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender demo``: a whole farm on this machine, on the sample scene.

It builds the sample scene, starts a master and slaves as separate processes
(as they would run on separate machines), submits the scene, downloads the
frames and prints a summary of who rendered what.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from ..client import Client, JobOptions
from ..common.connection import Connection
from ..common.errors import MasterUnreachable
from ..samples import build_scene
from .progress import BarProgress


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_master(conn: Connection, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.get("/api/version")
            return
        except MasterUnreachable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "netrender", *args], stdout=out, stderr=subprocess.STDOUT)


def run_demo(folder: Path, *, frames: int = 12, slaves: int = 2, blender: str = "blender") -> int:
    folder = folder.resolve()
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    print(f"building the sample scene ({frames} frames) in {folder}", file=sys.stderr)
    scene = build_scene(folder / "scene" / "sample.blend", blender=blender, frames=frames, texture=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = [spawn("master", "--path", str(folder / "master"), "--address", "127.0.0.1", "--port", str(port),
                   log=folder / "logs" / "master.log")]
    try:
        conn = Connection(url)
        wait_for_master(conn)
        for i in range(slaves):
            procs.append(spawn("slave", "--master", url, "--name", f"demo-slave-{i + 1}", "--threads", "1",
                               "--path", str(folder / f"slave{i + 1}"), "--blender", blender,
                               log=folder / "logs" / f"slave{i + 1}.log"))
        client = Client(conn, BarProgress())
        started = time.monotonic()
        sent = client.submit(scene, JobOptions(frames=list(range(1, frames + 1)), name="netrender demo"))
        job = client.wait(sent.job["id"], poll=0.25)
        saved = client.download(job["id"], folder / "frames")
        wall = time.monotonic() - started
        names = {s["id"]: s["name"] for s in conn.get("/api/slaves")["slaves"]}
        print_summary(job, wall, names, folder / "frames", len(saved))
        return 0 if job["status"] == "finished" else 1
    finally:
        stop_processes(list(reversed(procs)))


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """Ask each process to stop (SIGTERM: they shut down cleanly), kill what does not."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def print_summary(job: dict[str, Any], wall: float, names: dict[str, str], frames_dir: Path, saved: int) -> None:
    done = Counter[str]()
    seconds: defaultdict[str, float] = defaultdict(float)
    for frame in job["frames"]:
        if frame["status"] == "done":
            name = names.get(frame["slave_id"], frame["slave_id"])
            done[name] += 1
            seconds[name] += frame["render_time"] or 0.0
    print(f"job {job['id']} {job['status']}: {job['frame_count']['done']}/{job['frame_count']['total']} frames "
          f"in {wall:.1f} s wall time; {saved} frame(s) written to {frames_dir}")
    for name in sorted(done):
        print(f"  {name}: {done[name]} frame(s), {seconds[name]:.1f} s rendering")
