# SPDX-License-Identifier: GPL-3.0-or-later
"""The margin a tile is rendered with: exact with the margin the farm chooses, wrong with less.

Cycles' adaptive sampling keeps a pixel sampling while a neighbour does, at
each convergence check, so a pixel near a tile's edge depends on pixels
outside the tile, one more pixel away per check. ``tiling.adaptive_margin``
counts the checks from the scene's settings; real Blender shows that margin
exact and a smaller one not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from blender_env import run_script
from pixels import channels

from netrender.common.tiling import MARGIN, adaptive_margin, overscan
from netrender.samples import build_scene


def settings(samples: int, threshold: float = 0.01, min_samples: int = 0, exact: bool = True) -> dict[str, object]:
    return {"samples": [samples], "threshold": threshold, "min_samples": min_samples, "exact": exact}


def test_the_margin_counts_the_convergence_checks_followed_by_samples() -> None:
    assert adaptive_margin(None) == 0
    assert adaptive_margin(settings(64)) == 0  # default threshold: checks start after sample 64
    assert adaptive_margin(settings(96)) == 1  # one check, at sample 80 (0-based 79)
    assert adaptive_margin(settings(128)) == 3  # 79, 95, 111 (and 63, for Cycles' float rounding)
    assert adaptive_margin(settings(128, min_samples=100)) == 1  # 111
    assert adaptive_margin(settings(4096)) == MARGIN  # more checks than measured to matter
    assert adaptive_margin(settings(96, exact=False)) == MARGIN  # a sample subset or a time limit
    assert adaptive_margin({**settings(64), "samples": [64, 128]}) == 3  # a view layer's own samples count


def differing(folder: Path, found: dict[str, object], margin: int) -> int:
    """Pixels of the tiles, rendered with ``margin`` and cut back, that differ from the whole frame."""
    full = channels(folder / "full.exr")
    width, height = found["size"]  # type: ignore[misc]
    count = 0
    for index, region in enumerate(found["regions"]):  # type: ignore[arg-type]
        x0, y0, x1, y1 = region
        rx0, ry0, _, _ = overscan(tuple(region), margin, width, height)
        tile = channels(folder / f"m{margin}_{index}.exr")
        wrong = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        for name, pixels in full.items():
            cut = tile[name][y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]
            wrong |= cut != pixels[y0:y1, x0:x1]
        count += int(wrong.sum())
    return count


@pytest.mark.blender
def test_tiles_with_the_chosen_margin_equal_the_whole_frame_and_with_less_they_do_not(tmp_path: Path) -> None:
    blend = build_scene(tmp_path / "scene" / "still.blend", frames=1, size="320x180", samples=128, texture=True)
    found = run_script(tmp_path, "tile_margins.py", tmp_path, 6, 3, 1, blend=blend)
    assert found["chosen"] == 3
    assert differing(tmp_path, found, 3) == 0
    assert differing(tmp_path, found, 1) > 0  # a margin too small shows at the tiles' edges
