# SPDX-License-Identifier: GPL-3.0-or-later
"""Tiles put back together into one multilayer EXR, every pass and layer, bit for bit, with OpenImageIO.

Blender writes a tile (a border render cropped to its region) as a multilayer
EXR of the region's size, with the same channels, pixel types and header as
the whole frame would have. Pasting each at its place in a frame-sized image
of that same spec gives the file a whole-frame render writes: Cycles samples a
pixel the same whichever region it is rendered in. The tiles are checked
before anything is written: each must exist, be its region's size and hold the
first tile's channels, or the frame is refused with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..common.errors import NetrenderError
from ..common.tiling import Rect


class StitchError(NetrenderError):
    """The tiles do not make the frame: one is missing, of the wrong size, or holds other channels."""

    code = "stitch_failed"


def stitch(tiles: Sequence[tuple[Path, Rect]], size: tuple[int, int], target: Path) -> Path:
    """Paste each tile at its region of a ``size`` frame, written to ``target`` whole or not at all."""
    import OpenImageIO as oiio  # loaded only where frames are stitched

    if not tiles:
        raise StitchError("no tiles to stitch")
    width, height = size
    images = [_open(oiio, path, region) for path, region in tiles]
    channels = tuple(images[0].spec().channelnames)
    spec = oiio.ImageSpec(images[0].spec())
    spec.width, spec.height, spec.full_width, spec.full_height = width, height, width, height
    spec.x = spec.y = spec.full_x = spec.full_y = 0
    frame = oiio.ImageBuf(spec)
    for image, (path, (x0, y0, _, _)) in zip(images, tiles, strict=True):
        if tuple(image.spec().channelnames) != channels:
            raise StitchError(f"tile {path.name} holds other passes than {tiles[0][0].name}")
        if not oiio.ImageBufAlgo.paste(frame, x0, y0, 0, 0, image):
            raise StitchError(f"cannot place tile {path.name}: {oiio.geterror()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part.exr")
    if not frame.write(str(partial)):
        raise StitchError(f"cannot write {target.name}: {frame.geterror()}")
    os.replace(partial, target)
    return target


def _open(oiio: Any, path: Path, region: Rect) -> Any:
    x0, y0, x1, y1 = region
    if not path.is_file():
        raise StitchError(f"the tile {path.name} is missing")
    image = oiio.ImageBuf(str(path))
    if image.has_error:
        raise StitchError(f"cannot read the tile {path.name}: {image.geterror()}")
    spec = image.spec()
    if (spec.width, spec.height) != (x1 - x0, y1 - y0):
        raise StitchError(f"the tile {path.name} is {spec.width}×{spec.height} pixels, "
                          f"not its region's {x1 - x0}×{y1 - y0}")
    return image


def crop(path: Path, rendered: Rect, region: Rect) -> Path:
    """Cut a tile rendered over ``rendered`` (its region and a margin) back to ``region``, in place."""
    import OpenImageIO as oiio

    if rendered == region:
        return path
    image = _open(oiio, path, rendered)
    x0, y0, x1, y1 = region
    left, top = x0 - rendered[0], y0 - rendered[1]
    cut = oiio.ImageBufAlgo.cut(image, oiio.ROI(left, left + x1 - x0, top, top + y1 - y0))
    if cut.has_error:
        raise StitchError(f"cannot cut the tile {path.name}: {cut.geterror()}")
    partial = path.with_name(f".{path.name}.part.exr")
    if not cut.write(str(partial)):
        raise StitchError(f"cannot write the tile {path.name}: {cut.geterror()}")
    os.replace(partial, path)
    return path


def size_of(path: Path) -> tuple[int, int] | None:
    """An image's width and height in pixels; ``None`` when it cannot be read."""
    import OpenImageIO as oiio

    found = oiio.ImageInput.open(str(path))
    if not found:
        return None
    try:
        spec = found.spec()
        return spec.width, spec.height
    finally:
        found.close()
