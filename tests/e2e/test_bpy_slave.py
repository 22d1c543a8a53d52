# SPDX-License-Identifier: GPL-3.0-or-later
"""A render node from pip: ``netrender slave --bpy`` renders with the bpy module, no Blender binary."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_farm import netrender
from pixels import differences

from netrender.cli.commands import main
from netrender.client import Client
from netrender.samples import build_scene

pytestmark = pytest.mark.blender
BPY = str(Path(sys.executable).with_name("netrender-bpy"))


def test_a_bpy_slave_renders_like_the_same_bpy_locally(tmp_path: Path, cli_farm: Any) -> None:
    blend = build_scene(tmp_path / "scene" / "shot.blend", blender=BPY, frames=2)
    slave_id = cli_farm.slave("from-pip", "--bpy")
    client = Client(cli_farm.url)
    facts = next(s["facts"] for s in client.slaves() if s["id"] == slave_id)
    assert facts["blender"].startswith("4.5")
    done = netrender("submit", str(blend), "--master", cli_farm.url, "--wait", "--output", str(tmp_path / "farm"))
    assert done.returncode == 0, done.stderr
    for frame in (1, 2):
        subprocess.run([BPY, "-b", str(blend), "-o", str(tmp_path / "local" / "######"), "-F", "OPEN_EXR_MULTILAYER",
                        "-x", "1", "-t", "1", "-f", str(frame)], check=True, capture_output=True, timeout=300)
        assert differences(tmp_path / "farm" / f"{frame:06d}.exr", tmp_path / "local" / f"{frame:06d}.exr") == []


def test_without_bpy_the_slave_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bpy" else real(name, *a))
    assert main(["slave", "--bpy", "--master", "http://127.0.0.1:9"]) == 2
    assert 'pip install "netrender[bpy]"' in capsys.readouterr().err
