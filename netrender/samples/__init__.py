# SPDX-License-Identifier: GPL-3.0-or-later
"""The sample scene, built by running ``make_scene.py`` inside Blender."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).with_name("make_scene.py")


def build_scene(
    dest: Path,
    *,
    blender: str = "blender",
    frames: int = 12,
    size: str = "96x54",
    samples: int = 4,
    texture: bool = False,
    passes: bool = False,
    denoise: bool = False,
) -> Path:
    """Write the sample .blend to ``dest`` (and ``textures/`` beside it with ``texture``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [blender, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
            "--python", str(SCRIPT), "--", str(dest), "--frames", str(frames), "--size", size,
            "--samples", str(samples)]
    argv += [flag for flag, on in (("--texture", texture), ("--passes", passes), ("--denoise", denoise)) if on]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not dest.is_file():
        raise RuntimeError(f"building the sample scene failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    dest.with_name(dest.name + "1").unlink(missing_ok=True)  # Blender's backup of the first save
    return dest
