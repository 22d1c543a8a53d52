# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: the engine is offered, each mode's settings take values, panels follow the mode."""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import report  # noqa: E402

scene = bpy.context.scene
scene.render.engine = "NET_RENDER"  # raises TypeError unless the engine is registered
engines = {cls.bl_idname: cls.bl_label for cls in bpy.types.RenderEngine.__subclasses__()}
s = scene.network_render
VALUES = {
    "MASTER": {"path": "/tmp/nr-master", "server_address": "[default]", "server_port": 8123, "use_ssl": True,
               "cert_path": "/tmp/cert.pem", "key_path": "/tmp/key.pem", "use_broadcast": False,
               "force_upload": True, "master_clear": True, "storage_root": "/tmp/nr-shared/",
               "path_map": "P:\\projects=/tmp/nr-shared"},
    "SLAVE": {"path": "/tmp/nr-slave", "server_address": "10.0.0.5", "server_port": 9000, "slave_tags": "gpu;linux",
              "slave_clear": False, "slave_thumb": True, "slave_outputlog": True, "slave_threads": 3,
              "slave_persistent": False, "slave_on_stop": "finish", "path_map": "P:\\projects=/mnt/projects"},
    "CLIENT": {"path": "/tmp/nr-client", "server_address": "farm", "server_port": 8001, "use_ssl": False,
               "job_name": "shot 10", "job_category": "lighting", "job_tags": "gpu",
               "job_render_engine": "BLENDER_EEVEE",
               "priority": 2, "chunks": 4, "save_before_job": False, "persistent": False,
               "persistent_data": True, "job_strict": True, "job_shared": True,
               "job_shared_output": "/tmp/nr-shared/renders/"},
}
panels = [name for name in dir(bpy.types) if name.startswith("NETRENDER_PT_")]
found: dict = {"engines": engines, "panels": sorted(panels), "values": {}, "visible": {}}
for mode, values in VALUES.items():
    s.mode = mode
    for name, value in values.items():
        setattr(s, name, value)
    found["values"][mode] = {name: getattr(s, name) for name in values}
    found["visible"][mode] = sorted(p for p in panels if getattr(bpy.types, p).poll(bpy.context))
operators = ["netclientanim", "netclientsend", "netclientsendframe", "netclientbake", "netclientstatus",
             "netclientslaves", "netclientblacklistslave", "netclientwhitelistslave", "netclientcancel",
             "netclientcancelall", "netclientdownload", "netclientscan", "netclientweb", "netservicestart"]
found["operators"] = {op: hasattr(bpy.ops.render, op) and getattr(bpy.ops.render, op).poll() for op in operators}
found["expected"] = VALUES
from netrender.addon import props  # noqa: E402

slave = props.slave_config(s)
job = props.job_options(scene, [1])
master = props.master_config(s)
found["passed_on"] = {
    "slave": [slave.persistent, slave.on_stop, slave.path_map.to_json()],
    "job": [job.persistent, job.persistent_data, job.strict, job.shared, job.output_dir],
    "master": [[str(p) for p in master.storage_roots], master.path_map.to_json(), master.force_upload],
}
try:  # an unsaved file: the farm bakes the saved .blend, so there is nothing to send
    bpy.ops.render.netclientbake()
    found["bake_unsaved"] = "sent"
except RuntimeError as exc:
    found["bake_unsaved"] = str(exc)
report(found)
