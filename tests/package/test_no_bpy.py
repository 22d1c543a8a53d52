# SPDX-License-Identifier: GPL-3.0-or-later
"""The core runs without Blender: importing it never imports bpy."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import netrender


def core_modules() -> list[str]:
    """Every module of the package but the add-on and what runs inside Blender (which import bpy on purpose)."""
    inside_blender = ("netrender.addon", "netrender.node.in_blender", "netrender.samples.make_scene")
    found = [m.name for m in pkgutil.walk_packages(netrender.__path__, "netrender.")]
    return ["netrender", *sorted(m for m in found if not m.startswith(inside_blender) and m != "netrender.__main__")]


CORE = core_modules()

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
