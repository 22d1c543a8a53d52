# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: send a file that names missing files, then send it again with Refuse Missing Files on.

Argument: PORT. The .blend is the one Blender opened; it is not saved.
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

from netrender.client import Client  # noqa: E402

port = int(args()[0])
scene = bpy.context.scene
scene.render.engine = "NET_RENDER"
s = scene.network_render
s.mode, s.server_address, s.server_port, s.save_before_job = "CLIENT", "127.0.0.1", port, False
found: dict = {}
bpy.ops.render.netclientsendframe()
found["job"], found["missing"], found["status"] = s.job_id, s.missing.splitlines(), s.status
s.job_strict = True
bpy.ops.render.netclientsendframe()
found["strict_status"], found["strict_missing"] = s.status, s.missing
found["jobs"] = [job["id"] for job in Client(f"http://127.0.0.1:{port}").jobs()]
report(found)
