# SPDX-License-Identifier: GPL-3.0-or-later
"""What the file-dependency projects share: a tiny deterministic scene, generated media, links, checks.

Imported by the ``files_*.py`` scripts, which run inside Debian's Blender 3.4 (bpy and the standard
library only)::

    blender -b --factory-startup --python files_images.py -- KIND ROOT

Every picture is flat emission seen by an orthographic camera from above (no lights, so no noise
worth the name): a texture that goes missing turns what it covers magenta, a library that goes
missing leaves its part of the frame empty, and the same script always gives the same pixels.

Paths are written the way the kind asks, never left to Blender's save-time remapping: every file
is first saved empty at its final place (so ``//`` means what it will mean), paths are set
explicitly, and files are saved with ``relative_remap`` off. ``expect`` then reopens the saved file
and checks the strings really written, so a project can't silently become a different kind.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import struct
import sys
import wave
from collections.abc import Callable, Sequence

import bpy
import repeatable  # beside this file, on sys.path as the scripts set it

WIDTH, HEIGHT = 64, 48
SAMPLES = 4
SEED = 7
#: The camera sees x in [-2, 2] and y in [-1.5, 1.5]; these rectangles (x0, y0, x1, y1) tile it.
FULL = (-1.8, -1.3, 1.8, 1.3)
LEFT = (-1.8, -1.3, -0.05, 1.3)
RIGHT = (0.05, -1.3, 1.8, 1.3)

Colour = tuple[float, float, float]
Rect = tuple[float, float, float, float]

RED: Colour = (0.9, 0.1, 0.05)
GREEN: Colour = (0.1, 0.8, 0.2)
BLUE: Colour = (0.1, 0.2, 0.9)
YELLOW: Colour = (0.9, 0.8, 0.1)
CYAN: Colour = (0.1, 0.8, 0.8)
WHITE: Colour = (0.9, 0.9, 0.9)
DARK: Colour = (0.05, 0.05, 0.05)


def run(builders: dict[str, Callable[[str], None]]) -> None:
    """Build the kind named after ``--`` in the folder named after it: ``-- KIND ROOT``."""
    kind, root = sys.argv[sys.argv.index("--") + 1 :]
    builders[kind](os.path.abspath(root))
    print(f"built {kind} in {root}")


def new_file(path: str, frames: int = 1, camera: bool = True) -> bpy.types.Scene:
    """Start an empty file and save it at ``path`` at once, so ``//`` paths resolve from there."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0  # no shot.blend1 beside shot.blend
    scene = bpy.context.scene
    repeatable.cycles(scene, SAMPLES, SEED)
    scene.cycles.max_bounces = 0  # emission seen directly is all there is
    scene.render.resolution_x = WIDTH
    scene.render.resolution_y = HEIGHT
    scene.render.resolution_percentage = 100
    scene.render.fps = 24
    scene.frame_start = 1
    scene.frame_end = frames
    scene.frame_current = 1
    world = bpy.data.worlds.new("World")
    world.color = DARK
    scene.world = world
    if camera:
        data = bpy.data.cameras.new("Camera")
        data.type = "ORTHO"
        data.ortho_scale = 4.0
        cam = bpy.data.objects.new("Camera", data)
        cam.location = (0.0, 0.0, 5.0)  # looking straight down -Z at the XY plane
        scene.collection.objects.link(cam)
        scene.camera = cam
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save(path)
    return scene


def save(path: str, compress: bool = False) -> None:
    """Save as-is: ``relative_remap`` would make every path relative in a never-saved file."""
    bpy.ops.wm.save_as_mainfile(filepath=path, relative_remap=False, compress=compress)


def gzip_in_place(path: str) -> None:
    """Compress a saved .blend with gzip under the same name, as Blender before 3.0 saved them."""
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(gzip.compress(data, mtime=0))


