# SPDX-License-Identifier: GPL-3.0-or-later
"""What a job asks of the farm, and the request that creates it.

The CLI and the add-on fill one :class:`JobOptions`; :func:`job_request` turns
it into the body of ``POST /api/jobs``, reading from the .blend what the
options leave out (a tiled frame's size, whether it denoises). It is pure
apart from that reading, so tests assert the request exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import scene


@dataclass
class JobOptions:
    frames: Sequence[int]
    name: str = ""
    category: str = ""
    tags: Sequence[str] = ()
    priority: int = 1
    chunks: int = 1
    engine: str = "CYCLES"
    allow_scripts: bool = False
    persistent: bool = True  # slaves keep one Blender open for the job
    persistent_data: bool = False  # Cycles keeps scene data between frames
    strict: bool = False  # refuse to send a job whose .blend names files that are not there
    shared: bool = False  # render the files in place on storage the farm shares: nothing is uploaded
    output_dir: str = ""  # a folder on shared storage where the slaves also write the frames
    tiles: int = 0  # cut each frame into about this many tiles, rendered by whoever is free (0: whole frames)
    speedtest: int = 0  # a speed test of every slave instead: the .blend rendered at this percent of its size
    denoise: bool | None = None  # tiles: denoise each stitched frame whole (None: as the scene's Denoise box)
    caches: Sequence[tuple[str, str]] = ()  # a bake instead: these point caches, one task each (frames ignored)
    after: int = 0  # wait for this job to finish first (a render after its bake renders with its caches)


def _kind_fields(blend: Path, options: JobOptions) -> dict[str, Any]:
    """A tiled job's fields: its tiles, its frame's pixels and its denoising, read from the .blend unless given."""
    if options.speedtest:
        return {"kind": "speedtest", "scale": options.speedtest}
    if options.caches:
        return {"kind": "bake", "caches": [list(c) for c in options.caches],
                "frames": list(range(1, len(options.caches) + 1))}
    if not options.tiles:
        return {}
    denoise = scene.denoises(blend) if options.denoise is None else options.denoise
    return {"kind": "tiles", "tiles": options.tiles, "size": list(scene.render_size(blend)),
            "denoise": denoise and options.engine == "CYCLES"}


def job_request(blend: Path, options: JobOptions, files: dict[str, Any]) -> dict[str, Any]:
    """The body of ``POST /api/jobs``; ``files`` are the job's files (or its shared or versioned source)."""
    return {
        "name": options.name or blend.stem,
        **files,
        "frames": list(options.frames),
        **_kind_fields(blend, options),
        "after": options.after,
        "category": options.category,
        "tags": list(options.tags),
        "priority": options.priority,
        "chunks": options.chunks,
        "engine": options.engine,
        "allow_scripts": options.allow_scripts,
        "persistent": options.persistent,
        "persistent_data": options.persistent_data,
        "output_dir": options.output_dir,
    }
