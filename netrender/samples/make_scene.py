# SPDX-License-Identifier: GPL-3.0-or-later
"""Build netrender's sample scene inside Blender, so no opaque .blend is committed.

Run it with Blender, never with plain Python::

    blender -b --factory-startup --python netrender/samples/make_scene.py -- OUT.blend [options]

Options (after ``--``):

``--frames N``      animation length (default 12)
``--size WxH``      resolution (default 96x54: tiny, so CI stays fast)
``--samples N``     Cycles samples (default 4)
``--texture``       give the cube an image texture saved next to the file as
                    ``//textures/checker.png``: a dependency the farm must ship.
``--passes``        write more passes than Combined (normal, depth, diffuse colour,
                    ambient occlusion), as a compositor would want them.
``--denoise``       have Cycles denoise the render (with OpenImageDenoise).

The scene is deterministic: Cycles on the CPU with a fixed seed renders the same
pixels whatever the thread count, which is what the farm's pixel tests rely on.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import bpy


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the options that follow Blender's own ``--``."""
    args = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(prog="make_scene.py")
    parser.add_argument("output")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", default="96x54")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--texture", action="store_true")
    parser.add_argument("--passes", action="store_true")
    parser.add_argument("--denoise", action="store_true")
    return parser.parse_args(args)


def clear_scene() -> None:
    """Start from nothing so the factory cube, light and camera don't vary by version."""
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)


def make_material(texture_path: str | None) -> bpy.types.Material:
    """A principled material; with a texture its colour comes from an image file."""
    mat = bpy.data.materials.new("SampleMaterial")
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (0.8, 0.3, 0.1, 1.0)
    if texture_path:
        image = bpy.data.images.new("checker", width=64, height=64)
        image.generated_type = "COLOR_GRID"
        image.filepath_raw = texture_path
        image.file_format = "PNG"
        image.save()
        image.filepath = bpy.path.relpath(texture_path)
        image.source = "FILE"
        node = mat.node_tree.nodes.new("ShaderNodeTexImage")
        node.image = image
        mat.node_tree.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def build(opts: argparse.Namespace) -> None:
    clear_scene()
    scene = bpy.context.scene
    width, height = (int(v) for v in opts.size.lower().split("x"))
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = opts.samples
    scene.cycles.seed = 7
    scene.cycles.use_denoising = opts.denoise
    if opts.passes:
        layer = scene.view_layers[0]
        layer.use_pass_normal = layer.use_pass_z = layer.use_pass_diffuse_color = True
        layer.use_pass_ambient_occlusion = True
    scene.render.resolution_x = width
    scene.render.resolution_y = height
    scene.render.resolution_percentage = 100
    scene.frame_start = 1
    scene.frame_end = opts.frames
    scene.render.image_settings.file_format = "PNG"

    bpy.ops.mesh.primitive_cube_add(size=2.0)
    cube = bpy.context.active_object
    cube.name = "SampleCube"
    texture = None
    if opts.texture:
        folder = os.path.join(os.path.dirname(os.path.abspath(opts.output)), "textures")
        os.makedirs(folder, exist_ok=True)
        texture = os.path.join(folder, "checker.png")
    # The file must sit at its final path before relpath() can make "//textures/…".
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(opts.output))
    cube.data.materials.append(make_material(texture))
    # A turning cube: every frame differs, so a frame swapped on the farm shows.
    cube.rotation_euler = (0.0, 0.0, 0.0)
    cube.keyframe_insert("rotation_euler", frame=1)
    cube.rotation_euler = (math.radians(30), 0.0, math.radians(180))
    cube.keyframe_insert("rotation_euler", frame=max(opts.frames, 2))

    bpy.ops.mesh.primitive_plane_add(size=20.0, location=(0.0, 0.0, -1.2))
    bpy.ops.object.light_add(type="SUN", location=(4.0, -4.0, 6.0))
    bpy.context.active_object.data.energy = 4.0
    bpy.ops.object.camera_add(location=(6.0, -6.0, 4.0))
    camera = bpy.context.active_object
    direction = cube.location - camera.location
    camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.07, 0.1, 1.0)

    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(opts.output), relative_remap=True)


if __name__ == "__main__":
    build(parse_args(sys.argv))
