# SPDX-License-Identifier: GPL-3.0-or-later
"""Small PNG previews of finished frames, made on the master from their EXR.

Slaves with the "generate thumbnails" option send their own (made inside
Blender, with the scene's view transform); this module is the fallback for
frames that came without one. The browser cannot show EXR, so the pixels are
turned into 8-bit sRGB with the plain sRGB curve (an EXR does not say which view
transform its scene used) and written as PNG.

numpy and OpenEXR are imported only inside :func:`from_exr`: the master runs
without them and answers :class:`ThumbnailError` (404) instead. The PNG encoder
is the standard library's ``zlib`` and ``struct``, so no imaging library is needed.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.errors import NetrenderError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Pixels = NDArray[np.float32]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type by channel count: grey, grey+alpha, RGB, RGBA.
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


class ThumbnailError(NetrenderError):
    """No thumbnail can be made: a missing package or an unreadable EXR, never a server fault."""

    code = "thumbnail_unavailable"
    status = 404


def from_exr(exr: Path, dest: Path, size: int = 256) -> Path:
    """Write a PNG of ``exr`` to ``dest``, its longest side at most ``size``; return ``dest``.

    The file appears whole or not at all (temporary name, then ``os.replace``),
    so a browser asking while it is written never gets half a PNG.
    """
    try:
        import numpy as np
        import OpenEXR
    except ImportError as exc:
        raise ThumbnailError(
            f"thumbnails need the numpy and OpenEXR packages on the master ({exc.name} is missing)"
        ) from exc
    try:
        with OpenEXR.File(str(exr), separate_channels=True) as exr_file:
            channels = {name: channel.pixels for name, channel in exr_file.parts[0].channels.items()}
    except Exception as exc:  # OpenEXR raises RuntimeError, odd files anything: the frame has no preview
        raise ThumbnailError(f"cannot read {exr.name} as an EXR image: {exc}") from exc
    shown = [np.asarray(channels[name]) for name in pick_channels(list(channels))]
    if shown[0].ndim != 2 or 0 in shown[0].shape:
        raise ThumbnailError(f"{exr.name} has no pixels to show")
    height, width = shown[0].shape
    small = np.stack([downscale(channel, *fit(width, height, size)) for channel in shown], axis=-1)
    data = png_bytes(small.shape[1], small.shape[0], small.shape[2], to_srgb8(small).tobytes())
    return _write_atomically(dest, data)


def pick_channels(names: list[str]) -> list[str]:
    """The channels to show: the first view layer's Combined pass, else any R/G/B triple, else one grey.

    Blender names multilayer channels ``<view layer>.<pass>.<R|G|B|A>``; a plain
    EXR has bare ``R``, ``G``, ``B``. Alpha comes along when the triple has one.
    "First" is in the file's channel order, which EXR keeps sorted by name: the
    file does not record the scene's order of view layers.
    """
    if not names:
        raise ThumbnailError("the EXR has no channels")
    prefixes = [name[:-1] for name in names if name.endswith("R")]
    triples = [p for p in prefixes if p + "G" in names and p + "B" in names]
    combined = [p for p in triples if p.endswith(".Combined.") or p == "Combined."]
    if not triples:
        return [names[0]]
    prefix = (combined or triples)[0]
    rgb = [prefix + "R", prefix + "G", prefix + "B"]
    return rgb + [prefix + "A"] if prefix + "A" in names else rgb


def fit(width: int, height: int, size: int) -> tuple[int, int]:
    """The thumbnail's width and height: the longest side at most ``size``, the aspect kept."""
    if size < 1:
        raise ValueError("size must be at least 1")
    scale = min(1.0, size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def downscale(channel: NDArray[Any], width: int, height: int) -> Pixels:
    """Average the source area under each target pixel, in linear light where averaging is right.

    Each axis gets a matrix of overlap weights, so any ratio (not only whole
    factors) is exact and numpy does it in two matrix products. One channel at a
    time: a large frame is never copied whole as floats.
    """
    source_height, source_width = channel.shape
    rows = _area_weights(source_height, height)
    columns = _area_weights(source_width, width)
    result: Pixels = rows @ channel.astype(rows.dtype, copy=False) @ columns.T
    return result


def _area_weights(source: int, target: int) -> Pixels:
    """``target × source`` weights: how much of each source pixel falls in each target pixel."""
    import numpy as np

    edges = np.arange(target + 1, dtype=np.float64) * (source / target)
    starts, ends = edges[:-1, None], edges[1:, None]
    cells = np.arange(source, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(ends, cells + 1) - np.maximum(starts, cells), 0.0, None)
    weights: Pixels = (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)
    return weights


def to_srgb8(pixels: Pixels) -> NDArray[Any]:
    """Linear float to 8-bit sRGB; alpha stays linear, colour is un-premultiplied as PNG expects.

    EXR colour is premultiplied by alpha and PNG's is not, so colour is divided by
    alpha (where there is any) before the sRGB curve.
    """
    import numpy as np

    values = np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0)
    if values.shape[2] in (2, 4):
        colour, alpha = values[..., :-1], np.clip(values[..., -1:], 0.0, 1.0)
        colour = np.where(alpha > 0, colour / np.where(alpha > 0, alpha, 1.0), colour)
        values = np.concatenate([_srgb(colour), alpha], axis=-1)
    else:
        values = _srgb(values)
    encoded: NDArray[Any] = np.round(values * 255.0).astype(np.uint8)
    return encoded


def _srgb(linear: Pixels) -> Pixels:
    """The standard sRGB transfer function (IEC 61966-2-1) on values clamped to 0..1."""
    import numpy as np

    clamped = np.clip(linear, 0.0, 1.0)
    curved: Pixels = np.where(clamped <= 0.0031308, clamped * 12.92,
                              1.055 * np.power(clamped, 1.0 / 2.4) - 0.055)
    return curved


def png_bytes(width: int, height: int, channels: int, raw: bytes) -> bytes:
    """An 8-bit PNG of ``raw`` (rows top to bottom, channels interleaved), every row filter 0.

    Filter 0 (none) keeps the encoder a few lines long; zlib still squeezes a
    thumbnail well, and PNG readers accept it everywhere.
    """
    stride = width * channels
    if channels not in COLOUR_TYPES or len(raw) != stride * height:
        raise ValueError(f"{len(raw)} bytes is not {width}x{height} pixels of {channels} channels")
    rows = b"".join(b"\x00" + raw[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, and the CRC of type and body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _write_atomically(dest: Path, data: bytes) -> Path:
    """Write next to ``dest`` under a unique name, then rename over it in one step."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temp, dest)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return dest
