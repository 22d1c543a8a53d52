# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender bake``: a scene's point caches baked on the farm, one cache a slave, and put back into the file.

Which caches there are, and putting them back, is the artist's own Blender's
job (:mod:`netrender.pack.caches`); the farm bakes. With ``--then-render`` a
render job is queued at once to start when the bake has finished, with the
baked caches (its slaves put them beside their copy of the .blend).
``netrender results JOB --blend FILE`` puts a finished bake's caches into a
file later.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..client import Client, JobOptions
from ..common.errors import InvalidConfig, InvalidRequest
from ..common.frames import parse_frames
from ..pack import caches, scene
from .connect import access, master
from .options import job_options, master_option
from .progress import BarProgress

EXIT_FAILED = 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bake", help="bake the scene's point caches on the farm (cloth, soft body, particles, "
                                    "dynamic paint), then put them into the .blend")
    master_option(p)
    p.add_argument("blend", type=Path)
    p.add_argument("--blender", default="blender", help="this machine's Blender, which lists the caches and "
                                                        "puts the baked ones into the file (default: blender)")
    p.add_argument("--then-render", action="store_true",
                   help="also queue a render of the file, to start when the bake has finished, with its caches")
    job_options(p)  # --frames and --chunks: the render's, with --then-render
    p.add_argument("--no-wait", dest="wait", action="store_false",
                   help="queue the job(s) and return; put the caches in later with netrender results JOB --blend")
    p.add_argument("--output", type=Path, help="with --then-render: download the rendered frames here")


def bake(args: argparse.Namespace) -> int:
    found = caches.find(args.blend, args.blender)
    for obj, cache, why in found.unbakeable:
        print(f"warning: {obj + '/' if obj else ''}{cache} is not baked on the farm: {why}", file=sys.stderr)
    if not found.bakeable:
        raise InvalidRequest(f"{args.blend} has no point cache the farm can bake")
    client = Client(master(args), BarProgress(), access=access(args))
    shared = dict(category=args.category, priority=args.priority, tags=[t for t in args.tags.split(";") if t],
                  allow_scripts=args.allow_scripts)
    job = client.submit(args.blend, JobOptions(frames=[], caches=found.bakeable, name=args.name or
                                               f"{args.blend.stem} (bake)", **shared)).job
    print(f"bake job {job['id']} submitted: {len(found.bakeable)} cache(s): "
          f"{', '.join(f'{o}/{c}' for o, c in found.bakeable)}", file=sys.stderr)
    print(job["id"])
    render = None
    if args.then_render:
        frames = parse_frames(args.frames) if args.frames else scene.frame_range(args.blend)
        render = client.submit(args.blend, JobOptions(frames=frames, name=args.name or args.blend.stem,
                                                      chunks=args.chunks, after=job["id"], **shared)).job
        print(f"render job {render['id']} submitted: {len(frames)} frame(s), to start when job {job['id']} "
              "has baked", file=sys.stderr)
        print(render["id"])
    if not args.wait:
        return 0
    if not install(client, job["id"], args.blend, args.blender):
        return EXIT_FAILED
    if render is None:
        return 0
    final = client.wait(render["id"])
    if args.output:
        saved = client.download(render["id"], args.output)
        print(f"{len(saved)} frame(s) written to {args.output}", file=sys.stderr)
    return 0 if final["status"] == "finished" else EXIT_FAILED


def install(client: Client, job_id: int, blend: Path, blender: str) -> bool:
    """Wait for bake job ``job_id``, then put its caches into ``blend``; ``False`` if it did not finish."""
    final = client.wait(job_id)
    if final["status"] != "finished":
        failed = [t for t in final["frames"] if t["status"] == "error"]
        reason = f": cache {failed[0]['number']}: {failed[0]['message']}" if failed else ""
        print(f"bake job {job_id} {final['status']}{reason}", file=sys.stderr)
        return False
    if not Path(blend).is_file():
        raise InvalidConfig(f"{blend} is not a .blend file here: give the file the bake was made from")
    with tempfile.TemporaryDirectory(prefix="netrender-bake-") as tmp:
        baked = client.fetch_bakes(job_id, Path(tmp))
        folder = caches.install(Path(blend), baked, blender)
    print(f"{len(baked)} cache(s) baked on the farm are in {folder}; {blend} now reads them from there",
          file=sys.stderr)
    return True