def write_png(path: str, colour: Colour, second: Colour | None = None, size: tuple[int, int] = (16, 16)) -> str:
    """A small PNG: a checker of two colours (a darker shade of ``colour`` by default)."""
    dim = second or (colour[0] * 0.4, colour[1] * 0.4, colour[2] * 0.4)
    width, height = size
    image = bpy.data.images.new(os.path.basename(path), width, height, alpha=False)
    pixels: list[float] = []
    for y in range(height):
        for x in range(width):
            pixels += [*(colour if (x // 4 + y // 4) % 2 == 0 else dim), 1.0]
    image.pixels = pixels
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.filepath_raw = path
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)
    return path


def write_wav(path: str, seconds: float = 1.0, rate: int = 22050, pitch: float = 440.0) -> str:
    """A mono 16-bit sine tone, with nothing but the standard library."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    samples = (int(12000 * math.sin(2 * math.pi * pitch * i / rate)) for i in range(int(seconds * rate)))
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def write_movie(path: str, colours: Sequence[Colour], container: str, codec: str) -> str:
    """A tiny movie, one flat colour a frame, rendered by Blender's FFmpeg output from colour strips.

    Starts a new empty file: call it before building the file that uses the movie.
    """
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.resolution_x = WIDTH
    scene.render.resolution_y = HEIGHT
    scene.render.resolution_percentage = 100
    scene.render.fps = 24
    scene.frame_start = 1
    scene.frame_end = len(colours)
    editor = scene.sequence_editor_create()
    for frame, colour in enumerate(colours, start=1):
        strip = editor.sequences.new_effect(f"colour{frame}", "COLOR", channel=1, frame_start=frame,
                                            frame_end=frame + 1)
        strip.color = colour
    scene.render.image_settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format = container
    scene.render.ffmpeg.codec = codec
    scene.render.ffmpeg.audio_codec = "NONE"
    scene.render.filepath = path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    bpy.ops.render.render(animation=True)
    if not os.path.isfile(path):
        raise RuntimeError(f"FFmpeg output did not land at {path}: {os.listdir(os.path.dirname(path))}")
    return path


def load_image(path: str, written: str, source: str = "FILE") -> bpy.types.Image:
    """The image at ``path`` (which must exist), its path written in the .blend as ``written``."""
    image = bpy.data.images.load(path, check_existing=False)
    if source != "FILE":
        image.source = source
    image.filepath = written
    return image


def material(name: str, image: bpy.types.Image | None = None, colour: Colour = WHITE) -> bpy.types.Material:
    """Flat emission, coloured by ``image`` (pixel for pixel: closest interpolation) or ``colour``."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    output = nodes.new("ShaderNodeOutputMaterial")
    emission = nodes.new("ShaderNodeEmission")
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    if image is None:
        emission.inputs["Color"].default_value = (*colour, 1.0)
    else:
        texture = nodes.new("ShaderNodeTexImage")
        texture.name = "Texture"
        texture.image = image
        texture.interpolation = "Closest"
        links.new(texture.outputs["Color"], emission.inputs["Color"])
    return mat


def texture_node(mat: bpy.types.Material) -> bpy.types.ShaderNodeTexImage:
    return mat.node_tree.nodes["Texture"]


def plane(name: str, mat: bpy.types.Material, rect: Rect = FULL, uv: Rect = (0.0, 0.0, 1.0, 1.0),
          collection: bpy.types.Collection | None = None) -> bpy.types.Object:
    """A rectangle in the XY plane facing the camera, UV-mapped onto ``uv`` (u0, v0, u1, v1)."""
    x0, y0, x1, y1 = rect
    u0, v0, u1, v1 = uv
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(x0, y0, 0.0), (x1, y0, 0.0), (x1, y1, 0.0), (x0, y1, 0.0)], [], [(0, 1, 2, 3)])
    layer = mesh.uv_layers.new(name="UVMap")
    for loop, coords in zip(layer.data, [(u0, v0), (u1, v0), (u1, v1), (u0, v1)], strict=True):
        loop.uv = coords
    mesh.materials.append(mat)
    obj = bpy.data.objects.new(name, mesh)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def textured_plane(name: str, texture: str, written: str, rect: Rect = FULL) -> bpy.types.Object:
    """A plane showing the existing image file ``texture``, its path written as ``written``."""
    return plane(name, material(name, load_image(texture, written)), rect)


def link(library: str, written: str, kind: str, name: str) -> bpy.types.ID:
    """Link ``bpy.data.<kind>[name]`` from ``library``, the library's path written as ``written``."""
    with bpy.data.libraries.load(library, link=True) as (_, into):
        setattr(into, kind, [name])
    linked = getattr(into, kind)[0]
    if linked is None:
        raise RuntimeError(f"{library} has no {kind} {name!r}")
    linked.library.filepath = written
    return linked


def link_object(library: str, written: str, name: str) -> bpy.types.Object:
    """Link an object into the scene, as File > Link does without instancing."""
    obj = link(library, written, "objects", name)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def library(path: str, name: str, texture: str, written: str, colour: Colour, rect: Rect = FULL,
            compress: bool = False) -> None:
    """A library .blend holding one object, ``name``, that shows ``texture`` (written ``written``)."""
    new_file(path, camera=False)
    write_png(texture, colour)
    textured_plane(name, texture, written, rect)
    save(path, compress=compress)
    expect(path, written)


def written_paths() -> set[str]:
    """Every external path the open file writes: libraries, images, sounds, fonts, strips."""
    paths = {lib.filepath for lib in bpy.data.libraries}
    paths |= {img.filepath for img in bpy.data.images if img.library is None and img.source != "GENERATED"}
    paths |= {snd.filepath for snd in bpy.data.sounds if snd.library is None}
    paths |= {font.filepath for font in bpy.data.fonts if font.library is None and font.filepath != "<builtin>"}
    for scene in bpy.data.scenes:
        for strip in scene.sequence_editor.sequences_all if scene.sequence_editor else ():
            if strip.type == "IMAGE":
                paths |= {strip.directory + element.filename for element in strip.elements}
            elif strip.type == "MOVIE":
                paths.add(strip.filepath)
    return paths


def expect(blend: str, *paths: str) -> None:
    """Reopen ``blend`` and check it writes exactly ``paths`` (so the project is the kind it claims)."""
    bpy.ops.wm.open_mainfile(filepath=blend)
    found = written_paths()
    if found != set(paths):
        raise AssertionError(f"{blend} writes {sorted(found)}, not {sorted(paths)}")


def remove(path: str) -> None:
    """Delete a file or folder (the missing-files project's moved library)."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)
