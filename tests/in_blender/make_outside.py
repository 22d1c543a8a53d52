# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: point the texture scene's image at a file outside its folder, then save.

Arguments: TEXTURE OUT.blend MODE, where MODE is ``absolute`` or ``relative``
(``//../...``, climbing out of the .blend's folder).
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

texture, out, mode = args()
bpy.ops.wm.save_as_mainfile(filepath=out)  # relpath() needs the file's final place
image = bpy.data.images["checker"]
image.filepath = texture if mode == "absolute" else bpy.path.relpath(texture)
bpy.ops.wm.save_as_mainfile(filepath=out, relative_remap=False)
report({"written": image.filepath})
