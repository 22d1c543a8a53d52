# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender's GUI: F12 on a small tiled Cycles still, and what a screenshot of each window shows.

The pattern a render-window screenshot needs (start the render, wait across
ticks for its window and its tiles, capture that window), and the evidence for
what ``bpy.ops.screen.screenshot`` captures: first with the render in its own
window (Blender's default), then with ``render_display_type = "SCREEN"``, the
render taking over the main window. Saves ``window-main.png``,
``window-render.png`` and ``screen-main.png`` in the folder given.
"""

import os
import sys
from pathlib import Path
from typing import Any

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args  # noqa: E402
from gui import Steps, run, screenshot, wait_for, windows  # noqa: E402

OUT = Path(args()[0])
finished: list[str] = []
bpy.app.handlers.render_complete.append(lambda *_: finished.append("complete"))


def f12(display: str) -> None:
    bpy.context.preferences.view.render_display_type = display
    finished.clear()
    main = windows()[0]
    with bpy.context.temp_override(window=main, screen=main.screen):
        result = bpy.ops.render.render("INVOKE_DEFAULT")
    assert result == {"RUNNING_MODAL"}, result


def shape(window: Any) -> dict[str, Any]:
    return {"size": [window.width, window.height], "areas": sorted(a.type for a in window.screen.areas)}


def steps() -> Steps:
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.use_denoising = 4, False
    scene.cycles.use_auto_tile, scene.cycles.tile_size = True, 32  # many tiles, as a farm's tiled still
    scene.render.resolution_percentage = 25
    found: dict[str, Any] = {}

    f12("WINDOW")
    yield from wait_for(lambda: len(windows()) > 1, timeout=20, what="the render window")
    yield from wait_for(lambda: finished, timeout=60, what="the render to finish")
    yield 0.3  # the last tiles drawn
    found["window"] = {"windows": [shape(w) for w in windows()],
                       "main": screenshot(str(OUT / "window-main.png")),
                       "render": screenshot(str(OUT / "window-render.png"), windows()[-1])}
    render_window = windows()[-1]
    with bpy.context.temp_override(window=render_window, screen=render_window.screen):
        bpy.ops.wm.window_close()
    yield from wait_for(lambda: len(windows()) == 1, timeout=10, what="the render window to close")

    f12("SCREEN")
    yield from wait_for(lambda: finished, timeout=60, what="the second render to finish")
    yield 0.3
    found["screen"] = {"windows": [shape(w) for w in windows()], "main": screenshot(str(OUT / "screen-main.png"))}
    return found


run(steps, timeout=100)
