# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender's GUI: F12 on a Network Render client scene with tiles, captured part-way and at the end.

Arguments: OUT_DIR MASTER_URL SHOWN. The open .blend is a client scene
(``make_blend.py`` with tiles). The render takes over the main window
(``render_display_type = "SCREEN"``). Once ``SHOWN`` tiles have reached this
Blender, the script pauses the job on the master, so the picture is surely
part-way, waits for the tiles already handed out, captures ``render-tiles.png``,
resumes the job and captures ``render-tiles-done.png`` when the render
completes. It reports the job's tiles at each capture.
"""

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args  # noqa: E402
from gui import Steps, run, screenshot, wait_for, windows  # noqa: E402

out, url, wanted = args()
OUT, SHOWN = Path(out), int(wanted)
finished: list[str] = []
bpy.app.handlers.render_complete.append(lambda *_: finished.append("complete"))


def api(path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url + path, method=method, data=b"{}" if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def tiles() -> dict[str, int]:
    jobs = api("/api/jobs")["jobs"]
    if not jobs:
        return {}
    detail = api(f"/api/jobs/{jobs[0]['id']}")
    found: dict[str, int] = {"job": detail["id"]}
    for task in detail["frames"]:
        if task["task"]["kind"] == "tile":
            found[task["status"]] = found.get(task["status"], 0) + 1
    return found


def shown() -> list[str]:
    """The tiles the engine fetched into the render result, as it saves each before drawing it."""
    folder = Path(bpy.path.abspath(bpy.context.scene.network_render.path)) / "netrender_client"
    return sorted(p.name for p in folder.glob("job_*/tiles/*.exr"))


def fit_the_render() -> None:
    """Zoom the render to fill its editor, as View > Frame All does, so the picture shows the tiles."""
    main = windows()[0]
    for area in main.screen.areas:
        if area.type == "IMAGE_EDITOR":
            region = next(r for r in area.regions if r.type == "WINDOW")
            with bpy.context.temp_override(window=main, screen=main.screen, area=area, region=region):
                bpy.ops.image.view_all(fit_view=True)


def steps() -> Steps:
    bpy.context.preferences.view.render_display_type = "SCREEN"
    main = windows()[0]
    with bpy.context.temp_override(window=main, screen=main.screen):
        result = bpy.ops.render.render("INVOKE_DEFAULT")
    assert result == {"RUNNING_MODAL"}, result
    yield from wait_for(lambda: len(shown()) >= SHOWN, timeout=120, what=f"{SHOWN} tiles in the render window")
    job = tiles()["job"]
    api(f"/api/jobs/{job}/pause", "POST")
    yield from wait_for(lambda: "dispatched" not in tiles(), timeout=60, what="the tiles handed out to finish")
    yield from wait_for(lambda: len(shown()) == tiles().get("done", 0), timeout=30, what="the engine to draw them")
    fit_the_render()
    yield 1.0  # a redraw of the image editor
    found: dict[str, Any] = {"part_way": {**tiles(), "shown": len(shown()), "finished": bool(finished),
                                          "screenshot": screenshot(str(OUT / "render-tiles.png"))}}
    api(f"/api/jobs/{job}/resume", "POST")
    yield from wait_for(lambda: finished, timeout=120, what="the render to complete")
    fit_the_render()
    yield 1.0
    found["done"] = {**tiles(), "shown": len(shown()), "status": api(f"/api/jobs/{job}")["status"],
                     "screenshot": screenshot(str(OUT / "render-tiles-done.png"))}
    found["windows"] = [[w.width, w.height, sorted(a.type for a in w.screen.areas)] for w in windows()]
    return found


run(steps, timeout=240)
