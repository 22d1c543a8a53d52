# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender render-local FILE --workers N``: several Blenders on this machine, one output folder, no master.

Each worker renders the frames nobody has claimed yet (``in_blender/claim.py``),
so every frame is rendered exactly once, and the workers share the cores
(``--threads`` each, by default the cores divided among them). Plain Blender
processes with placeholders on and overwrite off can work in the same
folder, on this machine or others that mount it, as in DistributedBlend.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from ..common.errors import InvalidConfig
from ..common.frames import parse_frames
from ..node import blender

RENDERED = re.compile(r"^netrender: rendered frame (\d+)$")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("render-local", help="render with several Blenders on this machine into one folder, each "
                                            "frame once, no master")
    p.add_argument("blend", type=Path)
    p.add_argument("--workers", type=int, default=2, help="Blender processes (default 2)")
    p.add_argument("--frames", help="e.g. 1-24 (default: the scene's range)")
    p.add_argument("--output", type=Path, help="the shared folder (default: render/ beside the file)")
    p.add_argument("--threads", type=int, default=0, help="threads per worker (default: the cores shared out)")
    p.add_argument("--blender", default="blender")


def render_local(args: argparse.Namespace) -> int:
    from ..pack import scene

    if args.workers < 1:
        raise InvalidConfig("--workers must be 1 or more")
    frames = parse_frames(args.frames) if args.frames else scene.frame_range(args.blend)
    output = args.output or args.blend.parent / "render"
    output.mkdir(parents=True, exist_ok=True)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    logs = [output / f".worker-{i}.log" for i in range(args.workers)]
    procs = []
    for log in logs:
        with open(log, "w", encoding="utf-8") as out:
            procs.append(subprocess.Popen(blender.claim_argv(args.blender, args.blend, threads, output, frames),
                                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    try:
        codes = [proc.wait() for proc in procs]
    except KeyboardInterrupt:
        for proc in procs:
            proc.terminate()
        raise
    per_worker = [[int(m.group(1)) for line in log.read_text(errors="replace").splitlines()
                   if (m := RENDERED.match(line))] for log in logs]
    for i, (code, done) in enumerate(zip(codes, per_worker, strict=True)):
        print(f"worker {i}: {len(done)} frame(s){'' if code == 0 else f', Blender exit code {code}'}"
              f" (log {logs[i]})", file=sys.stderr)
    print(f"{sum(map(len, per_worker))} of {len(frames)} frame(s) rendered into {output}", file=sys.stderr)
    return 0 if all(code == 0 for code in codes) else 1
