# SPDX-License-Identifier: GPL-3.0-or-later
"""Frame files named as Blender names them, and a folder checked for the missing and the empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrender.common.errors import InvalidRequest
from netrender.common.framefiles import blender_pattern, check, frame_name


@pytest.mark.parametrize("pattern, frame, name", [
    ("######.exr", 7, "000007.exr"), ("shot_####.png", 12, "shot_0012.png"), ("v##_f###", 3, "v##_f003"),
    ("shot_####.png", 123456, "shot_123456.png"), ("f####.exr", -3, "f-0003.exr"),
])
def test_the_last_run_of_hashes_is_the_number(pattern: str, frame: int, name: str) -> None:
    assert frame_name(pattern, frame) == name


def test_blenders_output_paths_become_patterns() -> None:
    assert blender_pattern("//render/shot_", ".png") == "shot_####.png"  # four digits when no '#'
    assert blender_pattern("/tmp/out/f_###_x", ".exr", add_extension=False) == "f_###_x"
    assert blender_pattern("C:\\renders\\", ".jpg") == "####.jpg"
    with pytest.raises(InvalidRequest, match="no '#'"):
        frame_name("shot.png", 1)


def test_missing_and_empty_frames_are_told_apart(tmp_path: Path) -> None:
    for frame in (1, 3, 4):
        (tmp_path / f"s_{frame:02d}.png").write_bytes(b"png" if frame != 4 else b"")
    found = check(tmp_path, "s_##.png", [1, 2, 3, 4, 5])
    assert (found.missing, found.empty, found.to_render) == ([2, 5], [4], [2, 4, 5])
