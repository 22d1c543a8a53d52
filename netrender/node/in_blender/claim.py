# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: render the frames no other process has claimed, into one shared folder.

``netrender render-local FILE --workers N`` starts N Blenders on this; each
claims a frame by creating its file, empty, in one atomic step (``O_EXCL``):
only one process can, so no frame is rendered twice, whoever else writes
there. That empty file is also Blender's own placeholder, so plain Blender
processes with *Placeholders* on and *Overwrite* off skip it too, and skip
the frames they see done; a frame left empty by a crash shows in
``netrender check-frames``.

Arguments after ``--``: the output folder, then the frames. Imports nothing
from netrender.
"""

from __future__ import annotations

import os
import sys

import bpy


def claim(path: str) -> bool:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


def main(argv: list[str]) -> None:
    args = argv[argv.index("--") + 1:]
    folder, frames = args[0], [int(f) for f in args[1:]]
    scene = bpy.context.scene
    scene.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
    scene.render.use_file_extension = False
    rendered = 0
    for frame in frames:
        path = os.path.join(folder, f"{frame:06d}.exr")
        if not claim(path):
            continue
        scene.frame_set(frame)
        scene.render.filepath = path
        bpy.ops.render.render(write_still=True)
        rendered += 1
        print(f"netrender: rendered frame {frame}", flush=True)
    print(f"netrender: {rendered} frame(s) rendered by this worker", flush=True)


main(sys.argv)
