# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender's command line, for a machine that has Blender only as the ``bpy`` module.

``pip install bpy`` gives Blender as a Python module with no ``blender``
executable, and some builds have what others lack (Debian's Blender 3.4 has
no Alembic; the bpy 4.5 wheel has it). The farm starts Blender with a command
line (:func:`netrender.node.blender.render_argv`, ``session_argv``), so this file
reads the same arguments in the same order and does what Blender would with
them, in the bpy module. It is installed as the ``netrender-bpy`` command, so
``netrender slave --blender netrender-bpy`` renders with the module.

Only the arguments the farm and its tests use are understood; any other is
refused with exit code 2 rather than silently ignored. As in Blender, the
options act in order: the file loads where it is named, ``-o``/``-F``/``-E``
change its scene, ``--python`` runs a script then, and ``-f`` renders. A
frame is rendered the way ``-f`` does it (an animation render over N..N), so
its name and handlers are those of Blender's own ``-f``.

Like the other files of ``in_blender/`` it imports nothing of netrender.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Iterator

import bpy

#: Blender's exit code for arguments it cannot parse.
EXIT_USAGE = 2
#: Switches that change nothing here: background is the only mode a module has.
IGNORED = {"-b", "--background", "--factory-startup", "-noaudio", "--disable-autoexec", "--enable-autoexec"}


class Usage(Exception):
    pass


def frames_of(text: str) -> Iterator[int]:
    """``-f``'s frames: ``1``, ``1,3``, ``1..4`` (Blender's range syntax)."""
    for part in text.split(","):
        first, sep, last = part.partition("..")
        try:
            low, high = int(first), int(last) if sep else int(first)
        except ValueError:
            raise Usage(f"'-f {text}': not a frame, a list or a range like 1..4") from None
        yield from range(low, high + 1)


def render_frame(frame: int) -> None:
    """What ``blender -f N`` does: an animation render of the one frame N, written to the output pattern."""
    scene = bpy.context.scene
    start, end = scene.frame_start, scene.frame_end
    try:
        scene.frame_end = frame  # end first: each setter drags the other along when they would cross
        scene.frame_start = frame
        bpy.ops.render.render(animation=True)
    finally:
        scene.frame_end = end
        scene.frame_start = start


def load(path: str, autoexec: bool) -> None:
    if not os.path.isfile(path):
        print(f"Error: Cannot read file '{os.path.abspath(path)}': No such file or directory", flush=True)
        raise SystemExit(1)
    bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path), load_ui=False, use_scripts=autoexec)


def run_script(path: str, argv: list[str], exit_code: int | None) -> None:
    """``--python``: the script sees ``sys.argv`` as it would in Blender, its own arguments after ``--``."""
    sys.argv = argv
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit:
        raise
    except Exception:
        import traceback

        traceback.print_exc()
        if exit_code is not None:
            raise SystemExit(exit_code) from None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    full = ["blender", *args]  # what a script reading sys.argv expects to find
    ours = args[: args.index("--")] if "--" in args else args
    autoexec = "--enable-autoexec" in ours
    print(f"Blender {bpy.app.version_string} (the bpy module, through netrender-bpy)", flush=True)
    exit_code: int | None = None
    i = 0
    try:
        while i < len(ours):
            arg = ours[i]
            value = ours[i + 1] if i + 1 < len(ours) else None
            i += 1
            if arg in IGNORED:
                continue
            if not arg.startswith("-"):
                load(arg, autoexec)
                continue
            if value is None:
                raise Usage(f"{arg} needs a value")
            i += 1
            scene = bpy.context.scene
            if arg in ("-E", "--engine"):
                scene.render.engine = value
            elif arg in ("-t", "--threads"):
                scene.render.threads_mode = "AUTO" if value == "0" else "FIXED"
                if value != "0":
                    scene.render.threads = int(value)
            elif arg in ("-o", "--render-output"):
                scene.render.filepath = value
            elif arg in ("-F", "--render-format"):
                scene.render.image_settings.file_format = value
            elif arg in ("-x", "--use-extension"):
                scene.render.use_file_extension = value == "1"
            elif arg == "--python-exit-code":
                exit_code = int(value)
            elif arg in ("-P", "--python"):
                run_script(value, full, exit_code)
            elif arg == "--python-expr":
                sys.argv = full
                exec(compile(value, "<string>", "exec"), {"__name__": "__main__"})
            elif arg in ("-f", "--render-frame"):
                for frame in frames_of(value):
                    render_frame(frame)
            else:
                raise Usage(f"{arg} is not an option netrender-bpy understands")
    except Usage as exc:
        print(f"netrender-bpy: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except (RuntimeError, ValueError, TypeError) as exc:  # a bad engine, format or frame, as Blender reports it
        print(f"Error: {exc}", flush=True)
        return 1
    finally:
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
