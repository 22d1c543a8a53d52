# SPDX-License-Identifier: GPL-3.0-or-later
"""A render node: registers with the master, asks for chunks, renders them with Blender.

:meth:`Slave.run_once` does one deliver-ask-render round and returns whether it
rendered anything, so tests drive a slave step by step; :meth:`Slave.step` is
one round of :meth:`Slave.run` at a given ``now`` and returns how long to wait
before the next, so tests drive the loop's waits without sleeping. Files come
from the master by content hash into a cache under ``<path>/cache``, so each is
downloaded once per slave whatever the number of jobs using it.

A farm runs for days, so a fault costs at most the frame in flight:

- What a render produces (logs, frames, errors, thumbnails, released frames)
  goes into the outbox under ``<path>/outbox`` (see :mod:`netrender.outbox`)
  before it is sent. What the master cannot take now is sent when it answers
  again, by this process or the next one started on the same path; each round
  delivers the outbox before asking for new work.
- A master that forgot this slave (it answers ``unknown_slave`` to a work
  request, a heartbeat or a delivery) gets a new registration, and the request
  is repeated under the new id; the master accepts results from any slave it knows.
- While the master cannot be reached the loop waits as ``config.retry`` says
  (exponential backoff with jitter, see :mod:`netrender.retry`).
- Stopping (Ctrl-C): with ``on_stop="requeue"`` (the default) Blender is killed
  and the chunk's frames are released to the master. With ``"finish"`` the
  first stop lets Blender finish the chunk and the slave delivers it before it
  exits; a second stop falls back to requeue. A release the master cannot
  take at that moment stays in the outbox and is sent when the slave runs
  again; a slave that never comes back leaves its frames to the master's
  lost-slave timeout, which requeues them. Frames are never left dispatched
  for ever.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random as _random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from . import blender, outbox
from .blobs import BlobStore
from .connection import Access, Connection
from .discovery import Follower
from .errors import ApiError, InvalidConfig, MasterUnreachable
from .model import Assignment
from .outbox import Outbox
from .retry import SLAVE_BACKOFF, Attempts, Backoff

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    """What one render gave: the frames rendered (now in the outbox), those that failed."""

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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        """``clock``, ``sleep`` and ``random`` drive :meth:`run`'s waits; tests pass fakes.

        The default ``sleep`` wakes up early when :meth:`stop` is called.
        """
        if config.on_stop not in STOP_MODES:
            raise InvalidConfig(f"on_stop must be one of {', '.join(STOP_MODES)}, not {config.on_stop!r}")
        self.config = config
        self.follower = follower  # hears the master's announcements, so the slave follows it if it moves
        self.conn = connection or Connection(config.master, access=config.access)
        self.run_blender = run_blender
        self.on_status = on_status
        self.id: str | None = None
        self.cache = BlobStore(Path(config.path) / "cache")
        self.outbox = Outbox(Path(config.path) / "outbox")
        self.reports: list[ChunkReport] = []
        self.stopping = threading.Event()  # ask for no more work
        self.aborting = threading.Event()  # kill the render in progress and release its frames
        self.clock = clock
        self.sleep = sleep or self._nap
        self.failures = Attempts(config.retry, random)
        self._wake = threading.Event()

    @property
    def folder(self) -> Path:
        return Path(self.config.path) / f"slave_{self.id}"

    def register(self) -> str:
        """Take back the id this slave's folder had, while the master knows it; else register anew.

        Keeping the id across restarts matters: releases and error reports left
        in the outbox name frames the master holds under that id.
        """
        kept = self._kept_id()
        if kept is not None and self.id is None:
            try:
                self.conn.post(f"/api/slaves/{kept}/heartbeat", {})
                self.id = kept
                self.on_status(f"back with {self.conn.url} as {self.id}")
                return self.id
            except ApiError as exc:
                if exc.code != "unknown_slave":
                    raise
        answer = self.conn.post("/api/slaves", {
            "name": self.config.name, "facts": machine_facts(), "tags": list(self.config.tags),
        })
        self.id = str(answer["id"])
        self.folder.mkdir(parents=True, exist_ok=True)
        self._id_file.write_text(self.id + "\n", encoding="utf-8")
        self.on_status(f"registered with {self.conn.url} as {self.id}")
        return self.id

    @property
    def _id_file(self) -> Path:
        return Path(self.config.path) / "slave_id"

    def _kept_id(self) -> str | None:
        try:
            text = self._id_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text if text.isalnum() and len(text) <= 64 else None

    def run_once(self) -> bool:
        """Deliver the outbox, then ask for one chunk and render it; ``False`` when nothing was rendered.

        An outbox the master cannot take now raises (:class:`MasterUnreachable`),
        and no new work is asked for: results come first.
        """
        self.deliver()
        if self.stopping.is_set():
            return False
        work = self._as_registered(lambda slave_id: self.conn.post(f"/api/slaves/{slave_id}/work"))["work"]
        if not work:
            return False
        self.reports.append(self.render(Assignment.from_json(work)))
        try:
            self.deliver()
        except (MasterUnreachable, ApiError) as exc:  # kept: the next round sends it
            self.on_status(f"{len(self.outbox)} item(s) kept in the outbox for now: {exc}")
        return True

    def deliver(self) -> int:
        """Send what the outbox holds, oldest first; return how many items left it.

        :raise MasterUnreachable: the master cannot take them now; they stay.
        """
        if not len(self.outbox):
            return 0
        return self.outbox.deliver(self._send)

    def _send(self, item: outbox.Item) -> None:
        """Deliver one item as this slave.

        A thumbnail is a nicety: its frame is delivered already and the master
        can make one from the EXR, so whatever stops it only warrants a warning
        and never holds up the frames behind it.
        """
        try:
            self._as_registered(lambda slave_id: outbox.send(self.conn, item, slave_id))
        except (ApiError, MasterUnreachable) as exc:
            if item.kind != "thumbnail":
                raise
            log.warning("thumbnail of job %s frame %s not sent: %s", item.job_id, item.frame, exc)

    def step(self, now: float, idle_wait: float = 1.0) -> float:
        """One round of :meth:`run` at ``now``; return the seconds to wait before the next.

        No wait while work flows, ``idle_wait`` when there was none, and the
        backoff's growing wait after each failure in a row.
        """
        try:
            busy = self.run_once()
        except MasterUnreachable as exc:
            self.on_status(str(exc))
            if self.follower and (url := self.follower.moved(self.conn.url)):
                self.on_status(f"the master announced itself at {url}: switching")
                self.conn.url, self.id = url, None
                self.failures.succeeded()
                return 0.0  # news of where the master is: try there at once
            return self._failed(now)
        except ApiError as exc:
            self.on_status(f"the master refused: {exc.message}")
            return self._failed(now)
        except Exception:  # a farm node runs for days: log, wait, go on
            log.exception("slave round failed")
            return self._failed(now)
        self.failures.succeeded()
        return 0.0 if busy else idle_wait

    def run(self, idle_wait: float = 1.0) -> None:
        """Loop until :meth:`stop`; wait between empty asks and after failures, never while work flows."""
        try:
            while not self._finished():
                delay = self.step(self.clock(), idle_wait)
                if delay > 0 and not self._finished():
                    self.sleep(delay)
        finally:
            if self.follower:
                self.follower.stop()
            if self.config.clear_on_exit and self.id:
                shutil.rmtree(self.folder, ignore_errors=True)
            if left := len(self.outbox):
                self.on_status(f"{left} item(s) wait in {self.outbox.root}: they are sent when this slave "
                               "runs again on this path (the master requeues unreported frames meanwhile)")

    def stop(self) -> None:
        """Stop soon; safe from a signal handler.

        ``on_stop="requeue"``: a render in progress is killed and its frames go
        back to the queue. ``"finish"``: the first call lets the render finish
        and be delivered, a second call requeues.
        """
        if self.config.on_stop == "finish" and not self.stopping.is_set():
            self.stopping.set()
            self.on_status("stopping after the current chunk is rendered and delivered; stop again to requeue it")
        else:
            self.stopping.set()
            self.aborting.set()
        self._wake.set()

    def _finished(self) -> bool:
        """The loop ends on an abort, or once stopping with nothing left to deliver."""
        return self.aborting.is_set() or (self.stopping.is_set() and not len(self.outbox))

    def _failed(self, now: float) -> float:
        """The wait after one more failure in a row; the slave never gives up, so at worst the cap."""
        delay = self.failures.failed(now)
        return self.config.retry.max_delay if delay is None else delay

    def _nap(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _as_registered(self, request: Callable[[str], T]) -> T:
        """Make ``request`` as this slave: register first if needed, and again if the master forgot us."""
        try:
            return request(self.id or self.register())
        except ApiError as exc:
            if exc.code != "unknown_slave":
                raise
        self.on_status("the master does not know this slave any more: registering again")
        return request(self.register())

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
        """Render a chunk and put what it gave into the outbox; its frames are released if it cannot run."""
        job_dir = self.folder / f"job_{work.job_id}"
        output = job_dir / "output"
        log_path = job_dir / "logs" / f"{work.frames[0]:06d}.log"
        try:
            result = self._run_blender(work, output, log_path)
        except Exception:  # the frames are dispatched to us: give them back, or they wait for the lost timeout
            self.outbox.put("release", work.job_id, work.frames, slave_id=self.id)
            raise
        report = ChunkReport(work.job_id, [], [], result.cancelled)
        if result.cancelled and self.aborting.is_set():
            self.outbox.put("release", work.job_id, work.frames, slave_id=self.id)
            self.on_status(f"stopped; frames {_span(work.frames)} of job {work.job_id} go back to the queue")
        elif result.cancelled:
            self.on_status(f"the master took frames {_span(work.frames)} of job {work.job_id} back "
                           "(cancelled, or handed to another slave); Blender stopped")
        else:
            self._enqueue(work, result, output, log_path, report)
        return report

    def _run_blender(self, work: Assignment, output: Path, log_path: Path) -> blender.RunResult:
        blend_path = self.fetch(work)
        job_dir = output.parent
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir(parents=True)
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
        return self.run_blender(
            argv, log_path, should_stop=self._stop_check(work), env=env,
            on_line=(lambda line: print(line, end="")) if self.config.console_log else (lambda line: None),
        )

    def _enqueue(self, work: Assignment, result: blender.RunResult, output: Path, log_path: Path,
                 report: ChunkReport) -> None:
        """Each frame's log, then its EXR (and thumbnail) or its error, into the outbox in that order."""
        per_frame = result.seconds / len(work.frames)
        rendered = result.returncode == 0 and result.error is None
        for frame in work.frames:
            if log_path.is_file():  # one log per chunk, copied for each frame: the next chunk may reuse its name
                self.outbox.put("log", work.job_id, (frame,), payload=log_path, copy=True, slave_id=self.id)
            path = blender.frame_file(output, frame)
            if rendered and path.is_file():
                self.outbox.put("result", work.job_id, (frame,), payload=path,
                                fields={"render_time": per_frame}, slave_id=self.id)
                report.done.append(frame)
                thumbnail = blender.thumbnail_file(output, frame)
                if thumbnail.is_file():  # after its frame: the master takes it only for a finished frame
                    self.outbox.put("thumbnail", work.job_id, (frame,), payload=thumbnail, slave_id=self.id)
            else:
                self.outbox.put("error", work.job_id, (frame,), fields={"message": _failure(result, frame)},
                                slave_id=self.id)
                report.failed.append(frame)

    def _stop_check(self, work: Assignment) -> Callable[[], bool]:
        """Heartbeat the master at most every ``config.heartbeat`` s; it says when to stop.

        A master that cannot be reached does not stop the render: its result
        waits in the outbox. One that forgot this slave gets a new registration.
        """
        last = [0.0]

        def should_stop() -> bool:
            if self.aborting.is_set():
                return True
            now = time.monotonic()
            if now - last[0] < self.config.heartbeat:
                return False
            last[0] = now
            payload = {"job_id": work.job_id, "frames": list(work.frames)}
            try:
                answer = self._as_registered(
                    lambda slave_id: self.conn.post(f"/api/slaves/{slave_id}/heartbeat", payload)
                )
            except (MasterUnreachable, ApiError) as exc:
                log.warning("heartbeat failed: %s", exc)
                return False
            return bool(answer.get("stop"))

        return should_stop


def _failure(result: blender.RunResult, frame: int) -> str:
    if result.error:
        return result.error
    if result.returncode != 0:
        return f"Blender exited with code {result.returncode} before frame {frame} was saved"
    return f"Blender exited without saving frame {frame}"


def _span(frames: tuple[int, ...]) -> str:
    return str(frames[0]) if len(frames) == 1 else f"{frames[0]}-{frames[-1]}"
