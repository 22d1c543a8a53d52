# SPDX-License-Identifier: GPL-3.0-or-later
"""What a .blend's scene says about its render, read without Blender: its frames, its size, its denoising.

blender-asset-tracer reads the file's blocks; the scene is the one the file
was saved with as current (or its first). Cycles keeps its settings as custom
properties of the scene, written only once changed from their defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from blender_asset_tracer import blendfile

from .packer import PackError

T = TypeVar("T")

#: IDProperty types (Blender's DNA_ID.h): a group of properties, and an integer.
IDP_INT, IDP_GROUP = 1, 6


def _scene(bfile: Any) -> Any:
    globs = bfile.find_blocks_from_code(b"GLOB")
    scene = globs[0].get_pointer(b"curscene") if globs else None
    return scene or bfile.find_blocks_from_code(b"SC")[0]


def _read(blend: Path, what: str, read: Callable[[Any], T]) -> T:
    """``read(scene)`` on the file's current scene, read without Blender; a file BAT cannot read is a PackError."""
    try:
        return read(_scene(blendfile.open_cached(Path(blend))))
    except (blendfile.exceptions.BlendFileError, IndexError, KeyError, OSError) as exc:
        raise PackError(f"cannot read {what} of {Path(blend).name}: {exc}") from exc
    finally:
        blendfile.close_all_cached()


def frame_range(blend: Path) -> list[int]:
    """The frames the file's current scene renders (start..end by step)."""
    start, end, step = _read(blend, "the frame range",
                             lambda scene: [int(scene.get((b"r", key))) for key in (b"sfra", b"efra", b"frame_step")])
    return list(range(start, end + 1, max(step, 1)))


def render_size(blend: Path) -> tuple[int, int]:
    """The pixels the scene renders: its resolution at its percentage, as Blender rounds them."""
    width, height, percent = _read(blend, "the render size",
                                   lambda scene: [int(scene.get((b"r", key))) for key in (b"xsch", b"ysch", b"size")])
    return width * percent // 100, height * percent // 100


def denoises(blend: Path) -> bool:
    """Whether Cycles denoises the scene's render (its Render > Denoise box; on unless turned off)."""
    value = _read(blend, "the render settings", lambda scene: _idproperty(
        scene.get_pointer((b"id", b"properties")), (b"cycles", b"use_denoising")))
    return True if value is None else bool(value)


def _idproperty(group: Any, path: tuple[bytes, ...]) -> int | None:
    """An integer custom property found by its path of names, ``None`` where it is not stored."""
    for depth, name in enumerate(path):
        if group is None or group.get(b"type") != IDP_GROUP:
            return None
        child = group.get_pointer((b"data", b"group", b"first"))
        while child is not None and child.get(b"name", as_str=True) != name.decode():
            child = child.get_pointer(b"next")
        if child is None:
            return None
        if depth == len(path) - 1:
            return int(child.get((b"data", b"val"))) if child.get(b"type") == IDP_INT else None
        group = child
    return None


def output(blend: Path) -> tuple[Path, str]:
    """Where the scene writes its frames, and how it names them: (folder, ``shot_####.png``)."""
    from ..common.framefiles import EXTENSIONS, blender_pattern

    path, imtype, flags = _read(blend, "the output path", lambda scene: (
        scene.get((b"r", b"pic"), as_str=True), int(scene.get((b"r", b"im_format", b"imtype"))),
        int(scene.get((b"r", b"scemode")))))
    if path.startswith("//"):
        path = str(Path(blend).resolve().parent / path[2:])
    folder = Path(path.replace("\\", "/")).parent if not path.endswith(("/", "\\")) else Path(path)
    r_extension = 1 << 4  # R_EXTENSION in RenderData.scemode: Blender adds the format's extension
    return folder, blender_pattern(path, EXTENSIONS.get(imtype, ".png"), bool(flags & r_extension))
