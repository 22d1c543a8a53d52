# SPDX-License-Identifier: GPL-3.0-or-later
"""Frames in an output folder, named as Blender names them: which are missing or empty.

Blender names a frame from the output path: its ``#`` run becomes the frame
number padded to that many digits (the last run; none means four digits at
the end), then the format's extension. An empty file is a frame another
process has claimed (a placeholder) or one that broke off: it is not there.
Pure, but for the one look at the folder in :func:`check`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidRequest

#: The extension of each of Blender's image formats (``ImageFormatData.imtype``), for still images only.
EXTENSIONS = {0: ".tga", 1: ".rgb", 4: ".jpg", 7: ".rgb", 14: ".tga", 17: ".png", 20: ".bmp", 21: ".hdr",
              22: ".tif", 23: ".exr", 26: ".cin", 27: ".dpx", 28: ".exr", 29: ".dds", 30: ".jp2", 34: ".psd",
              35: ".webp"}
NETRENDER = "######.exr"  # how the farm names the frames it gives back
HASHES = re.compile(r"#+")


def frame_name(pattern: str, frame: int) -> str:
    """``pattern`` (``shot_####.png``) for ``frame``: its last run of ``#`` is the number, zero-padded."""
    runs = list(HASHES.finditer(pattern))
    if not runs:
        raise InvalidRequest(f"{pattern!r} has no '#' for the frame number (write it like shot_####.png)")
    last = runs[-1]
    sign = "-" if frame < 0 else ""
    return f"{pattern[:last.start()]}{sign}{abs(frame):0{len(last.group())}d}{pattern[last.end():]}"


def blender_pattern(output: str, extension: str, add_extension: bool = True) -> str:
    """The frame pattern of Blender's output path's last part (``shot_`` → ``shot_####.png``)."""
    name = output.replace("\\", "/").rsplit("/", 1)[-1]
    if "#" not in name:
        name += "####"
    return name + (extension if add_extension and not name.lower().endswith(extension) else "")


@dataclass
class FrameCheck:
    missing: list[int] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)

    @property
    def to_render(self) -> list[int]:
        return sorted(self.missing + self.empty)


def check(folder: Path, pattern: str, frames: list[int]) -> FrameCheck:
    """Which of ``frames`` have no file in ``folder``, and which have an empty one."""
    found = FrameCheck()
    for frame in frames:
        try:
            size = os.stat(Path(folder) / frame_name(pattern, frame)).st_size
        except FileNotFoundError:
            found.missing.append(frame)
            continue
        if size == 0:
            found.empty.append(frame)
    return found
