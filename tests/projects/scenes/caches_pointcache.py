# SPDX-License-Identifier: GPL-3.0-or-later
"""Point caches baked to disk: ``shots/sh010/blendcache_shot/*.bphys`` beside the shot.

Run with Blender 3.4::

    blender -b --factory-startup --python caches_pointcache.py -- ROOT particles|cloth

``particles``: a plane emits 30 particles at frame 1 that fly up; each is drawn
as a small instanced sphere, so Cycles shows them. ``cloth``: a cloth sheet
falls onto a sphere and drapes over it. Both are baked with "disk cache" on,
which writes one ``.bphys`` file per frame into ``blendcache_<blend name>/``.

Why the cache is the only source of the look: a *baked* point cache is never
re-simulated. When its files are missing, Blender 3.4 finds nothing to read and,
because the cache is marked baked, shows no particles at all
(``psys_reset(PSYS_RESET_CACHE_MISS)``) or the cloth's undeformed mesh
(``BKE_ptcache_invalidate``). To make that doubly sure, the settings are changed
after the bake (no upward speed, no gravity), which keeps a baked cache (a
depsgraph reset spares it) but means that any re-simulation would differ too.
"""

from __future__ import annotations

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import caches_common as common  # noqa: E402

PARTICLE_FRAMES = 5  # bake 1–5, render 5
CLOTH_FRAMES = 16  # bake 1–16, render 16: the sheet has draped by then


def bake(scene: bpy.types.Scene, cache: bpy.types.PointCache, frames: int) -> None:
    """Bake to disk: the file must be saved first, so Blender knows where ``blendcache_shot/`` goes."""
    cache.use_disk_cache = True
    cache.frame_start = 1
    cache.frame_end = frames
    scene.frame_set(1)
    bpy.ops.ptcache.bake_all(bake=True)
    if not cache.is_baked:
        raise SystemExit("the point cache did not bake")


def particles(path: str) -> None:
    scene = common.new_scene(PARTICLE_FRAMES)
    common.add_light_and_camera(scene, eye=(3.5, -3.5, 2.5), target=(0.0, 0.0, 0.8))
    emitter = common.grid(scene, "Emitter", 2.0, 1, common.material("Ground", (0.3, 0.35, 0.3)))
    dot = common.cube(scene, "Dot", 1.0, common.material("Dot", (0.9, 0.5, 0.1)), location=(0.0, 0.0, -20.0))
    dot.modifiers.new("Round", "SUBSURF").levels = 2
    dot.hide_render = True  # only its instances show
    system = emitter.modifiers.new("Particles", "PARTICLE_SYSTEM").particle_system
    system.seed = 3
    settings = system.settings
    settings.count = 30
    settings.frame_start = settings.frame_end = 1
    settings.lifetime = 100
    settings.emit_from = "FACE"
    settings.normal_factor = 6.0
    settings.factor_random = 1.5
    settings.render_type = "OBJECT"
    settings.instance_object = dot
    settings.particle_size = 0.12
    common.save(path)
    bake(scene, system.point_cache, PARTICLE_FRAMES)
    # A re-simulation would now leave the particles lying on the plane; the baked cache keeps them flying.
    settings.normal_factor = 0.0
    settings.factor_random = 0.0
    settings.effector_weights.gravity = 0.0
    common.finish(path, PARTICLE_FRAMES)


def cloth(path: str) -> None:
    scene = common.new_scene(CLOTH_FRAMES)
    common.add_light_and_camera(scene, eye=(0.0, -6.0, 3.5), target=(0.0, 0.0, 0.3))
    common.grid(scene, "Floor", 12.0, 1, common.material("Floor", (0.3, 0.3, 0.35)), location=(0.0, 0.0, -1.0))
    ball = common.cube(scene, "Ball", 1.4, common.material("Ball", (0.2, 0.4, 0.8)))
    ball.modifiers.new("Round", "SUBSURF").levels = 2
    common.select_only(ball)
    bpy.ops.object.modifier_apply(modifier="Round")  # collisions see the final, round mesh
    ball.modifiers.new("Collision", "COLLISION")
    sheet = common.grid(scene, "Sheet", 2.6, 16, common.material("Cloth", (0.8, 0.2, 0.2)), location=(0.0, 0.0, 0.75))
    sheet.rotation_euler = (0.0, 0.0, 0.4)
    modifier = sheet.modifiers.new("Cloth", "CLOTH")
    modifier.settings.quality = 4
    modifier.collision_settings.use_self_collision = False
    common.save(path)
    bake(scene, modifier.point_cache, CLOTH_FRAMES)
    # Without gravity a re-simulated sheet would float flat; the baked one has fallen onto the ball.
    modifier.settings.effector_weights.gravity = 0.0
    common.finish(path, CLOTH_FRAMES)


if __name__ == "__main__":
    opts = common.parse_args("caches_pointcache.py", ["which"])
    {"particles": particles, "cloth": cloth}[opts.which](common.shot_path(opts.root))
