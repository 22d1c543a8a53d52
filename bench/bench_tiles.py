# SPDX-License-Identifier: GPL-3.0-or-later
"""One still across the farm as tiles: two slaves against one, and against local Blender on both cores.

The scene is the textured sample (Cycles with its defaults, adaptive sampling
on, so each tile is rendered with the farm's overscan margin), one frame.
The script times, in one run and alternating ``--rounds`` times:

- **local -t 2**: ``blender -b still.blend -f 1 -t 2``, start-up included;
- **farm, 2 slaves**: a master and two slaves of one thread each, already
  running and idle, from the submit (``--tiles N``) to the stitched frame
  stored on the master;
- **farm, 1 slave**: the same with one slave of one thread.

It prints the medians and two ratios with their goals: 1 slave / 2 slaves
(at least 1.8) and 2 slaves / local (at most 1.15). Every farm frame is
compared pixel by pixel with the local one (``idiff``). Master and slaves are
processes of their own and talk to 127.0.0.1 only.

    .venv/bin/python bench/bench_tiles.py [--size 1280x720] [--samples 64] [--tiles 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from netrender.cli.demo import free_port, wait_for_master
from netrender.client import Client, JobOptions
from netrender.common.connection import Connection
from netrender.samples import build_scene

GOAL_SPEEDUP, GOAL_LOCAL = 1.8, 1.15


class Farm:
    """A master process and ``slaves`` slave processes of one thread each, registered and idle."""

    def __init__(self, folder: Path, slaves: int) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True)
        self.procs = [self._start("master", "--path", str(folder / "master"), "--address", "127.0.0.1",
                                  "--port", str(self.port), "--no-broadcast", "--no-zeroconf")]
        wait_for_master(Connection(self.url))
        for n in range(slaves):
            self.procs.append(self._start("slave", "--master", self.url, "--name", f"slave-{n + 1}",
                                          "--threads", "1", "--path", str(folder / f"slave-{n + 1}")))
        client = Client(self.url)
        deadline = time.monotonic() + 120
        while len(client.slaves()) < slaves:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the slaves did not register; see {folder}")
            time.sleep(0.1)

    def _start(self, *argv: str) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{argv[0]}-{len(getattr(self, 'procs', []))}.log", "wb")  # noqa: SIM115
        return subprocess.Popen([sys.executable, "-m", "netrender", *argv], stdout=log, stderr=subprocess.STDOUT)

    def render(self, blend: Path, tiles: int, out: Path) -> float:
        """Seconds from the submit to the stitched frame on the master; the frame is saved to ``out``."""
        client = Client(self.url)
        start = time.perf_counter()
        job = client.submit(blend, JobOptions(frames=[1], tiles=tiles)).job
        while (state := client.job(job["id"]))["status"] not in ("finished", "failed", "cancelled"):
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        if state["status"] != "finished":
            raise RuntimeError(f"the tiled job ended {state['status']}; see {self.folder}")
        client.conn.download(f"/api/jobs/{job['id']}/outputs/1", out)
        print(f"  {len(self.procs) - 1} slave(s): {timeline(client.job(job['id']), state['submitted_at'], seconds)}",
              flush=True)
        return seconds

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(timeout=60)


def timeline(job: dict[str, Any], submitted: float, seconds: float) -> str:
    """Where the time went, from the master's records: each slave's tiles, and the stitch."""
    parts = []
    tasks = job["frames"]
    for slave in sorted({t["slave_id"] for t in tasks if t["task"]["kind"] == "tile"}):
        mine = [t for t in tasks if t["slave_id"] == slave and t["task"]["kind"] == "tile"]
        parts.append(f"{len(mine)} tiles rendering {sum(t['render_time'] for t in mine):.2f} s, "
                     f"first from {min(t['dispatched_at'] for t in mine) - submitted:.2f} s, "
                     f"last done at {max(t['finished_at'] for t in mine) - submitted:.2f} s")
    stitch = next(t for t in tasks if t["task"]["kind"] == "stitch")
    parts.append(f"stitch from {stitch['dispatched_at'] - submitted:.2f} to {stitch['finished_at'] - submitted:.2f} s"
                 f" of {seconds:.2f} s")
    return "; ".join(parts)


def local_render(blender: str, blend: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([blender, "-b", str(blend), "-o", str(out.parent / "######"), "-F", "OPEN_EXR_MULTILAYER",
                    "-x", "1", "-t", "2", "-f", "1"], check=True, capture_output=True, timeout=3600)
    seconds = time.perf_counter() - start
    (out.parent / "000001.exr").rename(out)
    return seconds


def identical(a: Path, b: Path) -> bool:
    return subprocess.run(["idiff", "-fail", "0", "-failpercent", "0", "-warn", "0", str(a), str(b)],
                          capture_output=True).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--tiles", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blender", default="blender")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="netrender-bench-tiles-"))
    blend = build_scene(folder / "scene" / "still.blend", blender=args.blender, frames=1, size=args.size,
                        samples=args.samples, texture=True)
    print(f"scene: textured sample, {args.size}, {args.samples} samples, adaptive sampling on; "
          f"{args.tiles} tiles; {args.rounds} round(s)", flush=True)
    times: dict[str, list[float]] = {"local -t 2": [], "farm, 2 slaves": [], "farm, 1 slave": []}
    same = True
    try:
        for round_ in range(args.rounds):
            local = folder / f"local-{round_}.exr"
            (folder / "local").mkdir(exist_ok=True)
            times["local -t 2"].append(local_render(args.blender, blend, folder / "local" / local.name))
            for name, slaves in (("farm, 2 slaves", 2), ("farm, 1 slave", 1)):
                farm = Farm(folder / f"farm-{round_}-{slaves}", slaves)
                try:
                    out = folder / f"farm-{round_}-{slaves}.exr"
                    times[name].append(farm.render(blend, args.tiles, out))
                finally:
                    farm.stop()
                same = identical(out, folder / "local" / local.name) and same
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    speedup = median["farm, 1 slave"] / median["farm, 2 slaves"]
    versus_local = median["farm, 2 slaves"] / median["local -t 2"]
    print("medians: " + ", ".join(f"{k} {v:.2f} s" for k, v in median.items()))
    print(f"every farm frame pixel-identical to local: {'yes' if same else 'NO'}")
    print(f"1 slave / 2 slaves: {speedup:.3f} "
          f"(goal >= {GOAL_SPEEDUP}: {'met' if speedup >= GOAL_SPEEDUP else 'missed'})")
    print(f"2 slaves / local -t 2: {versus_local:.3f} "
          f"(goal <= {GOAL_LOCAL}: {'met' if versus_local <= GOAL_LOCAL else 'missed'})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
