# SPDX-License-Identifier: GPL-3.0-or-later
"""A Multires modifier whose sculpted displacement lives in an external ``.btx`` file.

Run with Blender 3.4::

    blender -b --factory-startup --python caches_multires.py -- ROOT BTX

``BTX`` is where the displacement goes, relative to ``ROOT`` (e.g.
``assets/rock/rock.btx``). A cube is subdivided three times by Multires and
"sculpted" into a bumpy rock: a copy of its finest level is pushed along its
normals and copied back with Reshape (what a sculptor's strokes would leave).
Then "Save External" (``multires_external_save``) writes the displacement to
the .btx file, and the .blend keeps only its path.

Why the cache is the only source of the look: an external layer's data is not
written into the .blend, so without the .btx Blender 3.4 has no displacement
and renders the smooth subdivided cube.
"""

from __future__ import annotations

import math
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caches_common as common  # noqa: E402

LEVELS = 3


def bumps(x: float, y: float, z: float) -> float:
    """How far the surface moves out along its normal: a few big, lumpy waves."""
    return 0.28 * math.sin(5.0 * x + 1.0) * math.sin(4.0 * y + 2.0) * math.sin(3.0 * z + 0.5)


def sculpt(rock: bpy.types.Object) -> None:
    """Give the finest level a strong displacement, as sculpting would, via Multires' Reshape."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    finest = bpy.data.meshes.new_from_object(rock.evaluated_get(depsgraph))
    for vertex in finest.vertices:
        vertex.co += vertex.normal * bumps(*vertex.co)
    shape = bpy.data.objects.new("Sculpt", finest)
    bpy.context.scene.collection.objects.link(shape)
    common.select_only(shape)
    shape.select_set(True)
    rock.select_set(True)
    bpy.context.view_layer.objects.active = rock
    bpy.ops.object.multires_reshape(modifier="Multires")
    bpy.data.objects.remove(shape, do_unlink=True)
    bpy.data.meshes.remove(finest)


def shot(path: str, btx: str) -> None:
    scene = common.new_scene(1)
    common.add_light_and_camera(scene, eye=(3.2, -4.0, 2.6), target=(0.0, 0.0, 0.0))
    common.grid(scene, "Floor", 12.0, 1, common.material("Floor", (0.3, 0.3, 0.35)), location=(0.0, 0.0, -1.4))
    rock = common.cube(scene, "Rock", 2.0, common.material("Rock", (0.6, 0.5, 0.4)))
    rock.data.polygons.foreach_set("use_smooth", [True] * len(rock.data.polygons))
    rock.modifiers.new("Multires", "MULTIRES")
    common.select_only(rock)
    for _ in range(LEVELS):
        bpy.ops.object.multires_subdivide(modifier="Multires", mode="CATMULL_CLARK")
    sculpt(rock)
    common.save(path)  # the .btx path is made relative to the file
    os.makedirs(os.path.dirname(btx), exist_ok=True)
    common.select_only(rock)
    bpy.ops.object.multires_external_save(filepath=btx, relative_path=True, modifier="Multires")
    common.finish(path, 1)


if __name__ == "__main__":
    opts = common.parse_args("caches_multires.py", ["btx"])
    shot(common.shot_path(opts.root), os.path.join(os.path.abspath(opts.root), opts.btx))
