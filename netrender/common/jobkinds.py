# SPDX-License-Identifier: GPL-3.0-or-later
"""The fields that say what kind of job a submission is, checked: tiles, a bake's caches, a repository.

Apart from :mod:`.model` so the job spec stays readable; how each kind
becomes tasks is :mod:`netrender.farm.jobtypes`.
"""

from __future__ import annotations

from typing import Any

from . import tiling, vcs
from . import validation as v
from .errors import InvalidRequest

KINDS = ("frames", "tiles", "speedtest", "bake")
MAX_TILES = 10_000


def kind(data: dict[str, Any], engine: str, frames: int, max_frames: int) -> tuple[str, int, tuple[int, int], bool]:
    """A job's kind and, for tiles, their number, the frame's size and the denoising; checked whole."""
    name = v.text(data, "kind", "frames")
    if name not in KINDS:
        raise InvalidRequest(f"'kind' must be one of {', '.join(KINDS)}")
    if name in ("frames", "speedtest", "bake"):
        return name, 0, (0, 0), False
    if engine != "CYCLES":
        raise InvalidRequest("tiles render with Cycles only: its pixels do not depend on the region rendered")
    tiles = v.int_in(data, "tiles", 2, MAX_TILES)
    size = v.field(data, "size", list)
    if len(size) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= tiling.MAX_SIDE
                                 for n in size):
        raise InvalidRequest(f"'size' must be the frame's width and height in pixels, 1 to {tiling.MAX_SIDE}")
    columns, rows = tiling.grid(tiles, size[0], size[1])
    if frames * (columns * rows + 1) > max_frames:
        raise InvalidRequest(f"{frames} frame(s) of {columns * rows} tiles make more than {max_frames} tasks")
    return name, tiles, (size[0], size[1]), v.field(data, "denoise", bool, False)


def versioned(data: dict[str, Any]) -> dict[str, str]:
    if not data.get("vcs"):
        return {}
    system, remote, revision = vcs.check(v.text(data, "vcs"), v.text(data, "remote", limit=vcs.MAX_REMOTE),
                                         v.text(data, "revision"))
    return {"vcs": system, "remote": remote, "revision": revision}


def caches(data: dict[str, Any], frames: list[int]) -> tuple[tuple[str, str], ...]:
    """A bake job's caches, each ``[object, cache]``, one per task numbered from 1."""
    caches = v.field(data, "caches", list)
    if not caches or not all(isinstance(c, list) and len(c) == 2 and all(isinstance(n, str) and n for n in c)
                             for c in caches):
        raise InvalidRequest("'caches' must list the point caches to bake, each as [object, cache name]")
    if len({tuple(c) for c in caches}) != len(caches):
        raise InvalidRequest("'caches' names a cache twice")
    if frames != list(range(1, len(caches) + 1)):
        raise InvalidRequest(f"a bake job's 'frames' are its task numbers: 1 to {len(caches)}")
    return tuple((c[0], c[1]) for c in caches)
