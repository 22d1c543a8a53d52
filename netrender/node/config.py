# SPDX-License-Identifier: GPL-3.0-or-later
"""What a slave is told at start: its master, folders, Blender, and how it renders and stops.

Kept apart from :mod:`netrender.slave` so the add-on's settings and the CLI
build a :class:`SlaveConfig` without the slave's machinery; ``machine_facts``
is what the slave tells the master about its machine when it registers.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..common.connection import Access
from ..common.pathmap import PathMap
from ..common.retry import SLAVE_BACKOFF, Backoff

StopMode = Literal["requeue", "finish"]
STOP_MODES: tuple[StopMode, ...] = ("requeue", "finish")


@dataclass
class SlaveConfig:
    master: str = "[default]"
    access: Access | None = None  # token and trust in the master's certificate; None: the environment's token
    path: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "netrender-slave")
    name: str = field(default_factory=platform.node)
    threads: int = 0  # 0: Blender uses every core
    tags: tuple[str, ...] = ()
    blender: str = "blender"
    heartbeat: float = 0.5
    console_log: bool = False
    clear_on_exit: bool = False
    thumbnails: bool = False  # Blender writes a PNG preview per frame, sent after the frame
    allow_scripts: bool = False  # let a job's own auto-run scripts run, if the job allows them too
    on_stop: StopMode = "requeue"  # a stop kills the render and requeues ("finish": lets it end, once)
    retry: Backoff = SLAVE_BACKOFF  # the waits while the master cannot be reached
    persistent: bool = True  # keep one Blender open per job (when the job allows it); off: one per chunk
    session_frames: int | None = None  # start that Blender afresh after this many frames (None: never)
    # Seconds a slave with no work keeps its open Blender: at a job's end a frame often comes back (requeued
    # from a lost or stopped slave) and a Blender still open renders it without loading the file again.
    idle_close: float = 30.0
    # Seconds an idle slave's work request waits on the master for work (0: ask every idle_wait). Work that
    # appears is handed out at once whatever this is; a longer wait only delays a stop, which cannot cut it.
    long_poll: float = 3.0
    # Where the clients' paths on shared storage are on this machine, for jobs rendered in place.
    path_map: PathMap = field(default_factory=PathMap)
    # Take frames to denoise whole (tiled jobs) when this Blender can; off keeps them for other slaves.
    denoise: bool = True
    #: One Cycles device only (``slave --gpus``): JSON for ``in_blender/device.py``; empty: Blender's own choice.
    device: str = ""


def machine_facts() -> dict[str, Any]:
    """What the master shows about this machine; the GPU only when one answers."""
    facts: dict[str, Any] = {
        "os": f"{platform.system()} {platform.release()}",
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count() or 1,
        "gpu": None,
    }
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=5).stdout
            facts["gpu"] = [line.strip() for line in out.splitlines() if line.strip()] or None
        except (OSError, subprocess.SubprocessError):
            pass
    return facts
