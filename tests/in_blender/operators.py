# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: the client's buttons against a live master, recording what each one did.

Arguments: PORT OUTPUT_FOLDER. The .blend is the one Blender opened.
"""

import os
import sys
import time

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

from netrender.client import Client  # noqa: E402

port, output = int(args()[0]), args()[1]
scene = bpy.context.scene
scene.render.engine = "NET_RENDER"
scene.frame_start, scene.frame_end, scene.frame_current = 1, 3, 2
scene.render.filepath = output + "/"
s = scene.network_render
s.mode, s.server_address, s.server_port, s.chunks, s.save_before_job = "CLIENT", "127.0.0.1", port, 1, True
found: dict = {}
client = Client(f"http://127.0.0.1:{port}")

bpy.ops.render.netclientsend()
found["send_job"] = s.job_id
animation = s.job_id
bpy.ops.render.netclientsendframe()
found["send_frame_job"] = s.job_id
found["frame_job_frames"] = [f["number"] for f in client.job(s.job_id)["frames"]]
found["saved_engine"] = bpy.data.is_dirty  # save_before_job saved the file: nothing left unsaved
bpy.ops.render.netclientstatus()
found["jobs_listed"] = sorted(j.job_id for j in s.jobs)
bpy.ops.render.netclientslaves()
found["slaves_listed"] = [x.name for x in s.slaves]
s.active_slave_index = 0
bpy.ops.render.netclientblacklistslave()
found["after_blacklist"] = ([x.name for x in s.slaves], [x.name for x in s.slaves_blacklist])
found["master_blacklisted"] = [x["blacklisted"] for x in client.conn.get("/api/slaves")["slaves"]]
s.active_blacklisted_slave_index = 0
bpy.ops.render.netclientwhitelistslave()
found["after_whitelist"] = ([x.name for x in s.slaves], [x.name for x in s.slaves_blacklist])
bpy.ops.render.netclientstatus()
s.active_job_index = [j.job_id for j in s.jobs].index(found["send_frame_job"])
s.active_slave_index = 0
bpy.ops.render.netclientswitchslave()
found["switched_off"] = client.job(found["send_frame_job"])["switched_off"]
found["switch_status"] = s.status
bpy.ops.render.netclientswitchslave()
found["switched_on"] = client.job(found["send_frame_job"])["switched_off"]

deadline = time.monotonic() + 180
while client.job(animation)["status"] != "finished":
    assert time.monotonic() < deadline, "the animation job did not finish"
    time.sleep(0.2)
bpy.ops.render.netclientstatus()
s.active_job_index = [j.job_id for j in s.jobs].index(animation)
bpy.ops.render.netclientdownload()
found["downloaded"] = sorted(os.listdir(output))
s.active_job_index = [j.job_id for j in s.jobs].index(found["send_frame_job"])
bpy.ops.render.netclientcancel()
found["after_remove"] = [j.job_id for j in s.jobs]
bpy.ops.render.netclientcancelall()
found["after_remove_all"] = [j.job_id for j in s.jobs]
found["master_jobs"] = client.jobs()
found["status"] = s.status
report(found)
