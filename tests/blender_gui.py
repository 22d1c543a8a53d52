# SPDX-License-Identifier: GPL-3.0-or-later
"""Run Blender's real GUI, with the add-on, on a virtual X display: for screenshots and UI checks.

Panels and the render window only exist in the GUI, which ``blender -b``
never opens. :func:`run_gui_script` starts ``Xvfb`` on a free display (Xvfb
picks the number, ``-displayfd``), Blender on it with the add-on enabled (the
user-scripts folder of ``blender_env``) and Mesa's software OpenGL, and a
script from ``tests/in_blender/`` built on ``in_blender/gui.py``:

.. code-block:: python

    from gui import run, screenshot, wait_for, windows

    def steps():
        ...                               # the window is up and drawn already
        bpy.ops.render.render("INVOKE_DEFAULT")
        yield from wait_for(lambda: len(windows()) > 1, what="the render window")
        yield 2.0                         # give the event loop two seconds (tiles arrive)
        screenshot(path, windows()[-1])   # "screenshot now": that window, as it is now
        return {"seen": ...}              # "done": reported to the test, then Blender quits

    run(steps, timeout=60)

Each ``yield`` hands Blender's event loop back for a tick (``yield 2.0``: two
seconds), so a script can wait for anything across as many ticks as it needs.
An exception in the steps, or steps running past their ``timeout``, are
reported and fail :func:`run_gui_script` with the traceback and Blender's
output; so does Blender ending without a report (a crash: its backtrace is
attached) or running over the host's ``timeout``.

What ``bpy.ops.screen.screenshot`` captures: the pixels of *one* Blender
window, the context's, and nothing else (``screenshot_area``: one area of it).
F12 opens the render in a new window by default (``render_display_type =
"WINDOW"``), sized to the render plus its header (991x602 for a 960x540
render, 511x332 for 480x270). The main window's screenshot does not show that
window, even where it lies on top (seen here, with Mesa on Xvfb), and the
render window's screenshot shows only the render window, at its own size.
So either capture that window, ``screenshot(path, windows()[-1])``, or set
``bpy.context.preferences.view.render_display_type = "SCREEN"`` (the render
takes over the whole main window, a maximised Image editor, "Back to
Previous" in the top bar) or ``"AREA"`` (it replaces the biggest area, the 3D
view) before F12, so one screenshot of the main window shows it. The first
capture of a new window comes out black with Mesa; ``gui.screenshot`` takes
a throwaway capture first, so callers need not care.

:func:`read_png` decodes a screenshot with the standard library and NumPy,
to check its size and that it is not blank.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from blender_env import SCRIPTS, blender, blender_env
from numpy.typing import NDArray

XVFB = shutil.which("Xvfb")
SIZE = (1280, 900)
TEMP = "blender-tmp"  # Blender's temp folder, in the folder given: quit.blend, blender.crash.txt


def missing() -> str | None:
    """What the GUI lacks here (with what to install), or ``None`` when it can run."""
    if not XVFB:
        return "Xvfb is not installed (apt-get install xvfb, or scripts/install.sh --test)"
    if not shutil.which("blender"):
        return "blender is not installed"
    return None


@contextmanager
def xvfb(size: tuple[int, int] = SIZE, timeout: float = 15.0) -> Iterator[str]:
    """A virtual X server on a free display, yielding its ``DISPLAY`` (e.g. ``":1"``); stopped afterwards."""
    if not XVFB:
        raise AssertionError(missing())
    read, write = os.pipe()
    with tempfile.TemporaryFile() as errors:
        server = subprocess.Popen(
            [XVFB, "-displayfd", str(write), "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
            pass_fds=[write], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
        )
        os.close(write)
        try:
            ready, _, _ = select.select([read], [], [], timeout)
            number = os.read(read, 64).decode().strip() if ready else ""
            if not number:  # it wrote no display number: it failed, or is still not up
                server.kill()
                server.wait()
                errors.seek(0)
                raise AssertionError(f"Xvfb did not start within {timeout:g} s:\n{errors.read().decode()}")
            yield f":{number}"
        finally:
            os.close(read)
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def gui_env(folder: Path, display: str) -> dict[str, str]:
    """Blender's environment: the add-on, the display, Mesa's software OpenGL, private temp and config folders."""
    env = blender_env(folder)
    env["DISPLAY"] = display
    env["LIBGL_ALWAYS_SOFTWARE"] = "1"  # llvmpipe: OpenGL 3.3 on any machine, and the same pixels
    for name, sub in (("TMPDIR", TEMP), ("BLENDER_USER_CONFIG", "blender-config")):
        (folder / sub).mkdir(exist_ok=True)  # quit.blend, a crash log, preferences: here, not in $HOME or /tmp
        env[name] = str(folder / sub)
    return env


def run_gui_script(folder: Path, script: str, *args: Any, blend: Path | None = None, size: tuple[int, int] = SIZE,
                   timeout: float = 120.0) -> dict[str, Any]:
    """Run ``in_blender/<script>`` (or a script at an absolute path) in Blender's GUI with the add-on.

    The script gets ``args`` then ``--report PATH`` after ``--``; Blender's
    window fills a virtual screen of ``size`` pixels. Returns the report:
    ``findings`` (the dict the steps returned), ``screenshots`` (the paths
    saved, in order) and ``seconds`` (script start to done). Blender's output
    is kept in ``folder/<script>.log``.
    """
    stem = Path(script).stem
    report, log = folder / f"{stem}.json", folder / f"{stem}.log"
    crash = folder / TEMP / "blender.crash.txt"  # where a crashing Blender writes its backtrace
    report.unlink(missing_ok=True)
    crash.unlink(missing_ok=True)
    argv = [blender(), *([str(blend)] if blend else []), "--factory-startup", "--no-window-focus",
            "--addons", "netrender", "--python-exit-code", "1", "--python", str(SCRIPTS / script), "--",
            *map(str, args), "--report", str(report)]
    with xvfb(size) as display, open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=gui_env(folder, display), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            code: int | str = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = f"killed after {timeout:g} s"
    found = json.loads(report.read_text()) if report.is_file() else {"error": "no report"}
    if code != 0 or "error" in found:
        output = log.read_text(errors="replace")[-6000:]
        if crash.is_file():
            output += f"\n--- {crash}:\n{crash.read_text(errors='replace')}"
        raise AssertionError(f"{script} failed in Blender's GUI (exit {code}): {found.get('error')}\n"
                             f"--- Blender's output ({log}):\n{output}")
    return found


def read_png(path: Path) -> NDArray[np.uint8]:
    """The pixels of an 8-bit, non-interlaced PNG (what Blender's screenshots are): height x width x channels."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body, pos = data[pos + 8 : pos + 8 + length], pos + 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or interlace or colour not in (0, 2, 4, 6):
        raise ValueError(f"{path}: only 8-bit, non-interlaced, non-palette PNGs are read here")
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    rows = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, width * bpp + 1)
    pixels = np.zeros((height, width * bpp), np.uint8)
    previous = pixels[0].copy()
    for y in range(height):
        pixels[y] = _unfilter(int(rows[y, 0]), rows[y, 1:], previous, bpp)
        previous = pixels[y]
    return pixels.reshape(height, width, bpp)


def _unfilter(kind: int, line: NDArray[np.uint8], up: NDArray[np.uint8], bpp: int) -> NDArray[np.uint8]:
    """One row, PNG filter undone (None, Sub and Up with NumPy; Average and Paeth byte by byte)."""
    if kind == 0:
        return line
    if kind == 1:
        sums: NDArray[np.uint8] = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8)
        return sums.reshape(-1)
    if kind == 2:
        return line + up
    row, above = bytearray(line.tobytes()), up.tobytes()
    for i in range(len(row)):
        a, b, c = (row[i - bpp], above[i], above[i - bpp]) if i >= bpp else (0, above[i], 0)
        if kind == 3:
            predicted = (a + b) >> 1
        else:  # Paeth
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predicted = a if pa <= pb and pa <= pc else b if pb <= pc else c
        row[i] = (row[i] + predicted) & 0xFF
    return np.frombuffer(bytes(row), np.uint8)


def colours(pixels: NDArray[np.uint8]) -> int:
    """How many distinct colours an image from :func:`read_png` holds."""
    flat = pixels.reshape(-1, pixels.shape[-1]).astype(np.uint32)
    packed = sum(flat[:, i] << (8 * i) for i in range(flat.shape[1]))
    return len(np.unique(packed))
