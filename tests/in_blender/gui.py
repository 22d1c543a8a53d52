# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender's GUI: run a script's steps on timer ticks, so the interface is up and redrawn between them.

A ``--python`` script runs before Blender opens its window, so a GUI script
cannot act (or take a screenshot) at once. It hands :func:`run` a generator
function instead. Each ``yield`` gives the event loop back to Blender for a
while (``yield``: one short tick; ``yield 2.0``: two seconds), and
``yield from wait_for(...)`` waits for a condition across as many ticks as it
takes. :func:`screenshot` captures a window right now ("screenshot now").
When the generator returns ("done"), the dict it returns is reported (see
``common.report``) and Blender quits. An exception or the timeout reports the
traceback instead, which ``tests/blender_gui.py`` raises with Blender's output.

``bpy.ops.screen.screenshot`` captures only the context's window. A second
window, such as the render window F12 opens by default, is not in the main
window's picture, and the main window is not in the render window's. So
:func:`screenshot` takes the window to capture (``None``: the main one), and
``windows()`` lists them, newest last. If you want the render inside the main
window, set ``bpy.context.preferences.view.render_display_type`` to
``"SCREEN"`` or ``"AREA"`` before you start the render.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from typing import Any

import bpy
from common import report

Steps = Generator[float | None, None, dict[str, Any] | None]
TICK = 0.05  # seconds between steps when a step just yields
_shots: list[str] = []
_captured: set[int] = set()  # windows captured once already


def say(*words: Any) -> None:
    """Print to Blender's output at once, so a killed Blender's log still shows it."""
    print("[gui]", *words, flush=True)


def windows() -> list[Any]:
    """Blender's windows, the main one first and the newest (e.g. a render window) last."""
    return list(bpy.context.window_manager.windows)


def areas(kind: str, window: Any = None) -> list[Any]:
    """The areas of one type (e.g. ``"PROPERTIES"``) in a window (the main one when ``None``)."""
    window = window or windows()[0]
    return [a for a in window.screen.areas if a.type == kind]


def redraw(window: Any = None) -> None:
    """Draw a window now and swap its buffers, so a screenshot shows what was just set."""
    window = window or windows()[0]
    for area in window.screen.areas:
        area.tag_redraw()
    with bpy.context.temp_override(window=window, screen=window.screen):
        bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)


def screenshot(path: str, window: Any = None, area: Any = None) -> str:
    """Save a PNG of one window (the main one when ``None``), or of one of its areas, as it is now.

    Only that window is captured: another window on top of it is not in the picture.
    """
    window = window or windows()[0]
    if window.as_pointer() not in _captured:
        # A window's first capture comes out black with Mesa: its (fake) front buffer is only made
        # when first read, and only filled at the next swap. So the first capture is a throwaway.
        _capture(path, window, area)
        _captured.add(window.as_pointer())
    redraw(window)
    _capture(path, window, area)
    _shots.append(path)
    say("screenshot", path)
    return path


def _capture(path: str, window: Any, area: Any) -> None:
    override: dict[str, Any] = {"window": window, "screen": window.screen}
    if area is not None:
        override["area"] = area
    with bpy.context.temp_override(**override):
        if area is None:
            result = bpy.ops.screen.screenshot(filepath=path, check_existing=False)
        else:
            result = bpy.ops.screen.screenshot_area(filepath=path, check_existing=False)
    if result != {"FINISHED"}:
        raise RuntimeError(f"the screenshot of {path} did not finish: {result}")


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "the condition",
             every: float = TICK) -> Iterator[float]:
    """Yield ticks (use with ``yield from``) until ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        yield every


def run(steps: Callable[[], Steps], timeout: float = 60.0, settle: int = 3) -> None:
    """Run ``steps()`` on timer ticks once the GUI is up; report what it returns, then quit Blender.

    ``settle``: ticks to let the first window draw before the first step;
    ``timeout``: seconds from this call (Blender's start-up included) until the
    steps fail, checked between steps.
    """
    started = time.monotonic()
    state: dict[str, Any] = {"steps": None, "settle": settle}

    def finish(findings: dict[str, Any]) -> None:
        findings["screenshots"] = list(_shots)
        findings["seconds"] = round(time.monotonic() - started, 2)
        report(findings)
        say("done" if "error" not in findings else "failed", findings.get("error", ""))
        bpy.ops.wm.quit_blender()

    def tick() -> float | None:
        try:
            if state["settle"] > 0:
                state["settle"] -= 1
                return TICK
            if state["steps"] is None:
                state["steps"] = steps()
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the steps took over {timeout:g} s")
            delay = next(state["steps"])
            return TICK if delay is None else max(delay, 0.0)
        except StopIteration as done:
            outcome = {"findings": done.value or {}}
        except BaseException:  # noqa: BLE001 - reported to the test, which fails with it
            outcome = {"error": traceback.format_exc()}
        try:
            finish(outcome)
        except BaseException:  # noqa: BLE001 - e.g. findings JSON cannot hold: still report, still quit
            finish({"error": traceback.format_exc()})
        return None

    # --python runs before the splash opens: turned off now, it never covers the screenshots.
    bpy.context.preferences.view.show_splash = False
    say("steps of", sys.argv[sys.argv.index("--python") + 1] if "--python" in sys.argv else "?", "registered")
    bpy.app.timers.register(tick, first_interval=TICK, persistent=True)
