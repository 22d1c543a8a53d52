# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside the slave's Blender: keep the loaded file and render frames on request.

Starting Blender and loading a .blend can cost as much as rendering a short
frame, so ``netrender.node.blender.session_argv`` starts Blender once per job with
this script last (after ``missing.py`` and ``thumbnails.py``, so Blender has
listed what the file lacks and the thumbnail handler is registered). Everything after ``--`` is
ours: the slave's loopback port, then ``--persistent-data`` if asked for. The
token that proves we are the Blender the slave started comes in the
environment variable :data:`TOKEN_ENV` (a command line is visible to every
user on the machine) and is removed from the environment once read.

The conversation, one JSON object per line over the socket:

* us → slave, once: ``{"hello": TOKEN, "pid": …, "file": …, "version": …,
  "adaptive_sampling": {…} or null, "path_guiding": bool}`` (Cycles' adaptive
  sampling makes a pixel depend on its neighbours, so a tile is rendered with a
  margin: ``netrender.common.tiling.adaptive_margin``; path guiding learns
  from every pixel rendered, so no tile can match the whole frame);
* slave → us, once after the hello: ``{"ping": true, "id": K}``; we answer
  ``{"pong": true}`` after the ``<DONE> K`` line below, so every line Blender
  printed while loading (what it could not find, above all) is the slave's
  before it asks for a frame;
* slave → us: ``{"frame": N, "id": K}``; we render frame N and answer
  ``{"frame": N, "path": "/out/00000N.exr", "seconds": s}`` or
  ``{"frame": N, "error": "…", "seconds": s}``; just before answering we
  print ``<DONE> K`` on stdout, so the slave knows which of Blender's lines
  belong to request K;
* a tile of a frame comes as ``{"frame": N, "id": K, "tile": {"border": [min x, max x,
  min y, max y], "denoise_data": bool}}`` (see :func:`tile_of`), and a stitched
  frame to denoise as ``{"frame": N, "id": K, "denoise": {"input": path,
  "output": path}}``; both are answered like a frame; so is ``{"frame": N, "id": K,
  "scale": P}``, the frame rendered at P % of its resolution (a speed test);
* slave → us: ``{"quit": true}``, or the socket closes: we return and
  Blender, having nothing left on its command line, exits.

