# SPDX-License-Identifier: GPL-3.0-or-later
"""The core runs without Blender: importing it never imports bpy."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = ["netrender", "netrender.master", "netrender.slave", "netrender.client", "netrender.balancing",
        "netrender.farm", "netrender.store", "netrender.api", "netrender.cli", "netrender.demo",
        "netrender.packer", "netrender.hashcache", "netrender.blender", "netrender.samples", "netrender.web",
        "netrender.thumbnail", "netrender.dispatch", "netrender.store", "netrender.session",
        "netrender.session_io", "netrender.rendering", "netrender.courier", "netrender.store.tally",
        "netrender.results", "netrender.slave_config", "netrender.roster", "netrender.store.frames",
        "netrender.httpserver", "netrender.progress"]

# A finder that makes any bpy import fail loudly, then a check that none was even attempted.
PROBE = """
import sys
class NoBpy:
    def find_spec(self, name, path=None, target=None):
        if name == "bpy" or name.startswith(("bpy.", "bpy_")):
            raise ImportError("the core imported " + name)
sys.meta_path.insert(0, NoBpy())
import importlib
importlib.import_module({module!r})
assert not [m for m in sys.modules if m == "bpy" or m.startswith("bpy")], sorted(sys.modules)
"""


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_without_bpy(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_probe_catches_a_bpy_import() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE.format(module="bpy")], capture_output=True, text=True)
    assert result.returncode != 0 and "the core imported bpy" in result.stderr
