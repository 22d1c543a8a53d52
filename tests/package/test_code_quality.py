# SPDX-License-Identifier: GPL-3.0-or-later
"""ruff, mypy and the size of modules as tests, so they are checked wherever the tests run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A module is small enough to read at a sitting; past this it is two nouns and gets split (issue 14).
MAX_MODULE_BYTES = 15_000


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def modules() -> list[Path]:
    """The package's Python and JavaScript modules; ``openapi.yaml`` and the stylesheets are not code."""
    package = ROOT / "netrender"
    return sorted(p for ext in ("py", "js") for p in package.rglob(f"*.{ext}"))


def test_no_module_is_over_15_kb() -> None:
    found = modules()
    assert len(found) > 100  # the walk sees the package
    big = {str(p.relative_to(ROOT)): p.stat().st_size for p in found if p.stat().st_size > MAX_MODULE_BYTES}
    assert not big, f"split these by noun: {big}"
