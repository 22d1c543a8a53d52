# SPDX-License-Identifier: GPL-3.0-or-later
"""A frame cut into tiles: the grid, each tile's region in pixels, and the same region as Blender's render border.

Pure arithmetic, shared by the master (which plans a job's tiles) and the
slave (which renders them). A grid has about the number of tiles asked for,
in rows and columns matching the frame's shape so that tiles are near square;
tiles are numbered row by row from the top-left, and a region's ends are
excluded, so the regions cover every pixel exactly once.
"""

from __future__ import annotations

import math
from typing import Any

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, from the top-left corner, ends excluded
MAX_SIDE = 65536


def grid(tiles: int, width: int, height: int) -> tuple[int, int]:
    """Columns and rows for about ``tiles`` near-square tiles of a ``width`` × ``height`` frame."""
    rows = max(1, min(height, round(math.sqrt(tiles * height / width))))
    columns = max(1, min(width, math.ceil(tiles / rows)))
    return columns, rows


def rect(index: int, columns: int, rows: int, width: int, height: int) -> Rect:
    """Tile ``index`` (row by row from the top-left) of the grid, in pixels."""
    column, row = index % columns, index // columns
    if not 0 <= row < rows:
        raise ValueError(f"tile {index} is outside a {columns}×{rows} grid")
    return (column * width // columns, row * height // rows,
            (column + 1) * width // columns, (row + 1) * height // rows)


def border(region: Rect, width: int, height: int) -> tuple[float, float, float, float]:
    """``region`` as Blender's render border: min x, max x, min y, max y, as fractions from the bottom-left.

    Blender turns a border into pixels by multiplying each fraction (a 32-bit
    float) by the frame's size and dropping the fraction; a quarter pixel added
    to each edge survives the float's rounding, so the pixels are exactly
    ``region``'s whichever way Blender or Cycles rounds.
    """
    x0, y0, x1, y1 = region
    return (min((x0 + 0.25) / width, 1.0), min((x1 + 0.25) / width, 1.0),
            min((height - y1 + 0.25) / height, 1.0), min((height - y0 + 0.25) / height, 1.0))


def overscan(region: Rect, margin: int, width: int, height: int) -> Rect:
    """``region`` grown by ``margin`` pixels on each side, within the frame (see :func:`adaptive_margin`)."""
    x0, y0, x1, y1 = region
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)


#: Why a scene with Cycles' path guiding cannot be tiled (the slave fails its tiles with it, the add-on refuses).
GUIDING = ("Cycles' path guiding is on in this file: it learns from the pixels it renders, so a tile cannot "
           "match the same pixels of a render of the whole frame. Turn Path Guiding off (Render Properties > "
           "Sampling) or send the job without tiles.")

#: The widest margin a tile is rendered with.
MARGIN = 8
#: Cycles checks which pixels have converged every 16 samples (``Integrator::get_adaptive_sampling``, 3.0 to 4.5).
ADAPTIVE_STEP = 16


def adaptive_margin(adaptive: dict[str, Any] | None) -> int:
    """The margin a tile needs so that each of its pixels samples exactly as in a render of the whole frame.

    ``adaptive`` is the scene's adaptive sampling, as the slave's Blender
    reports it (``samples``: the scene's and any view layer's own,
    ``threshold``, ``min_samples``, ``exact``), or
    ``None`` without it. Each time Cycles checks convergence it also keeps
    going every pixel next to one that goes on (a 3×3 neighbourhood), so a
    pixel's samples depend on pixels one step further away per check that
    more samples follow. A tile rendered with that many pixels more on each
    side, then cut back, is exact. Low sample counts need few pixels, or none
    (64 samples at the default threshold never check). Past :data:`MARGIN`,
    or when the settings cannot be counted (``exact`` false: a sample subset
    or a time limit), the margin stays at :data:`MARGIN`: in measurements the
    edge pixels of a tile differed without a margin, and never with 4 pixels,
    up to 1,500 samples.
    """
    if not adaptive:
        return 0
    if not adaptive.get("exact", False):
        return MARGIN
    counts = adaptive["samples"]
    return min(max(_checks(int(n), float(adaptive["threshold"]), int(adaptive["min_samples"]))
                   for n in (counts if isinstance(counts, list) else [counts])), MARGIN)


def _checks(samples: int, threshold: float, min_samples: int) -> int:
    """How many convergence checks Cycles makes with more samples after them (``Integrator::get_adaptive_sampling``)."""
    threshold = threshold or max(0.001, 1.0 / max(samples, 1))
    first = max(4, math.ceil(16.0 / threshold**0.3)) if min_samples == 0 else max(4, min_samples)
    first -= 1  # Cycles computes in 32-bit floats: one sample earlier covers its rounding
    return sum(1 for sample in range(first + 1, samples - 1) if sample % ADAPTIVE_STEP == ADAPTIVE_STEP - 1)
