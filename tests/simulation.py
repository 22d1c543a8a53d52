# SPDX-License-Identifier: GPL-3.0-or-later
"""A scene with two point caches, built by script: a cloth falling on a ball and a particle system, 20 frames.

Blender 3.4's cloth and particle bakes are byte-identical with one thread and
with two (measured: every .bphys file equal), so a slave's thread count does
not matter; the tests still bake with one thread on both sides. The reference
is Blender's own: the caches baked locally (Bake All), then frames 17 and 18
rendered in that same Blender.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCENE = '''
import bpy, sys
out = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 20
scene.render.engine = "CYCLES"
scene.cycles.samples, scene.cycles.use_denoising = 4, False
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 54, 100
bpy.ops.mesh.primitive_plane_add(size=2, location=(0, 0, 2))
cloth = bpy.context.object
cloth.name = "Cloth"
bpy.ops.object.mode_set(mode="EDIT")
bpy.ops.mesh.subdivide(number_cuts=8)
bpy.ops.object.mode_set(mode="OBJECT")
cloth.modifiers.new("Cloth", "CLOTH").point_cache.frame_end = 20
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.7, location=(0, 0, 0))
ball = bpy.context.object
ball.name = "Ball"
ball.modifiers.new("Collision", "COLLISION")
bpy.ops.mesh.primitive_ico_sphere_add(radius=0.3, location=(1.5, 0, 1))
emitter = bpy.context.object
emitter.name = "Emitter"
system = emitter.modifiers.new("Particles", "PARTICLE_SYSTEM").particle_system
system.point_cache.frame_end = 20
system.settings.count, system.settings.frame_start, system.settings.frame_end = 200, 1, 10
system.settings.render_type, system.settings.instance_object, system.settings.particle_size = "OBJECT", ball, 0.05
bpy.ops.object.camera_add(location=(0, -7, 2), rotation=(1.4, 0, 0))
scene.camera = bpy.context.object
bpy.ops.object.light_add(type="SUN", location=(0, 0, 5))
bpy.ops.wm.save_as_mainfile(filepath=out)
'''

#: Blender's own: bake every cache of the scene, then render the frames in that same Blender.
LOCAL_BAKE = '''
import bpy, sys
args = sys.argv[sys.argv.index("--") + 1:]
scene = bpy.context.scene
with bpy.context.temp_override(scene=scene):
    assert bpy.ops.ptcache.bake_all(bake=True) == {"FINISHED"}
scene.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
for frame in args[1:]:
    scene.frame_set(int(frame))
    scene.render.filepath = f"{args[0]}/{int(frame):06d}.exr"
    bpy.ops.render.render(write_still=True)
'''


def build(folder: Path) -> tuple[Path, dict[int, Path]]:
    """The scene in ``folder/shots/`` and, for frames 17 and 18, its render after a local bake."""
    blend = folder / "shots" / "shot.blend"
    blend.parent.mkdir(parents=True)
    (folder / "scene.py").write_text(SCENE)
    subprocess.run(["blender", "-b", "--factory-startup", "--python", str(folder / "scene.py"), "--", str(blend)],
                   check=True, capture_output=True, timeout=300)
    local = folder / "local"
    local.mkdir()
    shutil.copy(blend, local / "shot.blend")
    (folder / "bake.py").write_text(LOCAL_BAKE)
    subprocess.run(["blender", "-b", str(local / "shot.blend"), "-t", "1", "--python-exit-code", "1", "--python",
                    str(folder / "bake.py"), "--", str(local / "out"), "17", "18"],
                   check=True, capture_output=True, timeout=300)
    return blend, {f: local / "out" / f"{f:06d}.exr" for f in (17, 18)}
