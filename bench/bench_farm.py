# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm against local Blender: wall-time ratios, idle gaps, and time to first frame.

For each scene (Cycles, 480x270, samples set so a frame takes about 0.75 s and
about 0.3 s at two threads on this machine) the script times:

- **local**: ``blender -b scene.blend -a -t 2``, the file loaded once;
- **side by side**: two ``blender -b -a -t 1``, each on half the frames at
  once, which is the farm's layout without the farm: what this machine allows
  (these three alternate ``--rounds`` times and their medians are compared);
- **farm, one Blender per job** (the default): a master and two slaves of one
  thread each, already running and idle, from the submit to the last frame
  stored on the master;
- **farm, one Blender per job with persistent data** (Cycles keeps its scene
  data between frames; pixel-identical, see ``tests/node/test_session.py``);
- **farm, one Blender per chunk** (``persistent`` off for the job).

Chunks are one frame, the client's default. The slaves run as threads of
this process (the rendering happens in their Blender processes, so they do
not compete for the GIL); each one's renders are timed where they happen, so
the script also prints the **idle gap**, the time between a frame's end on a
slave and the start of that slave's next frame (median and p99), and the
**time to first frame**: from the submit to the first frame stored, minus that
frame's render time. Everything talks to 127.0.0.1 only.

    .venv/bin/python bench/bench_farm.py [--frames 24] [--rounds 3] [--blender blender]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netrender.client import Client, JobOptions
from netrender.master import MasterConfig, MasterServer
from netrender.node import blender as blender_module
from netrender.node.session import BlenderSession, SessionSpec
from netrender.node.sessions import Sessions
from netrender.samples import build_scene
from netrender.slave import Slave, SlaveConfig

SCENES = {"0.75 s frames": 12, "0.3 s frames": 3}  # Cycles samples at 480x270 giving those frame times here
GOALS = {"0.75 s frames": 1.05, "0.3 s frames": 1.2}  # farm/local wall time, one Blender per job


@dataclass
class Timeline:
    """When each frame (or chunk) of one slave started and ended, on this process's clock."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, start: float, end: float) -> None:
        with self.lock:
            self.spans.append((start, end))

    def gaps(self) -> list[float]:
        spans = sorted(self.spans)
        return [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]


def timed_slave(url: str, folder: Path, name: str, blender: str, persistent: bool) -> tuple[Slave, Timeline]:
    """A slave of one thread whose every render (a frame in a session, or a chunk) lands on its timeline."""
    timeline = Timeline()

    def factory(spec: SessionSpec, log_path: Path) -> BlenderSession:
        session = BlenderSession(spec, log_path)
        render = session.render

        def timed(frame: int, should_stop: Callable[[], bool] = lambda: False) -> Any:
            start = time.monotonic()
            outcome = render(frame, should_stop)
            loading = (session.startup_seconds or 0.0) if session.frames == 1 else 0.0  # not idle: loading the file
            timeline.record(start + loading, time.monotonic())
            return outcome

        session.render = timed  # type: ignore[method-assign]
        return session

    config = SlaveConfig(master=url, path=folder / name, name=name, threads=1, blender=blender,
                         persistent=persistent)
    slave = Slave(config, sessions=Sessions(factory=factory))

    def run_blender(argv: list[str], log: Path, **kwargs: Any) -> blender_module.RunResult:
        start = time.monotonic()
        result = blender_module.run(argv, log, **kwargs)
        timeline.record(start, time.monotonic())
        return result

    slave.run_blender = run_blender
    return slave, timeline


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f} s"


def percentile(values: list[float], fraction: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else float("nan")


def local_argv(blender: str, blend: Path, out: Path, threads: int, first: int, last: int) -> list[str]:
    return [blender, "-b", str(blend), "-noaudio", "-o", str(out / "######"), "-F", "OPEN_EXR_MULTILAYER",
            "-x", "1", "-t", str(threads), "-s", str(first), "-e", str(last), "-a"]


def local_render(blender: str, blend: Path, out: Path, frames: int) -> float:
    """``blender -b -a -t 2``: the reference."""
    started = time.monotonic()
    subprocess.run(local_argv(blender, blend, out, 2, 1, frames), check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def side_by_side(blender: str, blend: Path, out: Path, frames: int) -> float:
    """Two one-thread Blenders, each rendering half the frames at once: the farm's layout with no farm."""
    started = time.monotonic()
    half = frames // 2
    procs = [subprocess.Popen(local_argv(blender, blend, out, 1, first, last), stdout=subprocess.DEVNULL)
             for first, last in ((1, half), (half + 1, frames))]
    for proc in procs:
        proc.wait()
    return time.monotonic() - started