A frame is rendered by ``bpy.ops.render.render(animation=True)`` over the
range N..N, which runs the very code ``-f N`` runs (``RE_RenderAnim``): the
same output path, the same frame-change evaluation, the same render write
handlers, hence the same pixels. Only the scene's frame range differs while
it renders, and it is put back after. ``write_still`` would take another
path in Blender (``RE_RenderFrame``), which writes the output pattern
literally (``######.exr``) rather than the frame's name.

One thing does carry over from frame to frame, as it does within a chunk
``-f 1,2,3``: an unbaked simulation (rigid body, cloth) steps on from the
frames rendered before. Bake them for the farm.

It imports nothing from netrender: the slave's Blender does not have the package.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import bpy

TOKEN_ENV = "NETRENDER_SESSION_TOKEN"
#: Printed (with the request's id) once a request is done, before its answer is sent.
DONE = "netrender session: done"
#: Printed when the session cannot start at all; Blender then exits with :data:`EXIT_FAILED`.
FAILED = "netrender session failed:"
EXIT_FAILED = 3
CONNECT_TIMEOUT = 30.0


def options(argv: list[str]) -> tuple[int, bool]:
    """The port and the persistent-data flag from what follows Blender's own ``--``."""
    args = argv[argv.index("--") + 1 :] if "--" in argv else []
    if not args:
        raise ValueError("no port after '--'")
    return int(args[0]), "--persistent-data" in args[1:]


def flush_output() -> None:
    """Push Blender's C-level prints out too, so they reach the pipe before our marker.

    Blender's release builds buffer ``stdout`` when it is a pipe; Python's own
    buffer is separate. Best effort: where the C library cannot be reached
    (Windows), lines merely land in the next request's share of the log.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform != "win32":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).fflush(None)


def render_frame(scene: Any, frame: int) -> dict[str, Any]:
    """Render ``frame`` exactly as ``-f`` would and write it where ``-o`` says; the answer to send."""
    path = bpy.path.abspath(scene.render.frame_path(frame=frame))
    start, end = scene.frame_start, scene.frame_end
    started = time.monotonic()
    try:
        # A file left over from an earlier attempt would make "was it written?" lie, and
        # a scene without "overwrite" would skip the frame altogether.
        if os.path.isfile(path):
            os.remove(path)
        # End first: each setter drags the other along when they would cross.
        scene.frame_end = frame
        scene.frame_start = frame
        result = bpy.ops.render.render(animation=True)
    except RuntimeError as exc:  # how Blender's own reports come: "Error: Cannot render, no camera"
        return {"frame": frame, "error": str(exc).strip(), "seconds": time.monotonic() - started}
    except Exception as exc:
        return {"frame": frame, "error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - started}
    finally:
        scene.frame_end = end
        scene.frame_start = start
    seconds = time.monotonic() - started
    if "FINISHED" not in result or not os.path.isfile(path):
        return {"frame": frame, "error": f"Blender did not write frame {frame} to {path} ({', '.join(result)})",
                "seconds": seconds}
    return {"frame": frame, "path": path, "seconds": seconds}


@contextlib.contextmanager
def tile_of(scene: Any, border: list[float], denoise_data: bool) -> Iterator[None]:
    """For one tile: Cycles renders only ``border`` (Blender's fractions), cropped, and not denoised.

    A tile is never denoised on its own (the seams would show): with
    ``denoise_data`` it keeps the passes the denoiser needs, and the stitched
    frame is denoised whole. Everything is put back after, for the next request.
    """
    render, layers = scene.render, list(scene.view_layers)
    saved = (render.use_border, render.use_crop_to_border, render.border_min_x, render.border_max_x,
             render.border_min_y, render.border_max_y, scene.cycles.use_denoising,
             [(layer.cycles.denoising_store_passes, layer.use_pass_vector) for layer in layers])
    try:
        render.use_border = render.use_crop_to_border = True
        render.border_min_x, render.border_max_x, render.border_min_y, render.border_max_y = border
        scene.cycles.use_denoising = False
        for layer in layers if denoise_data else ():
            layer.cycles.denoising_store_passes = layer.use_pass_vector = True
        yield
    finally:
        (render.use_border, render.use_crop_to_border, render.border_min_x, render.border_max_x,
         render.border_min_y, render.border_max_y, scene.cycles.use_denoising, passes) = saved
        for layer, (store, vector) in zip(layers, passes, strict=True):
            layer.cycles.denoising_store_passes, layer.use_pass_vector = store, vector


@contextlib.contextmanager
def scaled(scene: Any, percent: int) -> Iterator[None]:
    """The scene rendered at ``percent`` of its resolution, then put back."""
    before = scene.render.resolution_percentage
    scene.render.resolution_percentage = percent
    try:
        yield
    finally:
        scene.render.resolution_percentage = before


def denoise(frame: int, source: str, target: str) -> dict[str, Any]:
    """Denoise a whole stitched frame with the scene's own denoising settings, as Cycles' Denoise Animation does."""
    started = time.monotonic()
    try:
        if os.path.isfile(target):
            os.remove(target)
        bpy.ops.cycles.denoise_animation(input_filepath=source, output_filepath=target)
    except Exception as exc:  # Blender's reports come as RuntimeError: "Error: Could not find a render layer…"
        return {"frame": frame, "error": str(exc).strip() or type(exc).__name__, "seconds": time.monotonic() - started}
    if not os.path.isfile(target):
        return {"frame": frame, "error": f"Blender did not write the denoised frame {frame} to {target}",
                "seconds": time.monotonic() - started}
    return {"frame": frame, "path": target, "seconds": time.monotonic() - started}


def answer(request: Any) -> dict[str, Any] | None:
    """The reply to one request; ``None`` when the slave is done with us."""
    if not isinstance(request, dict):
        return {"error": f"not a request: {request!r}"}
    if request.get("quit"):
        return None
    if request.get("ping"):
        return {"pong": True}
    frame = request.get("frame")
    if isinstance(frame, bool) or not isinstance(frame, int):
        return {"error": f"not a frame request: {request!r}"}
    if isinstance(request.get("denoise"), dict):
        return denoise(frame, str(request["denoise"]["input"]), str(request["denoise"]["output"]))
    scale = request.get("scale")
    if isinstance(scale, int) and not isinstance(scale, bool) and 0 < scale <= 100:
        with scaled(bpy.context.scene, scale):  # a speed test of the file: a small version of its frame
            return render_frame(bpy.context.scene, frame)
    tile = request.get("tile")
    if isinstance(tile, dict):
        with tile_of(bpy.context.scene, [float(x) for x in tile["border"]], bool(tile.get("denoise_data"))):
            return render_frame(bpy.context.scene, frame)
    return render_frame(bpy.context.scene, frame)


def serve(sock: socket.socket) -> None:
    """Answer requests until told to quit or the slave goes away."""
    with sock.makefile("r", encoding="utf-8", newline="\n") as requests:
        for line in requests:
            try:
                request = json.loads(line)
            except ValueError:
                request = line.strip()
            reply = answer(request)
            if reply is None:
                return
            flush_output()  # Blender's lines for this request first, then the marker that closes them
            print(f"{DONE} {request.get('id') if isinstance(request, dict) else None}", flush=True)
            sock.sendall((json.dumps(reply) + "\n").encode("utf-8"))


def adaptive_sampling(scene: Any) -> dict[str, Any] | None:
    """The scene's adaptive sampling settings, for the tile margin (``None``: not used)."""
    cycles = getattr(scene, "cycles", None)
    if scene.render.engine != "CYCLES" or cycles is None or not cycles.use_adaptive_sampling:
        return None
    exact = not getattr(cycles, "use_sample_subset", False) and not getattr(cycles, "time_limit", 0.0)
    layers = [layer.samples for layer in scene.view_layers if getattr(layer, "samples", 0) > 0]
    return {"samples": sorted({cycles.samples, *layers}), "threshold": cycles.adaptive_threshold,
            "min_samples": cycles.adaptive_min_samples, "exact": exact}


def path_guiding(scene: Any) -> bool:
    """Whether Cycles learns where light comes from as it renders (Blender 3.4+): tiles then cannot match."""
    cycles = getattr(scene, "cycles", None)
    return scene.render.engine == "CYCLES" and bool(getattr(cycles, "use_guiding", False))


def connect(port: int, token: str) -> socket.socket:
    """Call the slave back and say who we are; it hangs up on anyone without the token."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT)
    sock.settimeout(None)
    hello = {"hello": token, "pid": os.getpid(), "file": bpy.data.filepath, "version": bpy.app.version_string,
             "adaptive_sampling": adaptive_sampling(bpy.context.scene), "path_guiding": path_guiding(bpy.context.scene)}
    sock.sendall((json.dumps(hello) + "\n").encode("utf-8"))
    return sock


def die_with_parent() -> None:
    """Linux: end with whoever started this Blender, never render on for nobody.

    The slave starts Blender with this already; over SSH the parent is the
    server's session process, which ends when the connection is cut.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def main() -> None:
    die_with_parent()
    try:
        port, persistent_data = options(sys.argv)
        token = os.environ.pop(TOKEN_ENV)
        if persistent_data:
            bpy.context.scene.render.use_persistent_data = True
        sock = connect(port, token)
    except Exception as exc:
        print(f"{FAILED} {type(exc).__name__}: {exc}", flush=True)
        sys.exit(EXIT_FAILED)
    with sock:
        serve(sock)


if __name__ == "__main__":
    main()
