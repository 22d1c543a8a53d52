# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: save the open scene as a Network Render file for one mode.

Arguments: MODE PORT PATH OUT.blend [OUTPUT_PATTERN FRAME_END [TILES]]. MASTER and
SLAVE files render one "frame", which is the service running until Ctrl-C;
a CLIENT file keeps its animation and writes PNGs to OUTPUT_PATTERN.
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

mode, port, path, out, *rest = args()
scene = bpy.context.scene
scene.render.engine = "NET_RENDER"
s = scene.network_render
s.mode, s.server_address, s.server_port, s.path = mode, "127.0.0.1", int(port), path
s.slave_threads, s.chunks = 1, 1
if mode == "CLIENT":
    scene.render.filepath, scene.frame_end = rest[0], int(rest[1])
    s.job_tiles = int(rest[2]) if len(rest) > 2 else 0
    scene.render.image_settings.file_format = "PNG"
else:
    scene.frame_start = scene.frame_end = 1
bpy.ops.wm.save_as_mainfile(filepath=out)
report({"saved": out, "engine": scene.render.engine})