def farm_render(blend: Path, frames: int, folder: Path, blender: str, persistent: bool,
                persistent_data: bool = False) -> dict[str, Any]:
    """Submit to an idle farm of two one-thread slaves; time the job and the slaves' renders."""
    server = MasterServer(MasterConfig(path=folder / "master", address="127.0.0.1", port=0))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    slaves = [timed_slave(server.url, folder, f"slave{i}", blender, persistent) for i in range(2)]
    runners = [threading.Thread(target=s.run, daemon=True) for s, _ in slaves]
    try:
        for runner in runners:
            runner.start()
        client = Client(server.url)
        while len(client.conn.get("/api/slaves")["slaves"]) < 2:  # both slaves registered and idle
            time.sleep(0.05)
        time.sleep(0.5)
        submitted_wall = time.time()  # the master stamps frames with time.time() too
        options = JobOptions(frames=list(range(1, frames + 1)), persistent=persistent,
                             persistent_data=persistent_data)
        job_id = client.submit(blend, options).job["id"]
        while (job := client.job(job_id))["status"] not in ("finished", "failed"):
            time.sleep(0.1)  # the end is read from the master's own clock below, not from this poll
        done = [f for f in job["frames"] if f["status"] == "done"]
        wall = max(f["finished_at"] for f in done) - submitted_wall
        earliest = min(done, key=lambda f: f["finished_at"])
        return {
            "wall": wall, "status": job["status"],
            "gaps": [g for _, t in slaves for g in t.gaps()],
            "first_frame": (earliest["finished_at"] - submitted_wall) - float(earliest["render_time"]),
            "per_slave": [len(t.spans) for _, t in slaves],
        }
    finally:
        for slave, _ in slaves:
            slave.stop()
        for runner in runners:
            runner.join(timeout=30)
        server.stop()
        serving.join(timeout=10)
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of local, side by side and farm")
    parser.add_argument("--blender", default="blender")
    parser.add_argument("--keep", type=Path, help="keep the scenes and renders in this folder")
    args = parser.parse_args()
    if not shutil.which(args.blender):
        parser.error(f"{args.blender} is not installed (scripts/install.sh installs it)")
    version = subprocess.run([args.blender, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"netrender farm vs local: {args.frames} frames, 480x270 Cycles; {version}; Python "
          f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="netrender-bench-"))
    met = True
    try:
        for label, samples in SCENES.items():
            scene = folder / label.split()[0] / "scene.blend"
            build_scene(scene, blender=args.blender, frames=args.frames, size="480x270", samples=samples)
            # This machine's speed drifts between runs (a shared VM): the three main figures are taken in
            # alternation, --rounds times, and their medians compared.
            locals_: list[float] = []
            bares: list[float] = []
            farms: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                locals_.append(local_render(args.blender, scene, scene.parent / "local", args.frames))
                bares.append(side_by_side(args.blender, scene, scene.parent / "side", args.frames))
                farms.append(farm_render(scene, args.frames, scene.parent / f"farm-job-{len(farms)}", args.blender,
                                         True))
            local, bare = statistics.median(locals_), statistics.median(bares)
            persistent = sorted(farms, key=lambda f: f["wall"])[len(farms) // 2]
            data = farm_render(scene, args.frames, scene.parent / "farm-data", args.blender, True, True)
            per_chunk = farm_render(scene, args.frames, scene.parent / "farm-chunk", args.blender, False)
            ratio = persistent["wall"] / local
            met &= ratio <= GOALS[label] and all(f["status"] == "finished" for f in farms)
            gaps = persistent["gaps"]
            print(f"\n{label} ({samples} samples): local {local:.2f} s ({local / args.frames:.2f} s a frame); medians "
                  f"of {args.rounds} rounds: local {spread(locals_)}, side by side {spread(bares)}, farm "
                  f"{spread([f['wall'] for f in farms])}")
            print(f"  two 1-thread Blenders side by side, no farm: {bare:6.2f} s  ratio {bare / local:.3f}  "
                  "(the floor for this layout on this machine)")
            print(f"  farm, one Blender per job:   {persistent['wall']:6.2f} s  ratio {ratio:.3f}  "
                  f"(goal <= {GOALS[label]}: {'met' if ratio <= GOALS[label] else 'missed'}); "
                  f"{persistent['wall'] / bare:.3f} of side by side; frames per slave {persistent['per_slave']}")
            print(f"  farm, the same with persistent data: {data['wall']:6.2f} s  ratio {data['wall'] / local:.3f}")
            print(f"  farm, one Blender per chunk: {per_chunk['wall']:6.2f} s  ratio {per_chunk['wall'] / local:.3f}")
            print(f"  idle gap, result to next frame: median {statistics.median(gaps) * 1000:.1f} ms, "
                  f"p99 {percentile(gaps, 0.99) * 1000:.1f} ms, max {max(gaps) * 1000:.1f} ms ({len(gaps)} gaps)")
            print(f"  time to first frame, minus its render: {persistent['first_frame']:.2f} s (upload, download, "
                  "Blender's start and the file's load)")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
