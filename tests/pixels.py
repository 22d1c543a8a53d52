# SPDX-License-Identifier: GPL-3.0-or-later
"""Pixel comparison of multilayer EXRs: every channel of every part, exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import OpenEXR


def channels(path: Path) -> dict[str, np.ndarray]:
    """Every channel of every part, keyed ``part/channel``."""
    out: dict[str, np.ndarray] = {}
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        for part in exr.parts:
            for name, channel in part.channels.items():
                out[f"{part.name()}/{name}"] = np.array(channel.pixels, copy=True)
    return out


def differences(a: Path, b: Path) -> list[str]:
    """Human-readable differences; empty when the pixels are identical."""
    ca, cb = channels(a), channels(b)
    if ca.keys() != cb.keys():
        return [f"channels differ: {sorted(ca)} vs {sorted(cb)}"]
    problems = []
    for name in sorted(ca):
        x, y = ca[name], cb[name]
        if x.shape != y.shape:
            problems.append(f"{name}: shape {x.shape} vs {y.shape}")
        elif not np.array_equal(x, y):
            problems.append(f"{name}: {int(np.count_nonzero(x != y))} pixels differ, max {np.max(np.abs(x - y))}")
    return problems


def idiff(a: Path, b: Path) -> str:
    """OpenImageIO's verdict on two images of any format: empty when every pixel is equal."""
    result = subprocess.run(["idiff", "-fail", "0", "-failpercent", "0", "-warn", "0", str(a), str(b)],
                            capture_output=True, text=True)
    return "" if result.returncode == 0 else result.stdout + result.stderr
