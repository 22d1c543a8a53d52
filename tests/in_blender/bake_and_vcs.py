# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: *Bake on network* and the Version Control settings against a live master.

Arguments: PORT MODE. MODE ``bake``: bake the open file's caches on the farm,
then open the saved file again and say what its caches are. MODE ``vcs``:
*Refresh* the Version Control settings from the file's working copy, then send
the current frame as a versioned job.
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

port, mode = int(args()[0]), args()[1]
scene = bpy.context.scene
scene.render.engine = "NET_RENDER"
s = scene.network_render
s.mode, s.server_address, s.server_port, s.save_before_job = "CLIENT", "127.0.0.1", port, False
found: dict = {}

if mode == "bake":
    found["finished"] = sorted(bpy.ops.render.netclientbake())
    found["status"] = s.status
    found["job_id"] = s.job_id
    bpy.ops.wm.revert_mainfile()  # the add-on does this itself once the UI is idle
    caches = {}
    for ob in bpy.context.scene.objects:
        for mod in ob.modifiers:
            if mod.type == "CLOTH":
                caches[f"{ob.name}/{mod.name}"] = mod.point_cache
        for system in ob.particle_systems:
            caches[f"{ob.name}/{system.name}"] = system.point_cache
    found["caches"] = {name: [c.is_baked, c.use_disk_cache] for name, c in sorted(caches.items())}
else:
    bpy.ops.render.netclientvcsguess()
    found["settings"] = [s.vcs_system, s.vcs_rpath, s.vcs_revision, s.vcs_wpath]
    bpy.ops.render.netclientsendframe()
    found["status"] = s.status
    found["job_id"] = s.job_id
    s.vcs_wpath = "/somewhere/else"
    try:
        bpy.ops.render.netclientsendframe()
        found["outside"] = "sent"
    except RuntimeError as exc:  # the operator's error report, raised in background mode
        found["outside"] = str(exc)
report(found)
