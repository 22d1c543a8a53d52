# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: Cycles set up to render the same pixels every time, shared by every project's scene.

The farm's frames are compared with local ones pixel by pixel, so nothing may
vary between two renders of one file: the CPU, a fixed seed, and neither
denoising nor adaptive sampling (both depend on what the render saw so far).
"""

from __future__ import annotations

from typing import Any


def cycles(scene: Any, samples: int, seed: int) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.seed = seed
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
