# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: the open scene rendered whole, then as tiles with each margin given, as EXRs to compare.

Arguments: OUT_DIR TILES MARGIN... Writes ``full.exr`` and
``m<margin>_<tile>.exr`` (the tile's region grown by the margin, as the
slave renders it) with one thread, and reports the grid, the regions and the
margin the farm would choose (``tiling.adaptive_margin``) from the settings
the slave's driver reports.
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

from netrender.common import tiling  # noqa: E402
from netrender.node.in_blender.driver import adaptive_sampling  # noqa: E402

out, tiles, *margins = args()
scene = bpy.context.scene
render = scene.render
render.threads_mode, render.threads = "FIXED", 1
render.image_settings.file_format, render.image_settings.color_depth = "OPEN_EXR", "32"
width = render.resolution_x * render.resolution_percentage // 100
height = render.resolution_y * render.resolution_percentage // 100


def still(path: str, region: tuple[int, int, int, int] | None) -> None:
    render.use_border = region is not None
    if region is not None:
        render.use_crop_to_border = True
        (render.border_min_x, render.border_max_x,
         render.border_min_y, render.border_max_y) = tiling.border(region, width, height)
    render.filepath = path
    bpy.ops.render.render(write_still=True)


still(os.path.join(out, "full.exr"), None)
columns, rows = tiling.grid(int(tiles), width, height)
regions = [tiling.rect(i, columns, rows, width, height) for i in range(columns * rows)]
for margin in map(int, margins):
    for index, region in enumerate(regions):
        still(os.path.join(out, f"m{margin}_{index}.exr"), tiling.overscan(region, margin, width, height))
report({"size": [width, height], "regions": regions,
        "chosen": tiling.adaptive_margin(adaptive_sampling(scene))})
