# SPDX-License-Identifier: GPL-3.0-or-later
"""A Mesh Cache modifier playing vertex animation from an ``.mdd`` or a ``.pc2`` file.

Run with Blender 3.4::

    blender -b --factory-startup --python caches_meshcache.py -- ROOT mdd|pc2 CACHE

``CACHE`` is where the point cache goes, relative to ``ROOT`` (e.g.
``caches/anim/sheet.mdd``). The script writes it itself with ``struct``, as
another package (LightWave, 3ds Max, Houdini…) would have: a rippling sheet,
one frame of vertex positions per scene frame. Both formats are simple:

* MDD (big-endian): ``int32 frames, int32 points``, then ``frames`` float32
  times in seconds, then ``frames × points × 3`` float32 positions.
* PC2 (little-endian): ``"POINTCACHE2\\0"``, ``int32 version (1), int32 points,
  float32 start frame, float32 sample rate, int32 samples``, then
  ``samples × points × 3`` float32 positions.

The modifier reads by frame (``time_mode`` FRAME, ``frame_start`` 0), so scene
frame N shows the file's frame N.

Why the cache is the only source of the look: the mesh in the .blend is flat;
the ripples exist only in the file. Without it the modifier reports an error
and leaves the mesh flat.
"""

from __future__ import annotations

import math
import os
import struct
import sys
from collections.abc import Iterable, Sequence

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caches_common as common  # noqa: E402

FRAMES = 8  # the file holds frames 0–7
RENDER = 5
FPS = 24

Points = Sequence[tuple[float, float, float]]


def ripple(rest: Points, frame: int) -> list[tuple[float, float, float]]:
    """The sheet at ``frame``: rings spreading from its centre."""
    out = []
    for x, y, z in rest:
        r = math.hypot(x, y)
        out.append((x, y, z + 0.35 * math.sin(4.0 * r - 0.9 * frame) * math.exp(-0.3 * r)))
    return out


def write_mdd(path: str, frames: Iterable[Points]) -> None:
    frames = list(frames)
    with open(path, "wb") as out:
        out.write(struct.pack(">2i", len(frames), len(frames[0])))
        out.write(struct.pack(f">{len(frames)}f", *(i / FPS for i in range(len(frames)))))
        for points in frames:
            out.write(struct.pack(f">{3 * len(points)}f", *(c for p in points for c in p)))


def write_pc2(path: str, frames: Iterable[Points]) -> None:
    frames = list(frames)
    with open(path, "wb") as out:
        out.write(struct.pack("<12siiffi", b"POINTCACHE2\0", 1, len(frames[0]), 0.0, 1.0, len(frames)))
        for points in frames:
            out.write(struct.pack(f"<{3 * len(points)}f", *(c for p in points for c in p)))


def shot(path: str, which: str, cache: str) -> None:
    scene = common.new_scene(FRAMES - 1)
    scene.render.fps = FPS
    common.add_light_and_camera(scene, eye=(0.0, -6.0, 3.6), target=(0.0, 0.0, -0.2))
    sheet = common.grid(scene, "Sheet", 4.0, 24, common.material("Sheet", (0.2, 0.6, 0.8)))
    sheet.data.polygons.foreach_set("use_smooth", [True] * len(sheet.data.polygons))
    rest = [tuple(v.co) for v in sheet.data.vertices]
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    {"mdd": write_mdd, "pc2": write_pc2}[which](cache, (ripple(rest, f) for f in range(FRAMES)))
    common.save(path)  # before the cache's path is made relative to it
    modifier = sheet.modifiers.new("MeshCache", "MESH_CACHE")
    modifier.cache_format = which.upper()
    modifier.filepath = bpy.path.relpath(cache)
    modifier.time_mode = "FRAME"
    modifier.play_mode = "SCENE"
    modifier.frame_start = 0.0
    common.finish(path, RENDER)


if __name__ == "__main__":
    opts = common.parse_args("caches_meshcache.py", ["format", "cache"])
    shot(common.shot_path(opts.root), opts.format, os.path.join(os.path.abspath(opts.root), opts.cache))
