# SPDX-License-Identifier: GPL-3.0-or-later
"""A mesh animated by an Alembic cache (a MeshSequenceCache modifier reading a cache file datablock).

Run with the bpy 4.5 module (Debian's Blender 3.4 is built without Alembic)::

    python caches_alembic.py -- ROOT single|sequence ABC

``ABC`` is where the cache goes, relative to ``ROOT``: one file
(``single``, e.g. ``caches/abc/column.abc``) holding every frame, or the
first of a per-frame sequence (``sequence``, e.g. ``caches/abc/column_0001.abc``,
then ``_0002``…; the cache file is ``is_sequence``, and Blender swaps the
frame number in its name). First a twisting column (a Simple Deform modifier
whose angle is animated) is exported with ``wm.alembic_export``, as the
animation department would; then a fresh shot imports it, which makes the
object, its MeshSequenceCache modifier and the cache file datablock.

Why the cache is the only source of the look: the shot's own mesh is made an
untwisted column; the twist of the rendered frame comes only from the .abc.
Without it the modifier reports the file missing and the column stands straight.
"""

from __future__ import annotations

import math
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caches_common as common  # noqa: E402

FRAMES = 6  # frames 1–6 exported
RENDER = 5
RINGS, SIDES = 12, 8


def column(scene: bpy.types.Scene, name: str) -> bpy.types.Object:
    """A square column 0.8 wide and 2.4 tall, with enough rings to show a twist."""
    verts = [(0.4 * math.sqrt(2) * math.cos(math.pi / 4 + 2 * math.pi * s / SIDES) * (1 if s % 2 else 0.75),
              0.4 * math.sqrt(2) * math.sin(math.pi / 4 + 2 * math.pi * s / SIDES) * (1 if s % 2 else 0.75),
              2.4 * r / RINGS) for r in range(RINGS + 1) for s in range(SIDES)]
    faces = [(r * SIDES + s, r * SIDES + (s + 1) % SIDES, (r + 1) * SIDES + (s + 1) % SIDES, (r + 1) * SIDES + s)
             for r in range(RINGS) for s in range(SIDES)]
    faces += [tuple(reversed(range(SIDES))), tuple(range(RINGS * SIDES, (RINGS + 1) * SIDES))]
    return common.mesh_object(scene, name, verts, faces, common.material("Column", (0.8, 0.6, 0.2)))


def export(scene: bpy.types.Scene, which: str, abc: str) -> None:
    """The animation department's side: a twisting column, written to Alembic."""
    obj = column(scene, "Column")
    twist = obj.modifiers.new("Twist", "SIMPLE_DEFORM")
    twist.deform_method = "TWIST"
    twist.deform_axis = "Z"
    for frame, angle in ((1, 0.0), (FRAMES, 200.0)):
        twist.angle = math.radians(angle)
        twist.keyframe_insert("angle", frame=frame)
    common.select_only(obj)
    os.makedirs(os.path.dirname(abc), exist_ok=True)
    if which == "single":
        bpy.ops.wm.alembic_export(filepath=abc, start=1, end=FRAMES, selected=True, as_background_job=False)
        return
    first, digits = abc[: -len("0001.abc")], len("0001")
    for frame in range(1, FRAMES + 1):
        bpy.ops.wm.alembic_export(filepath=f"{first}{frame:0{digits}d}.abc", start=frame, end=frame,
                                  selected=True, as_background_job=False)


def shot(path: str, which: str, abc: str) -> None:
    """The lighting department's side: a shot that only reads the cache."""
    export(common.new_scene(FRAMES), which, abc)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = common.new_scene(FRAMES)
    common.add_light_and_camera(scene, eye=(0.0, -5.5, 2.4), target=(0.0, 0.0, 1.1))
    common.grid(scene, "Floor", 12.0, 1, common.material("Floor", (0.3, 0.3, 0.35)))
    common.save(path)  # the cache file's path is made relative to the shot
    bpy.ops.wm.alembic_import(filepath=abc, relative_path=True, is_sequence=which == "sequence",
                              set_frame_range=False, as_background_job=False)
    imported = [obj for obj in scene.objects if obj.type == "MESH" and obj.name != "Floor"]
    if len(imported) != 1 or not bpy.data.cache_files:
        raise SystemExit(f"the Alembic import made {imported} and {list(bpy.data.cache_files)}")
    obj = imported[0]
    straight = column(scene, "Straight")  # the untwisted column: what shows without the cache
    obj.data = straight.data
    bpy.data.objects.remove(straight, do_unlink=True)
    modifier = next(m for m in obj.modifiers if m.type == "MESH_SEQUENCE_CACHE")
    modifier.read_data = {"VERT"}
    common.finish(path, RENDER)


if __name__ == "__main__":
    opts = common.parse_args("caches_alembic.py", ["which", "abc"])
    shot(common.shot_path(opts.root), opts.which, os.path.join(os.path.abspath(opts.root), opts.abc))
