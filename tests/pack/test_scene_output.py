# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a scene writes its frames and how it names them, read from the .blend without Blender."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netrender.pack.scene import output

pytestmark = pytest.mark.blender


def test_the_output_folder_and_pattern_follow_blenders_settings(tmp_path: Path) -> None:
    script = ("import bpy, sys; s = bpy.context.scene; d = sys.argv[-1]\n"
              "s.render.filepath = '//render/shot_'; s.render.image_settings.file_format = 'PNG'\n"
              "bpy.ops.wm.save_as_mainfile(filepath=d + '/png.blend')\n"
              "s.render.filepath = '/elsewhere/f_###_x'; s.render.use_file_extension = False\n"
              "s.render.image_settings.file_format = 'OPEN_EXR'\n"
              "bpy.ops.wm.save_as_mainfile(filepath=d + '/exr.blend')\n")
    subprocess.run(["blender", "-b", "--factory-startup", "--python-expr", script, "--", str(tmp_path)],
                   check=True, capture_output=True, timeout=120)
    assert output(tmp_path / "png.blend") == (tmp_path / "render", "shot_####.png")
    assert output(tmp_path / "exr.blend") == (Path("/elsewhere"), "f_###_x")
