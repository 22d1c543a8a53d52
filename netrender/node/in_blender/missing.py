# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside the slave's Blender: have Blender say which files the loaded .blend names but cannot find.

``netrender.node.blender`` passes this file first with ``--python``, after the
.blend has loaded and before anything renders. Blender's own check walks every
path the file and its libraries hold (images, libraries, caches, fonts,
sounds, volumes, modifiers), each resolved against the file that wrote it, and
prints one line per missing file::

    Warning: Path '/…/job_3/files/assets/props/textures/skin.png' not found

The slave reads those lines from Blender's output and fails the frames when
one names a file the job carries (``netrender.node.blender.missing_sent``): its
copy is incomplete, so the pixels would be wrong. Files the client itself
could not find are named too, and are expected.

It imports nothing from netrender: the slave's Blender does not have the package.
"""

import bpy

try:
    bpy.ops.file.report_missing_files()
except RuntimeError as exc:  # never worth failing the render: the slave then has no list, as before
    print(f"netrender: Blender could not check for missing files: {exc}")
