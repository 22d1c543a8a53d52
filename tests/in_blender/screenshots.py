# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender's GUI: the Render properties with Network Render in each mode, saved as the docs' screenshots.

One window, one big Properties editor on the Render tab (the other editors
closed, the top bar kept so it still looks like Blender), filled in like a
studio's farm. For each mode it saves ``render-<mode>.png`` in the folder given
and reports which Network Render panels poll true and which were really drawn.
"""

import os
import sys
from pathlib import Path
from typing import Any

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args  # noqa: E402
from gui import Steps, areas, redraw, run, screenshot, windows  # noqa: E402

OUT = Path(args()[0])
UI_SCALE = 1.0
NETWORK = {"server_address": "192.168.1.10", "server_port": 8000, "use_ssl": False,
           "token_file": "/mnt/projects/farm.token"}
VALUES: dict[str, dict[str, Any]] = {  # the status lines are what the add-on's own buttons report
    "CLIENT": {"path": "/home/maya/renders/", "job_name": "sh010_lighting", "job_category": "lighting",
               "job_tags": "gpu;cycles", "job_render_engine": "CYCLES", "priority": 3, "chunks": 5,
               "persistent": True, "persistent_data": True, "save_before_job": True, "job_strict": False,
               "job_shared": True, "job_shared_output": "/mnt/projects/sh010/renders/", "job_id": 12,
               "status": "job 12 sent: 120 frame(s), 37 file(s) uploaded (48213504 bytes)"},
    "MASTER": {"path": "/srv/netrender/master/", "use_broadcast": True, "force_upload": False, "master_clear": False,
               "storage_root": "/mnt/projects/", "path_map": "P:\\projects=/mnt/projects", "status": ""},
    "SLAVE": {"path": "/var/tmp/netrender/", "slave_tags": "gpu;cycles;linux", "slave_clear": True,
              "slave_thumb": False, "slave_persistent": True, "slave_on_stop": "finish", "slave_outputlog": False,
              "slave_threads": 0, "path_map": "P:\\projects=/mnt/projects",
              "status": "master found at http://192.168.1.10:8000"},
}
SLAVES = [("render-01", "192.168.1.21", "rendering"), ("render-02", "192.168.1.22", "rendering"),
          ("render-03", "192.168.1.23", "idle")]
BLACKLIST = [("render-07", "192.168.1.27", "idle")]
JOBS = [(12, "sh010_lighting", "running", 45, 120), (11, "sh009_comp", "finished", 96, 96),
        (13, "sh020_fx_smoke", "queued", 0, 240)]
drawn: set[str] = set()


def record_draws() -> list[str]:
    """Wrap each Network Render panel's ``draw``, so the report says what Blender really drew."""
    names = sorted(name for name in dir(bpy.types) if name.startswith("NETRENDER_PT_"))
    for name in names:
        cls = getattr(bpy.types, name)
        cls.draw = recording(name, cls.draw)
    return names


def recording(name: str, original: Any) -> Any:
    # Exactly (self, context): Blender passes as many arguments as the function's code declares,
    # so extra defaulted parameters would crash it.
    def draw(self: Any, context: Any) -> None:
        drawn.add(name)
        original(self, context)

    return draw


def one_properties_editor() -> Any:
    """Close every editor but the 3D view and turn it into the Properties editor; one workspace tab."""
    window = windows()[0]
    # The workspace tabs do not fit a 1000 px top bar: keep the current one, as a trimmed startup file would.
    bpy.data.batch_remove([w for w in bpy.data.workspaces if w != window.workspace])
    for kind in ("DOPESHEET_EDITOR", "OUTLINER", "PROPERTIES"):
        for area in areas(kind, window):
            with bpy.context.temp_override(window=window, screen=window.screen, area=area):
                bpy.ops.screen.area_close()
    (area,) = areas("VIEW_3D", window)
    area.ui_type = "PROPERTIES"
    return area


def fill_lists(s: Any) -> None:
    for items, rows in ((s.slaves, SLAVES), (s.slaves_blacklist, BLACKLIST)):
        items.clear()
        for name, address, state in rows:
            item = items.add()
            item.name, item.slave_id, item.address, item.state = name, name, address, state
    s.jobs.clear()
    for job_id, name, status, done, total in JOBS:
        item = s.jobs.add()
        item.job_id, item.name, item.status, item.done, item.total = job_id, name, status, done, total
    s.active_job_index = 0


def steps() -> Steps:
    bpy.context.preferences.view.ui_scale = UI_SCALE
    panels = record_draws()
    area = one_properties_editor()
    yield 0.5
    space = area.spaces.active
    space.context = "RENDER"
    scene = bpy.context.scene
    scene.render.engine = "NET_RENDER"
    s = scene.network_render
    fill_lists(s)
    found: dict[str, Any] = {"panels": panels, "engine": scene.render.engine, "modes": {}}
    for mode, values in VALUES.items():
        s.mode = mode
        for name, value in {**NETWORK, **values}.items():
            setattr(s, name, value)
        redraw()
        yield 0.2
        drawn.clear()
        redraw()
        yield None
        path = screenshot(str(OUT / f"render-{mode.lower()}.png"))
        found["modes"][mode] = {
            "screenshot": path, "context": space.context, "area": [area.type, area.width, area.height],
            "window": [windows()[0].width, windows()[0].height],
            "poll": sorted(p for p in panels if getattr(bpy.types, p).poll(bpy.context)),
            "drawn": sorted(drawn),
        }
    return found


run(steps)
