# SPDX-License-Identifier: GPL-3.0-or-later
"""A .blend's point caches, as the artist's own Blender sees them: which can be baked on the farm, and
putting the farm's bakes back into the file.

Both run Blender on this machine with ``node/in_blender/caches.py`` (whose
docstring says how): the simulation settings of cloth, particles and the like
live in DNA that only Blender reads with certainty. :func:`install` changes the
artist's .blend: its caches go to disk, in Blender's own ``blendcache_<file>/``
folder beside it, marked baked, so reopening the file uses them. Blender keeps
the previous version as ``<file>.blend1``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..common.bakes import last_said, unpack
from ..common.errors import NetrenderError

#: The script, by path: the pack room does not import the node room, and Blender runs it, not us.
SCRIPT = Path(__file__).resolve().parents[1] / "node" / "in_blender" / "caches.py"


class CacheError(NetrenderError):
    """Blender could not list or take the file's caches."""


@dataclass
class Caches:
    bakeable: list[tuple[str, str]]  # (object, cache name)
    unbakeable: list[tuple[str, str, str]] = field(default_factory=list)  # (object, cache, why not)


def _run(blender: str, blend: Path, action: list[str], timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="netrender-caches-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [blender, "-b", str(blend), "--disable-autoexec", "-noaudio", "--python-exit-code", "1",
                "--python", str(SCRIPT), "--", *action, "--report", str(report)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CacheError(f"cannot run Blender ({blender}) on {blend}: {exc}") from exc
        if done.returncode != 0 or not report.is_file():
            said = last_said((done.stdout + done.stderr).splitlines(), also=("Error: ",))
            raise CacheError(f"Blender could not read the caches of {blend}: "
                             f"{said or f'exit code {done.returncode}'}")
        return json.loads(report.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def find(blend: Path, blender: str = "blender", timeout: float = 300) -> Caches:
    """The scene's point caches that bake to disk, and those the farm cannot bake (with why)."""
    found = _run(blender, blend, ["list"], timeout)
    return Caches([(str(o), str(c)) for o, c in found["caches"]],  # type: ignore[attr-defined]
                  [(str(o), str(c), str(w)) for o, c, w in found["unbakeable"]])  # type: ignore[attr-defined]


def install(blend: Path, baked: list[tuple[str, str, Path]], blender: str = "blender",
            timeout: float = 600) -> Path:
    """Put each (object, cache, zip of its baked files) into ``blend``'s cache folder, marked baked; the folder.

    The .blend is saved by Blender: reopened, it shows the farm's bake.
    """
    with tempfile.TemporaryDirectory(prefix="netrender-bakes-") as tmp:
        listed = unpack(baked, Path(tmp))
        done = _run(blender, blend, ["install", str(listed)], timeout)
    return Path(str(done["folder"]))
