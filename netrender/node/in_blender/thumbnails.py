# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside the slave's Blender: a PNG thumbnail next to every frame it writes.

``netrender.node.blender.render_argv(..., thumbnails=True)`` passes this file with
``--python`` after the .blend, so it runs once the file is loaded and before
``-f`` renders. It only registers a ``render_write`` handler; after Blender has
saved a frame's EXR, the handler writes ``<same folder>/<NNNNNN>.thumb.png``,
its longest side at most :data:`SIZE`, which the slave then uploads.

The PNG goes through ``Image.save_render`` with the scene's own colour
management (view transform, look, exposure, gamma), so it looks like the frame
rendered straight to PNG would; a plain ``Image.save`` would apply bare sRGB,
visibly brighter than the scene under Filmic. A multilayer EXR loaded as an
image has no pixels for ``Image.scale`` (only an image user reaches its
passes, and ``save_render`` has one), hence the full-size PNG first, then the
scaled one.

It imports nothing from netrender: the slave's Blender does not have the package.
A thumbnail is a convenience, so it must never fail the render: any error is
printed as one line starting with :data:`FAILED` and the frames go on.
"""

from __future__ import annotations

import os
from typing import Any

import bpy

SIZE = 256
FAILED = "netrender thumbnail failed:"
#: The scene settings that decide how linear light becomes display bytes, in the
#: order they must be set (a look belongs to its view transform).
VIEW_SETTINGS = ("view_transform", "look", "exposure", "gamma")
HELPER_SCENE = "netrender-thumbnail"


def thumbnail_path(frame_path: str) -> str:
    """``/out/000001.exr`` → ``/out/000001.thumb.png``: the name ``netrender.node.blender.thumbnail_file`` expects."""
    return os.path.splitext(frame_path)[0] + ".thumb.png"


def fit(width: int, height: int, size: int = SIZE) -> tuple[int, int]:
    """The longest side at most ``size``, the aspect kept (as ``netrender.farm.thumbnail.fit``)."""
    scale = min(1.0, size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def png_scene(scene: Any) -> Any:
    """A helper scene that saves 8-bit RGBA PNG through ``scene``'s view settings.

    The render scene itself is left alone: its output format is the farm's EXR,
    and changing it, even briefly, could change the frames that follow. The
    helper is made once and kept: removing a scene while rendering crashes
    Blender 3.4 (segfault, seen here), and this Blender never saves its file. Its
    view settings are copied again for every frame, since they can be animated.
    """
    temp = bpy.data.scenes.get(HELPER_SCENE) or bpy.data.scenes.new(HELPER_SCENE)
    for name in VIEW_SETTINGS:
        setattr(temp.view_settings, name, getattr(scene.view_settings, name))
    temp.display_settings.display_device = scene.display_settings.display_device
    settings = temp.render.image_settings
    settings.file_format = "PNG"
    settings.color_mode = "RGBA"
    settings.color_depth = "8"
    return temp


def make_thumbnail(scene: Any) -> str:
    """Write the thumbnail of the frame just saved; return its path.

    The images and the full-size file made on the way are removed again, so a
    long chunk does not pile images up in memory or stray files in the output folder.
    """
    frame_path = bpy.path.abspath(scene.render.frame_path(frame=scene.frame_current))
    final = thumbnail_path(frame_path)
    full = final[: -len(".png")] + ".full.png"
    images: list[Any] = []
    try:
        frame = bpy.data.images.load(frame_path, check_existing=False)
        images.append(frame)
        frame.save_render(full, scene=png_scene(scene))
        small = bpy.data.images.load(full, check_existing=False)
        images.append(small)
        width, height = small.size[:]
        if fit(width, height) != (width, height):
            small.scale(*fit(width, height))
            small.file_format = "PNG"
            small.save(filepath=full)  # over the full-size file, renamed below: readers see whole files only
        os.replace(full, final)
    finally:
        for image in images:
            bpy.data.images.remove(image)
        if os.path.isfile(full):
            os.remove(full)
    return final


# Persistent so that loading a file after this script (were it ever passed before
# the .blend) keeps the handler; render_argv passes it after, where it is not needed.
@bpy.app.handlers.persistent  # type: ignore[untyped-decorator]  # bpy has no types
def netrender_write_thumbnail(scene: Any, *_: Any) -> None:
    """The ``render_write`` handler: called once per frame, right after Blender saved it."""
    try:
        make_thumbnail(scene)
    except Exception as exc:  # a thumbnail must never fail the render
        print(f"{FAILED} frame {scene.frame_current}: {type(exc).__name__}: {exc}", flush=True)


def register() -> None:
    """Add the handler once, even if this script is run twice in one Blender."""
    handlers = bpy.app.handlers.render_write
    for handler in [h for h in handlers if getattr(h, "__name__", "") == netrender_write_thumbnail.__name__]:
        handlers.remove(handler)
    handlers.append(netrender_write_thumbnail)


if __name__ == "__main__":
    try:
        register()
    except Exception as exc:  # Blender ignores a failing --python script by default; say why all the same
        print(f"{FAILED} {type(exc).__name__}: {exc}", flush=True)
