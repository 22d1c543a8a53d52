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
  goes into the outbox under ``<path>/outbox`` (see :mod:`netrender.node.outbox`)
  before it is sent. What the master cannot take now is sent when it answers
  again, by this process or the next one started on the same path; each round
  delivers the outbox before asking for new work.
- A master that forgot this slave (it answers ``unknown_slave`` to a work
  request, a heartbeat or a delivery) gets a new registration, and the request
  is repeated under the new id; the master accepts results from any slave it knows.
- While the master cannot be reached the loop waits as ``config.retry`` says
  (exponential backoff with jitter, see :mod:`netrender.common.retry`).
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

import logging
import os
import random as _random
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .common.blobs import BlobStore
from .common.connection import CONNECT_TIMEOUT, READ_TIMEOUT, Connection
from .common.errors import ApiError, InvalidConfig, MasterUnreachable
from .common.retry import Attempts
from .common.work import Assignment
from .discovery import Follower
from .node import blender
from .node.config import STOP_MODES, SlaveConfig, StopMode, machine_facts
from .node.courier import Courier
from .node.delivery import Delivery
from .node.outbox import Outbox
from .node.rendering import ChunkRendering, ChunkReport
from .node.session import BlenderSession, SessionSpec
from .node.sessions import Sessions

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["STOP_MODES", "ChunkReport", "Slave", "SlaveConfig", "StopMode", "machine_facts"]


class Slave(ChunkRendering, Delivery):
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
        sessions: Sessions | None = None,
    ) -> None:
        """``clock``, ``sleep`` and ``random`` drive :meth:`run`'s waits; tests pass fakes.

        The default ``sleep`` wakes up early when :meth:`stop` is called.
        Jobs render in one persistent Blender each (``sessions``) when the
        config and the job allow it; a slave given its own ``run_blender`` (a
        test's fake) renders a Blender per chunk unless given ``sessions`` too.
        """
        if config.on_stop not in STOP_MODES:
            raise InvalidConfig(f"on_stop must be one of {', '.join(STOP_MODES)}, not {config.on_stop!r}")
        self.config = config
        # Absolute: the slave hands these paths to Blender, which runs in a working folder of its own choosing.
        config.path = Path(os.path.abspath(config.path))
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
        self.persistent = config.persistent and (sessions is not None or run_blender is blender.run)
        self.sessions = sessions or Sessions(max_frames=config.session_frames, factory=self._session)
        # Chunks the master handed out with a result's answer, rendered before asking again.
        self.ahead: deque[Assignment] = deque()
        self._ahead_lock = threading.Lock()
        self._idle_delay: float | None = None  # how long to wait after an empty ask (None: idle_wait)
        self._idle_since: float | None = None  # when the slave last found no work, in a row of empty answers
        self.courier: Courier | None = None  # delivers in the background while run() runs
        self.banners: dict[int, str] = {}
        self.checkout_notes: dict[int, str] = {}

    def _session(self, spec: SessionSpec, log_path: Path) -> BlenderSession:
        echo = (lambda line: print(line, end="", flush=True)) if self.config.console_log else (lambda line: None)
        return BlenderSession(spec, log_path, on_line=echo)

    def run_once(self) -> bool:
        """Deliver the outbox, then ask for one chunk and render it; ``False`` when nothing was rendered.

        An outbox the master cannot take now raises (:class:`MasterUnreachable`),
        and no new work is asked for: results come first.
        """
        if self.courier is None:
            self.deliver()
        if self.stopping.is_set():
            return False
        work = self._next_work()
        if work is None:
            self._idle(self.clock())
            return False
        self._idle_since = None
        self.reports.append(self.render(work))
        if self.courier is not None:
            self.courier.kick()
            return True
        try:
            self.deliver()
        except (MasterUnreachable, ApiError) as exc:  # kept: the next round sends it
            self.on_status(f"{len(self.outbox)} item(s) kept in the outbox for now: {exc}")
        return True

    def _idle(self, now: float) -> None:
        """No work: after ``config.idle_close`` seconds of it, give the open Blender's memory back."""
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since >= self.config.idle_close:
            self.sessions.close()

    def _next_work(self) -> Assignment | None:
        """The chunk handed out ahead, or the master's answer to a work request.

        With a courier running the request waits on the master up to
        ``config.long_poll`` seconds, so work that appears starts at once.
        """
        with self._ahead_lock:
            if self.ahead:
                return self.ahead.popleft()
        wait = self.config.long_poll if self.courier is not None else 0.0
        kwargs: dict[str, Any] = {}
        if wait > 0:
            kwargs = {"params": {"wait": f"{wait:g}"}, "timeout": (CONNECT_TIMEOUT, wait + READ_TIMEOUT)}
        asked = time.monotonic()
        answer = self._as_registered(lambda slave_id: self.conn.post(f"/api/slaves/{slave_id}/work", **kwargs))
        # Ask again at once only after a real wait: a master that answers an empty hand at once
        # (busy, or older than long polls) is asked again after the idle wait, not in a busy loop.
        waited = wait > 0 and time.monotonic() - asked >= wait / 2
        self._idle_delay = float(answer["retry_after"]) if "retry_after" in answer else (0.0 if waited else None)
        return Assignment.from_json(answer["work"]) if answer["work"] else None

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
        if busy:
            return 0.0
        return idle_wait if self._idle_delay is None else self._idle_delay

    def run(self, idle_wait: float = 1.0) -> None:
        """Loop until :meth:`stop`; wait between empty asks and after failures, never while work flows.

        Results go up in the background (:class:`~netrender.node.courier.Courier`)
        while the next frame renders.
        """
        self.courier = Courier(self.deliver, self.config.retry, on_status=self.on_status, clock=self.clock)
        self.courier.start()
        try:
            while not self._finished():
                if self.stopping.is_set() and self.courier is not None:
                    self._hand_over_delivery()
                delay = self.step(self.clock(), idle_wait)
                if delay > 0 and not self._finished():
                    self.sleep(delay)
        finally:
            self._hand_over_delivery()
            self.sessions.close()
            try:  # what the courier had no time for, released frames above all
                self.deliver()
            except Exception as exc:  # noqa: BLE001 - it stays in the outbox, reported below
                log.info("outbox not delivered at stop: %s", exc)
            if self.follower:
                self.follower.stop()
            self._leave()
            if self.config.clear_on_exit and self.id:
                shutil.rmtree(self.folder, ignore_errors=True)
            if left := len(self.outbox):
                self.on_status(f"{left} item(s) wait in {self.outbox.root}: they are sent when this slave "
                               "runs again on this path (the master requeues unreported frames meanwhile)")

    def _leave(self) -> None:
        """Tell the master this slave stops on purpose (its event log says "left", not "lost"); best effort."""
        if self.id is None or len(self.outbox):
            return
        try:
            self.conn.post(f"/api/slaves/{self.id}/leave")
        except (ApiError, MasterUnreachable) as exc:
            log.info("could not tell the master this slave leaves: %s", exc)

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
