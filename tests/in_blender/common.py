# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the scripts that run inside Blender: arguments after ``--`` and the JSON report."""

from __future__ import annotations

import json
import sys
from typing import Any


def args() -> list[str]:
    rest = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    return rest[: rest.index("--report")] if "--report" in rest else rest


def report(findings: dict[str, Any]) -> None:
    rest = sys.argv[sys.argv.index("--") + 1 :]
    with open(rest[rest.index("--report") + 1], "w", encoding="utf-8") as fh:
        json.dump(findings, fh, indent=1)
