# SPDX-License-Identifier: GPL-3.0-or-later
"""A render node: registers with the master, asks for chunks, renders them with Blender.

:meth:`Slave.run_once` does one ask-render-report round and returns whether it
rendered anything, so tests drive a slave step by step; :meth:`Slave.run`
loops it until told to stop. Files come from the master by content hash into a
cache under ``<path>/cache``, so each is downloaded once per slave whatever the
number of jobs using it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import blender
from .blobs import BlobStore
from .connection import Access, Connection
from .discovery import Follower
from .errors import ApiError, MasterUnreachable
from .model import Assignment

log = logging.getLogger(__name__)


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


@dataclass
class ChunkReport:
    job_id: int
    done: list[int]
    failed: list[int]
    cancelled: bool


class Slave:
    def __init__(
        self,
        config: SlaveConfig,
        connection: Connection | None = None,
        *,
        run_blender: Callable[..., blender.RunResult] = blender.run,
        on_status: Callable[[str], None] = lambda text: None,
        follower: Follower | None = None,
    ) -> None:
        self.config = config
        self.follower = follower  # hears the master's announcements, so the slave follows it if it moves
        self.conn = connection or Connection(config.master, access=config.access)
        self.run_blender = run_blender
        self.on_status = on_status
        self.id: str | None = None
        self.cache = BlobStore(Path(config.path) / "cache")
        self.reports: list[ChunkReport] = []
        self.stopping = threading.Event()

    @property
    def folder(self) -> Path:
        return Path(self.config.path) / f"slave_{self.id}"

    def register(self) -> str:
        answer = self.conn.post("/api/slaves", {
            "name": self.config.name, "facts": machine_facts(), "tags": list(self.config.tags),
        })
        self.id = str(answer["id"])
        self.folder.mkdir(parents=True, exist_ok=True)
        self.on_status(f"registered with {self.conn.url} as {self.id}")
        return self.id

    def run_once(self) -> bool:
        """Ask for one chunk and render it; ``False`` when there was nothing to do."""
        if self.id is None:
            self.register()
        try:
            work = self.conn.post(f"/api/slaves/{self.id}/work")["work"]
        except ApiError as exc:
            if exc.code == "unknown_slave":  # the master forgot us: register again next round
                self.id = None
                return False
            raise
        if not work:
            return False
        self.reports.append(self.render(Assignment.from_json(work)))
        return True

    def run(self, idle_wait: float = 1.0) -> None:
        """Loop until :meth:`stop`; wait between empty asks, never while work flows."""
        while not self.stopping.is_set():
            try:
                busy = self.run_once()
            except MasterUnreachable as exc:
                self.on_status(str(exc))
                busy = False
                if self.follower and (url := self.follower.moved(self.conn.url)):
                    self.on_status(f"the master announced itself at {url}: switching")
                    self.conn.url, self.id = url, None
            except ApiError as exc:
                self.on_status(f"the master refused: {exc.message}")
                busy = False
            except Exception:  # a farm node runs for days: log, wait, go on
                log.exception("slave round failed")
                busy = False
            if not busy:
                self.stopping.wait(idle_wait)
        if self.follower:
            self.follower.stop()
        if self.config.clear_on_exit and self.id:
            shutil.rmtree(self.folder, ignore_errors=True)

    def stop(self) -> None:
        """Stop soon: a render in progress is killed and its frames go back to the queue."""
        self.stopping.set()

    # -- one chunk -------------------------------------------------------------

    def fetch(self, work: Assignment) -> Path:
        """Lay the job's files out under ``job_<id>/files``; return the main .blend's path."""
        root = self.folder / f"job_{work.job_id}" / "files"
        for ref in work.files:
            if not self.cache.has(ref.sha256):
                self.on_status(f"downloading {ref.path}")
                self.conn.download(f"/api/files/{ref.sha256}", self.cache.path(ref.sha256), expect_sha256=ref.sha256)
            dest = root / ref.path
            if not dest.is_file() or dest.stat().st_size != ref.size:
                self.cache.link(ref.sha256, dest)
        return root / work.blend

    def render(self, work: Assignment) -> ChunkReport:
        blend_path = self.fetch(work)
        job_dir = self.folder / f"job_{work.job_id}"
        output = job_dir / "output"
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir(parents=True)
        log_path = job_dir / "logs" / f"{work.frames[0]:06d}.log"
        argv = blender.render_argv(
            self.config.blender, blend_path, output, work.engine, self.config.threads, work.frames,
            thumbnails=self.config.thumbnails, allow_scripts=self.config.allow_scripts and work.allow_scripts,
            remap=bool(work.remap),
        )
        env: dict[str, str] = {}
        if work.remap:  # dependencies from outside the .blend's folder: tell Blender where they are now
            plan = job_dir / "remap.json"
            plan.write_text(json.dumps({"root": str(job_dir / "files"), "remap": work.remap}), encoding="utf-8")
            env["NETRENDER_REMAP"] = str(plan)
        self.on_status(f"rendering job {work.job_id} frames {_span(work.frames)}")
        result = self.run_blender(
            argv, log_path, should_stop=self._stop_check(work), env=env,
            on_line=(lambda line: print(line, end="")) if self.config.console_log else (lambda line: None),
        )
        report = ChunkReport(work.job_id, [], [], result.cancelled)
        if result.cancelled and self.stopping.is_set():
            self.conn.post(f"/api/slaves/{self.id}/release", {"job_id": work.job_id, "frames": list(work.frames)})
            self.on_status(f"stopped; frames {_span(work.frames)} of job {work.job_id} went back to the queue")
            return report
        if result.cancelled:
            self.on_status(f"job {work.job_id} was cancelled; Blender stopped")
            return report
        try:
            self._report(work, result, output, log_path, report)
        except ApiError as exc:
            if exc.status != 404:
                raise
            self.on_status(f"job {work.job_id} is gone from the master: {exc.message}")
        return report

    def _report(self, work: Assignment, result: blender.RunResult, output: Path, log_path: Path,
                report: ChunkReport) -> None:
        """Send each frame's log, then its EXR (and thumbnail) or its error."""
        per_frame = result.seconds / len(work.frames)
        for frame in work.frames:
            self._send_log(work.job_id, frame, log_path)
            path = blender.frame_file(output, frame)
            if result.returncode == 0 and result.error is None and path.is_file():
                self.conn.put_file(
                    f"/api/jobs/{work.job_id}/frames/{frame}/result", path,
                    params={"slave": self.id, "render_time": f"{per_frame:.3f}"},
                )
                report.done.append(frame)
                self._send_thumbnail(work.job_id, frame, output)
            else:
                self.conn.post(f"/api/jobs/{work.job_id}/frames/{frame}/error", {
                    "slave": self.id, "message": _failure(result, frame),
                })
                report.failed.append(frame)

    def _stop_check(self, work: Assignment) -> Callable[[], bool]:
        """Heartbeat the master at most every ``config.heartbeat`` s; it says when to stop."""
        last = [0.0]

        def should_stop() -> bool:
            if self.stopping.is_set():
                return True
            now = time.monotonic()
            if now - last[0] < self.config.heartbeat:
                return False
            last[0] = now
            try:
                answer = self.conn.post(
                    f"/api/slaves/{self.id}/heartbeat", {"job_id": work.job_id, "frames": list(work.frames)}
                )
            except (MasterUnreachable, ApiError) as exc:
                log.warning("heartbeat failed: %s", exc)
                return False
            return bool(answer.get("stop"))

        return should_stop

    def _send_log(self, job_id: int, frame: int, log_path: Path) -> None:
        self.conn.put_file(f"/api/jobs/{job_id}/frames/{frame}/log", log_path)

    def _send_thumbnail(self, job_id: int, frame: int, output: Path) -> None:
        """Upload the frame's thumbnail when Blender made one.

        The frame is delivered already and the master can make a thumbnail from
        its EXR, so a refusal or a lost connection here only warrants a warning.
        """
        path = blender.thumbnail_file(output, frame)
        if not path.is_file():
            return
        try:
            self.conn.put_file(f"/api/jobs/{job_id}/frames/{frame}/thumbnail", path, params={"slave": self.id})
        except (ApiError, MasterUnreachable) as exc:
            log.warning("thumbnail of job %s frame %s not sent: %s", job_id, frame, exc)


def _failure(result: blender.RunResult, frame: int) -> str:
    if result.error:
        return result.error
    if result.returncode != 0:
        return f"Blender exited with code {result.returncode} before frame {frame} was saved"
    return f"Blender exited without saving frame {frame}"


def _span(frames: tuple[int, ...]) -> str:
    return str(frames[0]) if len(frames) == 1 else f"{frames[0]}-{frames[-1]}"
