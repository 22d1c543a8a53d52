# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender check-frames``: which frames of a range an output folder lacks, and rendering exactly those.

Named as the scene names them (``--blend``: its output path and format), or
by ``--pattern`` (default: the farm's own ``######.exr``). An empty file
counts as missing: a placeholder whose render never finished, or one that
broke off.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from ..client import Client, JobOptions
from ..common.errors import InvalidConfig
from ..common.framefiles import NETRENDER, check, frame_name
from ..common.frames import parse_frames
from .connect import access, master
from .options import master_option
from .progress import BarProgress

EXIT_MISSING = 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check-frames", help="list the frames of a range missing or empty in an output folder; "
                                            "--resubmit renders exactly those")
    master_option(p)
    p.add_argument("folder", type=Path, nargs="?", help="the output folder (default: the --blend scene's)")
    p.add_argument("frames", nargs="?", help="e.g. 1-250 (default: the --blend scene's range)")
    p.add_argument("--blend", type=Path, help="name the frames as this file's scene does (its output path and "
                                              "format)")
    p.add_argument("--pattern", help=f"the frames' names, '#' for the number (default: {NETRENDER}, the farm's)")
    p.add_argument("--resubmit", action="store_true",
                   help="send the --blend file as a job of the missing frames, wait, and put them in the folder")


def check_frames(args: argparse.Namespace) -> int:
    from ..pack import scene

    folder, pattern, frames = args.folder, args.pattern, parse_frames(args.frames) if args.frames else None
    if args.blend is not None:
        scene_folder, scene_pattern = scene.output(args.blend)
        folder, pattern = folder or scene_folder, pattern or scene_pattern
        frames = frames or scene.frame_range(args.blend)
    if folder is None or frames is None:
        raise InvalidConfig("give the folder and the frames (like 1-250), or --blend FILE to take them from it")
    pattern = pattern or NETRENDER
    found = check(folder, pattern, frames)
    print(f"{len(frames)} frame(s) of {frame_name(pattern, frames[0])} … in {folder}: {len(found.missing)} "
          f"missing, {len(found.empty)} empty", file=sys.stderr)
    for label, numbers in (("missing", found.missing), ("empty", found.empty)):
        for frame in numbers:
            print(f"{label} {frame} {frame_name(pattern, frame)}")
    if not found.to_render or not args.resubmit:
        return EXIT_MISSING if found.to_render else 0
    if args.blend is None:
        raise InvalidConfig("--resubmit sends the scene again: give it with --blend FILE")
    client = Client(master(args), BarProgress(), access=access(args))
    job = client.submit(args.blend, JobOptions(frames=found.to_render, name=f"{args.blend.stem} (missing frames)")).job
    print(f"job {job['id']} renders frame(s) {', '.join(map(str, found.to_render))}", file=sys.stderr)
    final = client.wait(job["id"])
    with tempfile.TemporaryDirectory(prefix="netrender-frames-") as tmp:
        for path in client.download(job["id"], Path(tmp)):
            name = frame_name(pattern if pattern.endswith(".exr") else NETRENDER, int(path.stem))
            shutil.move(path, Path(folder) / name)
    if not pattern.endswith(".exr"):
        print(f"the farm renders multilayer EXR: the frames are in {folder} as {NETRENDER}", file=sys.stderr)
    return 0 if final["status"] == "finished" else EXIT_MISSING
