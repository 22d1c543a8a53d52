# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's part in bakes: bake one point cache of a job to disk, and put a bake's caches beside a .blend.

A bake task runs Blender on the job's .blend with ``in_blender/caches.py``:
the cache is baked into Blender's own ``blendcache_<file>/`` folder beside the
.blend and the files it wrote go to the master as one zip (paths relative
to the .blend), the task's result.

A job rendered after a bake (its assignment names the bake job and its tasks)
gets those zips from the master before its Blender starts: each is unpacked
into a folder of its own, and ``caches.py install`` moves them into place one
cache at a time, marks each baked and saves the job's copy of the .blend
(Blender writes a new file and renames it, so the slave's file cache is not
touched). A marker keeps a second chunk of the job from doing it again.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..common.bakes import last_said, unpack
from ..common.errors import ApiError
from ..common.work import Assignment, TaskDetail
from . import blender
from .files import FetchFailed, JobFiles
from .session import FrameOutcome, SessionSpec
from .wire import exit_text


class Baking(JobFiles):
    """The bake part of :class:`~netrender.slave.Slave`."""

    run_blender: Callable[..., blender.RunResult]

    def fetch(self, work: Assignment) -> Path:
        blend = super().fetch(work)
        if work.bakes:
            self._install_bakes(work, blend)
        return blend

    def _bake(self, work: Assignment, detail: TaskDetail, spec: SessionSpec, log_path: Path,
              should_stop: Callable[[], bool]) -> FrameOutcome:
        obj, cache = detail.cache
        folder = spec.output_dir / f"bake_{detail.number:06d}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        report = folder / "report.json"
        argv = blender.caches_argv(spec.blender, spec.blend, spec.threads, ["bake", obj, cache], report,
                                   allow_scripts=spec.allow_scripts)
        log = log_path.with_name(f"bake_{detail.number:06d}.log")
        result = self.run_blender(argv, log, should_stop=should_stop)
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
        if result.cancelled:
            return FrameOutcome(detail.number, cancelled=True, seconds=result.seconds, log=lines)
        lacking = blender.missing_sent(result.missing, spec.sent)
        if lacking:
            return FrameOutcome(detail.number, error=blender.missing_message(lacking), seconds=result.seconds,
                                log=lines)
        if result.returncode != 0 or not report.is_file():
            return FrameOutcome(detail.number, seconds=result.seconds, log=lines, error=(
                last_said(lines) or result.error or f"Blender could not bake {obj}/{cache} "
                f"({exit_text(result.returncode)})"))
        files = json.loads(report.read_text(encoding="utf-8"))["files"]
        baked = spec.output_dir / f"{detail.number:06d}.zip"
        with zipfile.ZipFile(baked, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in files:
                archive.write(spec.blend.parent / name, name)
        return FrameOutcome(detail.number, path=baked, seconds=result.seconds, log=lines)

    def _install_bakes(self, work: Assignment, blend: Path) -> None:
        """The bake job's caches beside ``blend``, marked baked in it; once per job.

        :raise FetchFailed: a bake's result cannot be had, or Blender cannot take it: the chunk cannot
            render as asked here.
        """
        folder = self.folder / f"job_{work.job_id}" / "bakes"
        done = folder / "installed"
        if done.is_file():
            return
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        baked = []
        for number, obj, cache in work.bakes:
            self.on_status(f"fetching the caches baked by job {work.bake_job}")
            archive = folder / f"{number:06d}.zip"
            try:
                self.conn.download(f"/api/jobs/{work.bake_job}/frames/{number}/result", archive)
            except ApiError as exc:
                raise FetchFailed(f"cannot fetch cache {obj}/{cache} baked by job {work.bake_job}: {exc}") from exc
            baked.append((obj, cache, archive))
        manifest = unpack(baked, folder)
        self.on_status(f"putting the caches of job {work.bake_job} beside the .blend")
        argv = blender.caches_argv(self.config.blender, blend, self.config.threads, ["install", str(manifest)],
                                   folder / "report.json")
        result = self.run_blender(argv, folder / "install.log")
        if result.returncode != 0 or not (folder / "report.json").is_file():
            lines = (folder / "install.log").read_text(encoding="utf-8", errors="replace").splitlines()
            raise FetchFailed(f"Blender could not take the caches baked by job {work.bake_job}: "
                              f"{last_said(lines) or exit_text(result.returncode)}")
        done.write_text("", encoding="utf-8")
