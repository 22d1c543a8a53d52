# SPDX-License-Identifier: GPL-3.0-or-later
"""Shots that use image files (and a font) directly, each path written a different way.

Run by ``tests/projects/files.py`` inside Debian's Blender 3.4::

    blender -b --factory-startup --python files_images.py -- KIND ROOT

Each kind is one way an artist's .blend names a file: relative to itself, absolute, climbing out of
its folder, a UDIM set, a numbered sequence, inside a gzip or zstd .blend, a system font. The
pictures fill the frame, so a file left behind turns the render magenta (or, for the font,
changes the letters' shapes).
"""

from __future__ import annotations

import os
import shutil
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import files_common as c  # noqa: E402

SHOT = "shots/sh010/shot.blend"
#: A system font that exists on the machines that run the tests (Debian's fonts-dejavu-core).
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"


def shot_with_texture(root: str, texture: str, written: str, compress: bool = False) -> None:
    """The common shape: a shot whose one plane shows ``texture``, its path written ``written``."""
    shot = os.path.join(root, SHOT)
    c.new_file(shot)
    c.write_png(texture, c.RED)
    c.textured_plane("Wall", texture, written)
    c.save(shot, compress=compress)
    c.expect(shot, written)


def image_relative(root: str) -> None:
    shot_with_texture(root, os.path.join(root, "shots/sh010/textures/wall.png"), "//textures/wall.png")


def image_absolute(root: str) -> None:
    texture = os.path.join(root, "library/textures/brick.png")
    shot_with_texture(root, texture, texture)


def image_outside(root: str) -> None:
    texture = os.path.join(root, "assets/textures/ground.png")
    shot_with_texture(root, texture, "//../../assets/textures/ground.png")


def image_udim(root: str) -> None:
    """Two UDIM tiles of different colours; the plane's UVs span u 0..2, so each fills half the frame."""
    shot = os.path.join(root, SHOT)
    c.new_file(shot)
    first = c.write_png(os.path.join(root, "shots/sh010/textures/skin.1001.png"), c.RED)
    c.write_png(os.path.join(root, "shots/sh010/textures/skin.1002.png"), c.BLUE)
    image = bpy.data.images.load(first, check_existing=False)
    image.source = "TILED"  # Blender finds the other tiles on disk and writes <UDIM> in the path
    image.filepath = "//textures/skin.<UDIM>.png"
    if sorted(tile.number for tile in image.tiles) != [1001, 1002]:
        raise AssertionError(f"tiles {[tile.number for tile in image.tiles]}")
    c.plane("Skin", c.material("Skin", image), c.FULL, (0.0, 0.0, 2.0, 1.0))
    c.save(shot)
    c.expect(shot, "//textures/skin.<UDIM>.png")


def image_sequence(root: str) -> None:
    """An image sequence texture: frame 1 shows tex_0001.png, frame 2 tex_0002.png."""
    shot = os.path.join(root, SHOT)
    c.new_file(shot, frames=2)
    first = c.write_png(os.path.join(root, "shots/sh010/seq/tex_0001.png"), c.GREEN)
    c.write_png(os.path.join(root, "shots/sh010/seq/tex_0002.png"), c.YELLOW)
    image = c.load_image(first, "//seq/tex_0001.png", source="SEQUENCE")
    mat = c.material("Screen", image)
    user = c.texture_node(mat).image_user
    user.frame_start = 1
    user.frame_duration = 2
    user.frame_offset = 0
    c.plane("Screen", mat)
    c.save(shot)
    c.expect(shot, "//seq/tex_0001.png")


def compressed_gzip(root: str) -> None:
    """Saved plain, then gzipped under the same name, as files saved before Blender 3.0 are."""
    shot = os.path.join(root, SHOT)
    shot_with_texture(root, os.path.join(root, "shots/sh010/textures/wall.png"), "//textures/wall.png")
    c.gzip_in_place(shot)
    c.expect(shot, "//textures/wall.png")


def compressed_absolute(root: str) -> None:
    """A zstd .blend naming its texture by absolute path: a packer must rewrite inside the compression."""
    texture = os.path.join(root, "library/textures/brick.png")
    shot_with_texture(root, texture, texture, compress=True)


def font_absolute(root: str) -> None:
    """Big white letters in a system font; ``shot_nofont.blend`` is the same with the font path broken."""
    shot = os.path.join(root, SHOT)
    c.new_file(shot)
    text = bpy.data.curves.new("Title", "FONT")
    text.body = "Ag"
    text.font = bpy.data.fonts.load(FONT)
    text.size = 3.0
    text.align_x = "CENTER"
    text.align_y = "CENTER"
    text.materials.append(c.material("Letters", colour=c.WHITE))
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Title", text))
    c.save(shot)
    c.expect(shot, FONT)
    # Blender 3.4 won't let Python rewrite a font's path (VectorFont.filepath is read-only), so the
    # broken copy uses a font loaded from a copy that is deleted once the file is saved.
    nofont = os.path.join(os.path.dirname(shot), "shot_nofont.blend")
    gone = os.path.join(root, "fonts_gone", os.path.basename(FONT))
    os.makedirs(os.path.dirname(gone))
    shutil.copyfile(FONT, gone)
    bpy.data.curves["Title"].font = bpy.data.fonts.load(gone)
    c.save(nofont)
    c.remove(os.path.dirname(gone))
    c.expect(nofont, gone)


if __name__ == "__main__":
    c.run({f.__name__: f for f in (image_relative, image_absolute, image_outside, image_udim, image_sequence,
                                   compressed_gzip, compressed_absolute, font_absolute)})
