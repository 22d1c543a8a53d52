# SPDX-License-Identifier: GPL-3.0-or-later
"""What every cache project's scene shares: a tiny deterministic Cycles shot, saved where a studio keeps it.

The ``caches_*.py`` scripts import this sibling (it needs only bpy and the
standard library) so that each of them holds just its own cache. Every shot
renders 64×48 pixels with Cycles on the CPU, a fixed seed and few samples, so
the farm's frame can be compared pixel by pixel with a local render.
It runs both in Blender 3.4 and in the bpy 4.5 module.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import bpy
import repeatable  # beside this file, on sys.path as the scripts set it
from mathutils import Vector

SIZE = (64, 48)
SAMPLES = 8
SEED = 7


def parse_args(prog: str, extra: Sequence[str] = ()) -> argparse.Namespace:
    """The options after Blender's ``--``: the project's root folder, then the script's own ones."""
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("root", help="the project's top folder (shots/ and assets/ or caches/ go in it)")
    for name in extra:
        parser.add_argument(name)
    return parser.parse_args(argv)


def shot_path(root: str, name: str = "shot.blend") -> str:
    """``<root>/shots/sh010/<name>``, the folder made."""
    folder = os.path.join(os.path.abspath(root), "shots", "sh010")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)


def new_scene(frame_end: int) -> bpy.types.Scene:
    """An empty scene (no factory cube, light or camera) set up for tiny, repeatable Cycles renders."""
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    scene = bpy.context.scene
    repeatable.cycles(scene, SAMPLES, SEED)
    scene.render.resolution_x, scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.frame_start = 1
    scene.frame_end = frame_end
    scene.frame_set(1)
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.07, 0.1, 1.0)
    return scene


def add_light_and_camera(scene: bpy.types.Scene, eye: Sequence[float], target: Sequence[float],
                         lens: float = 35.0) -> bpy.types.Object:
    """A sun and a camera at ``eye`` looking at ``target``."""
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 4.0
    sun.rotation_euler = (0.6, 0.2, 0.8)
    scene.collection.objects.link(sun)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = lens
    camera.location = eye
    camera.rotation_euler = (Vector(target) - Vector(eye)).to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(camera)
    scene.camera = camera
    return camera


def material(name: str, color: Sequence[float]) -> bpy.types.Material:
    """A plain principled surface."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*color, 1.0)
    return mat


def volume_material(name: str, density: float, color: Sequence[float] = (0.9, 0.9, 0.9)) -> bpy.types.Material:
    """A principled volume whose density comes from the ``density`` grid, as Quick Smoke makes it."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes = mat.node_tree.nodes
    for node in list(nodes):
        nodes.remove(node)
    volume = nodes.new("ShaderNodeVolumePrincipled")
    volume.inputs["Color"].default_value = (*color, 1.0)
    volume.inputs["Density"].default_value = density
    volume.inputs["Density Attribute"].default_value = "density"
    out = nodes.new("ShaderNodeOutputMaterial")
    mat.node_tree.links.new(volume.outputs["Volume"], out.inputs["Volume"])
    return mat


def mesh_object(scene: bpy.types.Scene, name: str, verts: Sequence[Sequence[float]],
                faces: Sequence[Sequence[int]], mat: bpy.types.Material | None = None,
                location: Sequence[float] = (0.0, 0.0, 0.0)) -> bpy.types.Object:
    """An object from raw geometry (no operators: they depend on context and UI state)."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in verts], [], [tuple(f) for f in faces])
    mesh.update()
    if mat is not None:
        mesh.materials.append(mat)
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    scene.collection.objects.link(obj)
    return obj


def grid(scene: bpy.types.Scene, name: str, size: float, cuts: int, mat: bpy.types.Material | None = None,
         location: Sequence[float] = (0.0, 0.0, 0.0)) -> bpy.types.Object:
    """A square grid of ``cuts``×``cuts`` quads, ``size`` wide, in the XY plane."""
    n = cuts + 1
    verts = [(size * (i / cuts - 0.5), size * (j / cuts - 0.5), 0.0) for j in range(n) for i in range(n)]
    faces = [(j * n + i, j * n + i + 1, (j + 1) * n + i + 1, (j + 1) * n + i) for j in range(cuts) for i in range(cuts)]
    return mesh_object(scene, name, verts, faces, mat, location)


def cube(scene: bpy.types.Scene, name: str, size: float, mat: bpy.types.Material | None = None,
         location: Sequence[float] = (0.0, 0.0, 0.0)) -> bpy.types.Object:
    """An axis-aligned cube ``size`` wide."""
    h = size / 2
    verts = [(x, y, z) for z in (-h, h) for y in (-h, h) for x in (-h, h)]
    faces = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    return mesh_object(scene, name, verts, faces, mat, location)


def select_only(obj: bpy.types.Object) -> None:
    """Make ``obj`` the only selected and the active object, as operators expect."""
    for other in bpy.context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


RENDER_FRAME = "caches: render frame "  # what the builders read: the frame each project renders


def finish(path: str, frame: int) -> None:
    """Save the shot at the frame it renders, and tell the builder which one that is."""
    bpy.context.scene.frame_set(frame)
    save(path)
    print(f"{RENDER_FRAME}{frame}")


def save(path: str) -> None:
    """Save with paths made relative (``//``), as an artist's file has them (and no ``.blend1`` backup)."""
    bpy.context.preferences.filepaths.save_version = 0
    bpy.ops.wm.save_as_mainfile(filepath=path, relative_remap=True)
