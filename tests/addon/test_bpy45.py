# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on registers and unregisters cleanly in Blender 4.5 LTS (the ``bpy`` module)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HAVE_BPY = importlib.util.find_spec("bpy") is not None

# Run in a child: bpy is a whole Blender, and must not load into the test process.
SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
import bpy
import netrender
assert bpy.app.version[:2] == (4, 5), bpy.app.version_string
for round in range(2):  # twice: unregistering must leave nothing behind that blocks registering again
    netrender.register()
    scene = bpy.context.scene
    scene.render.engine = "NET_RENDER"
    assert scene.network_render.mode == "CLIENT"
    assert hasattr(bpy.types, "NETRENDER_PT_network") and hasattr(bpy.ops.render, "netclientsend")
    assert bpy.ops.render.netclientbake.poll()
    netrender.unregister()
    assert not hasattr(bpy.types.Scene, "network_render")
    assert not hasattr(bpy.types, "NETRENDER_PT_network")
    try:
        scene.render.engine = "NET_RENDER"
    except TypeError:
        pass  # the engine is gone from the Render Engine choices
    else:
        raise AssertionError("NET_RENDER can still be selected after unregister")
print("registered and unregistered twice in", bpy.app.version_string)
"""


@pytest.mark.skipif(not HAVE_BPY and not os.environ.get("CI"), reason="bpy 4.5 is not installed")
def test_the_add_on_registers_and_unregisters_in_blender_4_5() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(repo=str(REPO))], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "registered and unregistered twice in 4.5" in result.stdout
