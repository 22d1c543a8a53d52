# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: with no master at the address, the buttons say so (argument: a closed PORT)."""

import os
import sys
import time

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

scene = bpy.context.scene
scene.render.engine = "NET_RENDER"
s = scene.network_render
s.server_address, s.server_port = "127.0.0.1", int(args()[0])
started = time.monotonic()
bpy.ops.render.netclientstatus()
report({"status": s.status, "seconds": time.monotonic() - started})
