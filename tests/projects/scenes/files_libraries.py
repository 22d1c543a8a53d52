# SPDX-License-Identifier: GPL-3.0-or-later
"""Shots that link objects from libraries, each library naming its own textures relative to itself.

Run by ``tests/projects/files.py`` inside Debian's Blender 3.4::

    blender -b --factory-startup --python files_libraries.py -- KIND ROOT

A studio keeps shots in ``shots/`` and shared assets in ``assets/``; a library's ``//textures/…``
means its own folder, not the shot's. The traps a packer meets are all here: a library named from
outside the shot's folder or by absolute path, a library that links another, two libraries that
write the same relative string for different files, compressed libraries, names that aren't
ASCII, and a shot that names files that are gone.
"""

from __future__ import annotations

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import files_common as c  # noqa: E402

SHOT = "shots/sh010/shot.blend"
PROPS = "assets/props/props.blend"
SKIN = "assets/props/textures/skin.png"


def props(root: str, rect: c.Rect = c.FULL, compress: bool = False) -> str:
    """``assets/props/props.blend``: the object Prop, textured ``//textures/skin.png`` (red)."""
    path = os.path.join(root, PROPS)
    c.library(path, "Prop", os.path.join(root, SKIN), "//textures/skin.png", c.RED, rect, compress)
    return path


def library_relative_outside(root: str) -> None:
    library = props(root)
    shot = os.path.join(root, SHOT)
    c.new_file(shot)
    c.link_object(library, "//../../assets/props/props.blend", "Prop")
    c.save(shot)
    c.expect(shot, "//../../assets/props/props.blend")


def library_absolute(root: str) -> None:
    library = props(root)
    shot = os.path.join(root, SHOT)
    c.new_file(shot)
    c.link_object(library, library, "Prop")
    c.save(shot)
    c.expect(shot, library)


def library_of_library(root: str) -> None:
    """The shot links the collection Set from set.blend, which links Prop from props.blend.

    Set holds the set's own Floor (right half, ``//textures/floor.png`` beside set.blend) and the
    linked Prop (left half): the shot links only from set.blend, and props.blend comes indirectly
    (though Blender also records it in the shot, as ``//../../assets/props/props.blend``).
    """
    library = props(root, c.LEFT)
    scenery = os.path.join(root, "assets/sets/set.blend")
    c.new_file(scenery, camera=False)
    collection = bpy.data.collections.new("Set")
    bpy.context.scene.collection.children.link(collection)
    floor = c.write_png(os.path.join(root, "assets/sets/textures/floor.png"), c.GREEN)
    c.plane("Floor", c.material("Floor", c.load_image(floor, "//textures/floor.png")), c.RIGHT, collection=collection)
    collection.objects.link(c.link(library, "//../props/props.blend", "objects", "Prop"))
    c.save(scenery)
    c.expect(scenery, "//../props/props.blend", "//textures/floor.png")
    shot = os.path.join(root, SHOT)
    c.new_file(shot)
    bpy.context.scene.collection.children.link(c.link(scenery, "//../../assets/sets/set.blend", "collections", "Set"))
    c.save(shot)
    # Blender writes the indirect library in the shot too, its path rebased onto the shot's folder.
    c.expect(shot, "//../../assets/sets/set.blend", "//../../assets/props/props.blend")


def library_same_relative_string(root: str) -> None:
    """Two ``lib.blend`` in different folders, each with an object Prop textured ``//textures/skin.png``.

    The same string names a red image in one and a blue one in the other.
    """
    shot = os.path.join(root, SHOT)
    libraries = []
    for folder, colour, rect in (("props_a", c.RED, c.LEFT), ("props_b", c.BLUE, c.RIGHT)):
        path = os.path.join(root, "assets", folder, "lib.blend")
        texture = os.path.join(root, "assets", folder, "textures/skin.png")
        c.library(path, "Prop", texture, "//textures/skin.png", colour, rect)
        libraries.append((path, f"//../../assets/{folder}/lib.blend"))
    c.new_file(shot)
    for path, written in libraries:
        c.link_object(path, written, "Prop")
    c.save(shot)
    c.expect(shot, *(written for _, written in libraries))


def compressed_zstd(root: str) -> None:
    """A zstd shot (its own ``//textures/ground.png`` on the left) linking a zstd props.blend (right)."""
    library = props(root, c.RIGHT, compress=True)
    shot = os.path.join(root, SHOT)
    c.new_file(shot)
    ground = c.write_png(os.path.join(root, "shots/sh010/textures/ground.png"), c.GREEN)
    c.textured_plane("Ground", ground, "//textures/ground.png", c.LEFT)
    c.link_object(library, "//../../assets/props/props.blend", "Prop")
    c.save(shot, compress=True)
    c.expect(shot, "//textures/ground.png", "//../../assets/props/props.blend")


def names_unicode_spaces(root: str) -> None:
    """Accents and spaces in every folder and file name, and in the datablocks' names."""
    tree = os.path.join(root, "assets/décor/arbre été.blend")
    bark = os.path.join(root, "assets/décor/textures/écorce de bouleau.png")
    c.library(tree, "Arbre été", bark, "//textures/écorce de bouleau.png", c.YELLOW, c.RIGHT)
    shot = os.path.join(root, "shots/séquence 01/plan 010.blend")
    c.new_file(shot)
    sky = c.write_png(os.path.join(root, "assets/textures/ciel étoilé.png"), c.BLUE)
    c.textured_plane("Ciel étoilé", sky, "//../../assets/textures/ciel étoilé.png", c.LEFT)
    c.link_object(tree, "//../../assets/décor/arbre été.blend", "Arbre été")
    c.save(shot)
    c.expect(shot, "//../../assets/textures/ciel étoilé.png", "//../../assets/décor/arbre été.blend")


def missing_files(root: str) -> None:
    """A shot naming a texture on an old server and a library since deleted, beside one real texture.

    Blender renders it anyway: the lost texture comes out magenta (right half), the lost library's
    object is simply absent.
    """
    shot = os.path.join(root, SHOT)
    gone = os.path.join(root, "assets/moved/gone.blend")
    c.library(gone, "Gone", os.path.join(root, "assets/moved/textures/gone.png"), "//textures/gone.png", c.WHITE,
              (-0.5, -0.5, 0.5, 0.5))
    c.new_file(shot)
    ground = c.write_png(os.path.join(root, "shots/sh010/textures/ground.png"), c.GREEN)
    c.textured_plane("Ground", ground, "//textures/ground.png", c.LEFT)
    lost = bpy.data.images.new("gone.png", 16, 16)
    lost.source = "FILE"
    lost.filepath = "/nonexistent/old_server/textures/gone.png"
    c.plane("Poster", c.material("Poster", lost), c.RIGHT)
    c.link_object(gone, "//../../assets/moved/gone.blend", "Gone")
    c.save(shot)
    c.remove(os.path.dirname(gone))
    c.expect(shot, "//textures/ground.png", "/nonexistent/old_server/textures/gone.png",
             "//../../assets/moved/gone.blend")


if __name__ == "__main__":
    c.run({f.__name__: f for f in (library_relative_outside, library_absolute, library_of_library,
                                   library_same_relative_string, compressed_zstd, names_unicode_spaces,
                                   missing_files)})
