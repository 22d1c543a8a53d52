# SPDX-License-Identifier: GPL-3.0-or-later
"""A Volume object reading a sequence of OpenVDB files: ``<root>/caches/vdb/smoke_0001.vdb``…

Run with Blender 3.4::

    blender -b --factory-startup --python caches_volume.py -- ROOT

The .vdb files are real smoke: a small Mantaflow sim (``caches_fluid.py``) is
baked to OpenVDB in a scratch folder, and its per-frame ``fluid_data_####.vdb``
files are copied into the project's caches folder under the names a studio's
FX department would hand over. The shot then holds only a Volume datablock
whose file is that sequence (``is_sequence``, one file a frame), with a
principled volume shader on its ``density`` grid; it renders a frame inside the
sequence, so the sequence's numbering matters too.

Why the cache is the only source of the look: a Volume has no data but its
files; without them Blender 3.4 reports the file missing and renders nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caches_common as common  # noqa: E402
import caches_fluid  # noqa: E402

FRAMES = 6  # smoke_0001.vdb … smoke_0006.vdb
RENDER = 5  # a frame inside the sequence


def bake_vdbs(folder: str) -> None:
    """Bake the smoke to OpenVDB in a scratch project, and copy its density frames to ``folder``."""
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        caches_fluid.smoke(common.shot_path(scratch), "OPENVDB", "//fx/", FRAMES)
        data = os.path.join(scratch, "shots", "sh010", "fx", "data")
        for frame in range(1, FRAMES + 1):
            shutil.copyfile(os.path.join(data, f"fluid_data_{frame:04d}.vdb"),
                            os.path.join(folder, f"smoke_{frame:04d}.vdb"))
    bpy.ops.wm.read_factory_settings(use_empty=True)


def shot(path: str, folder: str) -> None:
    scene = common.new_scene(FRAMES)
    common.add_light_and_camera(scene, eye=(0.0, -5.0, 1.5), target=(0.0, 0.0, 0.9))
    common.grid(scene, "Floor", 12.0, 1, common.material("Floor", (0.15, 0.15, 0.2)), location=(0.0, 0.0, -0.02))
    common.save(path)  # before the volume's path is made relative to it
    volume = bpy.data.volumes.new("Smoke")
    volume.filepath = bpy.path.relpath(os.path.join(folder, "smoke_0001.vdb"))  # //../../caches/vdb/…
    volume.is_sequence = True
    volume.frame_start = 1
    volume.frame_duration = FRAMES
    volume.sequence_mode = "CLIP"
    volume.materials.append(common.volume_material("Smoke", 8.0))
    obj = bpy.data.objects.new("Smoke", volume)
    obj.location = (-1.0, -1.0, 0.0)  # Mantaflow's grids start at the domain's corner, not its centre
    scene.collection.objects.link(obj)
    common.finish(path, RENDER)


if __name__ == "__main__":
    opts = common.parse_args("caches_volume.py")
    vdb = os.path.join(os.path.abspath(opts.root), "caches", "vdb")
    bake_vdbs(vdb)
    shot(common.shot_path(opts.root), vdb)
