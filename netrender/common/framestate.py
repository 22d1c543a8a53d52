# SPDX-License-Identifier: GPL-3.0-or-later
"""Where one Blender frame of a job stands, read from the job's JSON: for clients that show a frame as it comes.

A job of frames makes each frame with one task; a job of tiles makes it with
its tiles, then the stitch named in the job's ``outputs``. The add-on's render
window draws each finished tile where it belongs, then the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FrameProgress:
    """Where one Blender frame of a job stands, read from the job's detail (:func:`frame_progress`)."""

    status: str  # of the task that makes the frame: queued, dispatched, done or error
    message: str
    tiles: list[tuple[int, tuple[int, int, int, int]]]  # a tiled frame's finished tiles: task number, region
    done: int  # the job's tasks done, of ``total``
    total: int
    tile_count: int = 0  # a tiled frame's tiles, done or not


def frame_progress(job: dict[str, Any], frame: int) -> FrameProgress | None:
    """``frame``'s progress in ``job`` (its detail, with tasks); ``None`` when the job does not render it."""
    tasks = {t["number"]: t for t in job.get("frames", [])}
    counts = job["frame_count"]
    if job.get("kind", "frames") == "frames":
        task = tasks.get(frame)
        return None if task is None else FrameProgress(task["status"], task["message"], [], counts["done"],
                                                       counts["total"])
    output = next((o for o in job.get("outputs", []) if o["frame"] == frame), None)
    if output is None:
        return None
    stitch = tasks[output["task"]]
    tiles = [(n, (x0, y0, x1, y1)) for n, _ in stitch["task"]["inputs"] if tasks[n]["status"] == "done"
             for x0, y0, x1, y1 in [tasks[n]["task"]["rect"]]]
    return FrameProgress(output["status"], stitch["message"], tiles, counts["done"], counts["total"],
                         len(stitch["task"]["inputs"]))
