# SPDX-License-Identifier: GPL-3.0-or-later
"""Artists' projects, built by script: each kind of dependency a .blend can have, laid out as studios do.

A *project* is a folder like an artist's (``shots/`` beside ``assets/``,
caches, sequences, odd names) made by a Blender script, never committed as
binaries. Each kind says which files matter to its pixels, so a test can
prove a dependency travelled: the farm's frames equal a local render, and a
local render without those files differs.

``build(kind, folder)`` makes one; ``render_local`` renders it as the artist
would on their own machine; ``render_without`` renders it with its ``needed``
files moved away (and puts them back).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENES = HERE / "scenes"  # the Blender scripts that build the projects
BLENDER = shutil.which("blender") or "blender"
#: The farm's slaves in the tests render with one thread; the local reference does too.
THREADS = 1


@dataclass
class Project:
    """One built project: what to submit, and what must travel with it."""

    kind: str
    root: Path  # the project's top folder on the artist's machine
    blend: Path  # the file to submit
    frames: list[int]
    #: Files or folders whose absence changes the pixels (moved away by ``render_without``).
    needed: list[Path] = field(default_factory=list)
    #: Which Blender renders it: ``"blender"`` (Debian's binary) or ``"bpy"`` (the bpy module, for
    #: what Debian's Blender is built without, such as Alembic).
    blender: str = "blender"
    #: False where a dependency cannot show in pixels (a sound strip): the proof is then that
    #: Blender reports the file missing without it.
    pixels_matter: bool = True
    #: Files the .blend names that do not exist (the missing-files project).
    missing: list[Path] = field(default_factory=list)


Builder = Callable[[Path], Project]


@dataclass
class Built:
    """A project built once for the test session, with its reference render (``built_project`` in conftest)."""

    project: Project
    local: dict[int, Path]  # the local render, frame by frame
    scratch: Path  # a folder outside the project for further renders


def blender_argv(which: str) -> list[str]:
    """The command that starts ``which`` Blender as ``blender`` would be started."""
    if which == "blender":
        return [BLENDER]
    if which == "bpy":  # netrender's stand-in for the blender command, on the bpy module (netrender-bpy)
        return [str(Path(sys.executable).with_name("netrender-bpy"))]
    raise ValueError(f"unknown Blender {which!r}")


def run_blender_script(script: Path, *args: object, which: str = "blender", timeout: float = 300) -> str:
    """Run a scene script in a fresh Blender (``--factory-startup``); its output, or an error with it."""
    if which == "blender":
        argv = [BLENDER, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(script),
                "--", *map(str, args)]
    else:  # the bpy module runs the script as plain Python
        argv = [sys.executable, str(script), "--", *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{script.name} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


def render_local(project: Project, output: Path, frames: list[int] | None = None) -> dict[int, Path]:
    """Render as the artist would at home: ``blender -b FILE -o ... -F OPEN_EXR_MULTILAYER -x 1 -t 1 -f N``."""
    frames = frames or project.frames
    output.mkdir(parents=True, exist_ok=True)
    argv = [*blender_argv(project.blender), "-b", str(project.blend), "-o", str(output / "######"),
            "-F", "OPEN_EXR_MULTILAYER", "-x", "1", "-t", str(THREADS), "-f", ",".join(map(str, frames))]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    out = {f: output / f"{f:06d}.exr" for f in frames}
    missing = [p for p in out.values() if not p.is_file()]
    if proc.returncode != 0 or missing:
        raise AssertionError(f"local render of {project.kind} failed ({proc.returncode}), no {missing}:\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return out


def render_without(project: Project, output: Path) -> dict[int, Path]:
    """Render locally with every ``needed`` file moved aside, then put them back."""
    moved = []
    try:
        for path in project.needed:
            aside = path.with_name(path.name + ".aside")
            path.rename(aside)
            moved.append((aside, path))
        return render_local(project, output)
    finally:
        for aside, path in moved:
            aside.rename(path)


def kinds() -> dict[str, Builder]:
    """Every kind of project, by name."""
    from . import caches, files

    return {**files.KINDS, **caches.KINDS}


def build(kind: str, folder: Path) -> Project:
    return kinds()[kind](folder)
