# SPDX-License-Identifier: GPL-3.0-or-later
"""What a slave does for one task in the job's open Blender: render a frame, render a tile, or stitch a frame.

A task of a job of frames is its frame. A tile is a Cycles border render of
its region, undenoised (see ``in_blender/driver.py``), checked to be its
region's size. A stitch fetches the finished tiles of its frame from the
master, puts them together (:mod:`.stitch`) and, when the job asks, has the
open Blender denoise the frame whole with the scene's own settings, so no seam
shows. Each gives a :class:`~.session.FrameOutcome` whose file is the task's
result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..common import tiling
from ..common.connection import Connection
from ..common.errors import ApiError
from ..common.work import Assignment, TaskDetail
from ..samples import build_scene
from . import blender
from .bakes import Baking
from .claims import SharedClaims
from .session import FrameOutcome, SessionSpec
from .sessions import Sessions
from .stitch import StitchError, crop, size_of, stitch


def tile_options(detail: TaskDetail, rendered: tiling.Rect) -> dict[str, Any]:
    """The request that has the driver render the region ``rendered``, keeping what the denoiser needs."""
    border = tiling.border(rendered, *detail.size)
    return {"tile": {"border": list(border), "denoise_data": detail.denoise}}


def _size(region: tiling.Rect) -> tuple[int, int]:
    x0, y0, x1, y1 = region
    return x1 - x0, y1 - y0


#: The fixed speed test: the sample scene at this size and these samples, the same on every slave.
MACHINE_SIZE, MACHINE_SAMPLES = "480x270", 64


class TaskRunning(Baking, SharedClaims):
    """The task part of :class:`~netrender.slave.Slave`, which provides what is declared here."""

    conn: Connection
    sessions: Sessions
    run_blender: Callable[..., blender.RunResult]

    def _run_task(self, work: Assignment, number: int, spec: SessionSpec, log_path: Path,
                  should_stop: Callable[[], bool]) -> FrameOutcome:
        detail = work.detail(number)
        if detail is None:  # a whole frame: one on another machine is fetched while the next one renders
            elsewhere = self._claimed_elsewhere(work, number, spec.output_dir, should_stop)
            if elsewhere is not None:
                return elsewhere
            outcome = self.sessions.render(spec, log_path, number, should_stop, later=True)
            if outcome.error or outcome.cancelled:
                self._release_claim(work, number)
            return outcome
        if detail.kind == "tile":
            return self._tile(detail, spec, log_path, should_stop)
        if detail.kind == "stitch":
            return self._stitch(work, detail, spec, log_path, should_stop)
        if detail.kind == "file":
            return self.sessions.render(spec, log_path, detail.frame, should_stop, {"scale": detail.scale})
        if detail.kind == "machine":
            return self._machine_test(spec, log_path)
        if detail.kind == "bake":
            return self._bake(work, detail, spec, log_path, should_stop)
        return FrameOutcome(number, error=f"this slave does not know tasks of kind {detail.kind!r}")

    def _tile(self, detail: TaskDetail, spec: SessionSpec, log_path: Path,
              should_stop: Callable[[], bool]) -> FrameOutcome:
        """A Cycles border render of the tile's region (with a margin, for adaptive sampling), cut to it."""
        session = self.sessions.session(spec, log_path)
        failed = session.start(detail.frame, should_stop)
        if failed is not None:
            return failed
        if session.path_guiding:
            return FrameOutcome(detail.number, error=tiling.GUIDING)
        margin = tiling.adaptive_margin(session.adaptive_sampling)
        rendered = tiling.overscan(detail.rect, margin, *detail.size)
        outcome = session.render(detail.frame, should_stop, tile_options(detail, rendered))
        if outcome.path is None:
            return outcome
        if size_of(outcome.path) != _size(rendered):
            outcome.error, outcome.path = (f"Blender rendered tile {detail.number} of frame {detail.frame} as "
                                           f"{size_of(outcome.path)}, not {_size(rendered)} pixels"), None
            return outcome
        try:
            crop(outcome.path, rendered, detail.rect)
        except StitchError as exc:
            outcome.error, outcome.path = str(exc), None
        return outcome

    def _stitch(self, work: Assignment, detail: TaskDetail, spec: SessionSpec, log_path: Path,
                should_stop: Callable[[], bool]) -> FrameOutcome:
        started = time.monotonic()
        folder = self.folder / f"job_{work.job_id}" / "tiles"
        try:
            tiles = [(self._tile_result(work.job_id, number, folder), region) for number, region in detail.inputs]
            whole = stitch(tiles, detail.size, spec.output_dir / f"{detail.frame:06d}.stitched.exr")
        except (ApiError, StitchError) as exc:
            return FrameOutcome(detail.frame, error=f"cannot stitch frame {detail.frame}: {exc}",
                                seconds=time.monotonic() - started)
        if not detail.denoise:
            return FrameOutcome(detail.frame, path=whole, seconds=time.monotonic() - started)
        target = blender.frame_file(spec.output_dir, detail.frame)
        request = {"denoise": {"input": str(whole), "output": str(target)}}
        outcome = self.sessions.render(spec, log_path, detail.frame, should_stop, request)
        outcome.seconds = time.monotonic() - started  # the stitch's share too
        return outcome

    def _machine_test(self, spec: SessionSpec, log_path: Path) -> FrameOutcome:
        """The fixed speed test: the sample scene, made once by this slave's own Blender, rendered in a Blender
        of its own; timed by Blender's own clock, so its start-up does not blur the machines' speeds."""
        folder = Path(self.config.path) / "speedtest"
        scene = folder / "machine.blend"
        try:
            if not scene.is_file():
                build_scene(scene, blender=self.config.blender, frames=1, size=MACHINE_SIZE, samples=MACHINE_SAMPLES,
                            texture=True)
        except (OSError, RuntimeError) as exc:
            return FrameOutcome(1, error=f"cannot make the speed test's scene: {exc}")
        argv = blender.render_argv(self.config.blender, scene, spec.output_dir, "CYCLES", self.config.threads, [1])
        log = log_path.with_name("machine.log")
        result = self.run_blender(argv, log)
        saved = blender.frame_file(spec.output_dir, 1)
        if result.returncode != 0 or not saved.is_file():
            return FrameOutcome(1, error=result.error or f"the speed test's render failed ({result.returncode})",
                                seconds=result.seconds)
        timed = blender.render_seconds(log.read_text(encoding="utf-8", errors="replace").splitlines())
        return FrameOutcome(1, path=saved, seconds=result.seconds if timed is None else timed)

    def _tile_result(self, job_id: int, number: int, folder: Path) -> Path:
        """A finished tile of the job, fetched from the master (kept for a retry of the stitch)."""
        path = folder / f"{number:06d}.exr"
        if not path.is_file():
            self.conn.download(f"/api/jobs/{job_id}/frames/{number}/result", path)
        return path
