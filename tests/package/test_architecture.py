# SPDX-License-Identifier: GPL-3.0-or-later
"""The rooms of the package and who may import whom: import-linter's contracts (``pyproject.toml``) hold,
and each kind of forbidden import breaks them.

The broken cases run lint-imports on a copy of the package with one import
added, so the contracts are shown to catch what they are there for, not only
to pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import netrender

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as m; sys.exit(m())"]
ROOMS = ["common", "farm", "server", "node", "pack", "ssh", "cli", "discovery", "addon", "web", "samples"]


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the package in ``folder`` (its own copy first on the path), with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(folder)}
    return subprocess.run([*LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("farm/dispatch.py", "from ..server import api", "Rooms stand on the ones below them"),
    ("node/outbox.py", "from ..farm import jobs", "Rooms stand on the ones below them"),
    ("ssh/mirror.py", "from ..master import MasterServer", "Rooms stand on the ones below them"),
    ("common/model.py", "from .. import client", "Rooms stand on the ones below them"),
    ("farm/results.py", "import bpy", "Only the add-on, and what runs inside Blender, imports Blender's modules"),
    ("node/in_blender/driver.py", "from netrender.common import errors", "What runs inside Blender imports nothing"),
    ("stray.py", "", "Rooms stand on the ones below them"),  # a module at the top that no layer names
])
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    shutil.copytree(ROOT / "netrender", tmp_path / "netrender", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "netrender" / module
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}\n")
    result = lint(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and contract in result.stdout.replace("\n", " "), result.stdout


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_says_what_it_is_for(room: str) -> None:
    init = Path(netrender.__file__).parent / room / "__init__.py"
    text = init.read_text(encoding="utf-8")
    assert text.startswith("# SPDX-License-Identifier: GPL-3.0-or-later\n\"\"\""), init
    doc = text.split('"""')[1]
    assert len(doc.split()) >= 8, f"{init}: say in a few lines what the room is for"
