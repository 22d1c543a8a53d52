# SPDX-License-Identifier: GPL-3.0-or-later
"""A Mantaflow smoke domain baked to its cache directory, in one of the formats Blender 3.4 writes.

Run with Blender 3.4::

    blender -b --factory-startup --python caches_fluid.py -- ROOT FORMAT CACHE_DIR

``FORMAT`` is the domain's ``cache_data_format``: ``UNI`` (Mantaflow's own,
gzip'd ``.uni`` grids) or ``OPENVDB`` (one ``fluid_data_####.vdb`` per frame).
Those are all Blender 3.4 offers: ``RAW`` is kept only for old files (the enum
refuses it) and ``.bphys`` belonged to the pre-2.82 smoke point cache, which
Mantaflow replaced. ``CACHE_DIR`` is the domain's ``cache_directory`` as
the artist typed it, e.g. ``//cache_smoke/`` beside the shot or
``//../../caches/smoke/`` in the project's shared caches folder.

A small cube emits smoke into a 16-voxel domain for a few frames; the domain has
a principled volume shader reading the ``density`` grid, so the smoke shows.

Why the cache is the only source of the look: with the cache type "All" (bake
everything, as artists do for a render), Blender 3.4 never simulates while
rendering: it only reads the baked frames. When the cache directory is missing,
the domain has no grids and renders empty. The emitter is also made
invisible to the render, so nothing else but the smoke is there to see.
"""

from __future__ import annotations

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caches_common as common  # noqa: E402

FRAMES = 10  # bake 1–10, render 10


def smoke(path: str, data_format: str, cache_dir: str, frames: int = FRAMES) -> None:
    scene = common.new_scene(frames)
    common.add_light_and_camera(scene, eye=(0.0, -4.2, 1.4), target=(0.0, 0.0, 1.0))
    common.grid(scene, "Floor", 12.0, 1, common.material("Floor", (0.15, 0.15, 0.2)), location=(0.0, 0.0, -0.02))
    domain = common.cube(scene, "Domain", 2.0, common.volume_material("Smoke", 8.0), location=(0.0, 0.0, 1.0))
    emitter = common.cube(scene, "Emitter", 0.5, location=(0.0, 0.0, 0.3))
    emitter.hide_render = True
    flow = emitter.modifiers.new("Fluid", "FLUID")
    flow.fluid_type = "FLOW"
    flow.flow_settings.flow_type = "SMOKE"
    flow.flow_settings.flow_behavior = "INFLOW"
    flow.flow_settings.flow_source = "MESH"
    flow.flow_settings.use_initial_velocity = True
    flow.flow_settings.velocity_coord = (0.0, 0.0, 3.0)
    fluid = domain.modifiers.new("Fluid", "FLUID")
    fluid.fluid_type = "DOMAIN"
    settings = fluid.domain_settings
    settings.domain_type = "GAS"
    settings.resolution_max = 16
    settings.cache_type = "ALL"
    settings.cache_data_format = data_format
    settings.cache_frame_start = 1
    settings.cache_frame_end = frames
    common.save(path)  # the cache directory may be relative to the file: save it first
    settings.cache_directory = cache_dir
    common.select_only(domain)
    scene.frame_set(1)
    bpy.ops.fluid.bake_all()
    if not settings.has_cache_baked_data:
        raise SystemExit("the smoke did not bake")


if __name__ == "__main__":
    opts = common.parse_args("caches_fluid.py", ["format", "cache_dir"])
    path = common.shot_path(opts.root)
    smoke(path, opts.format, opts.cache_dir)
    common.finish(path, FRAMES)
