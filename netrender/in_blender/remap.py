# SPDX-License-Identifier: GPL-3.0-or-later
"""Run inside the slave's Blender: point the file's outside dependencies at the job's copies.

The client named every file that sat outside the .blend's folder (or that the
.blend wrote as an absolute path) ``_outside/<hash>/<name>``; the slave writes
the mapping to a JSON file named by ``NETRENDER_REMAP`` and passes this script
with ``--python`` after the .blend, so it runs once the file is loaded and
before rendering. It imports nothing from netrender: the slave's Blender does
not have the package.
"""

import json
import os

import bpy

COLLECTIONS = ("images", "movieclips", "sounds", "fonts", "volumes", "cache_files")


def remap() -> int:
    """Repoint every datablock whose path the job remaps; return how many changed."""
    with open(os.environ["NETRENDER_REMAP"], encoding="utf-8") as fh:
        plan = json.load(fh)
    root, names = plan["root"], plan["remap"]
    changed = 0
    for library in bpy.data.libraries:
        if library.filepath in names:
            library.filepath = os.path.join(root, names[library.filepath])
            library.reload()
            changed += 1
    for collection in COLLECTIONS:
        for block in getattr(bpy.data, collection, ()):
            written = getattr(block, "filepath", "")
            if written in names and block.library is None:
                block.filepath = os.path.join(root, names[written])
                if hasattr(block, "reload"):
                    block.reload()
                changed += 1
    return changed


try:
    print(f"netrender remap: {remap()} path(s) now point into the job's files")
except Exception as exc:  # a render without its textures is better than no render: say so loudly
    print(f"netrender remap failed: {type(exc).__name__}: {exc}")
