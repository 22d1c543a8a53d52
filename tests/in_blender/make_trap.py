# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: save the open scene with an auto-run script that writes a marker file.

Arguments: MARKER OUT.blend. The script is a registered text block, which
Blender runs when it loads the file, if auto-run is allowed.
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from common import args, report  # noqa: E402

marker, out = args()
text = bpy.data.texts.new("trap.py")
text.write(f"open({marker!r}, 'a').write('the trap ran\\n')\n")
text.use_module = True
bpy.ops.wm.save_as_mainfile(filepath=out)
report({"saved": out})
