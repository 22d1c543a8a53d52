# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the real Blender with the add-on installed as a user would on 3.x.

A temporary user-scripts folder gets ``addons/netrender`` (a link to this
checkout) and ``addons/modules`` (links to the add-on's dependencies from the
test environment), which is where Blender 3.x looks for both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "in_blender"
DEPENDENCIES = ["flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker", "cheroot",
                "jaraco", "more_itertools", "requests", "urllib3", "idna", "certifi", "charset_normalizer",
                "blender_asset_tracer", "zstandard", "tqdm", "zeroconf", "ifaddr"]


def user_scripts(folder: Path) -> Path:
    """Lay out a Blender user-scripts folder holding the add-on and its dependencies."""
    modules = folder / "addons" / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    link = folder / "addons" / "netrender"
    if not link.exists():
        link.symlink_to(REPO / "netrender", target_is_directory=True)
    site = Path(__import__("flask").__file__).resolve().parents[1]
    for name in DEPENDENCIES:
        if not (modules / name).exists():
            (modules / name).symlink_to(site / name, target_is_directory=True)
    return folder


def blender_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["BLENDER_USER_SCRIPTS"] = str(user_scripts(folder))
    return env


def blender() -> str:
    return shutil.which("blender") or "blender"


def run_script(folder: Path, script: str, *args: Any, blend: Path | None = None, timeout: float = 300,
               report: Path | None = None) -> dict[str, Any]:
    """Run ``in_blender/<script>`` with the add-on enabled; return the JSON it reported.

    The script gets ``--report PATH`` after its own arguments and must write
    its findings there; a Python error inside Blender fails the call with
    Blender's output attached.
    """
    report = report or folder / f"{script}.json"
    argv = [blender(), "-b", *([str(blend)] if blend else []), "--factory-startup", "--addons", "netrender",
            "--python-exit-code", "1", "--python", str(SCRIPTS / script), "--",
            *map(str, args), "--report", str(report)]
    proc = subprocess.run(argv, env=blender_env(folder), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not report.is_file():
        raise AssertionError(f"{script} failed in Blender ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-2000:]}")
    return json.loads(report.read_text())  # type: ignore[no-any-return]


def spawn(folder: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start Blender with the add-on (e.g. a headless master) and its output going to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([blender(), *args], env=blender_env(folder), stdout=out,
                                stderr=subprocess.STDOUT)


if __name__ == "__main__":  # handy by hand: python tests/blender_env.py /tmp/scripts
    print(user_scripts(Path(sys.argv[1])))
