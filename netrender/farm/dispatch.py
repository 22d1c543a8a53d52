# SPDX-License-Identifier: GPL-3.0-or-later
"""The slave-facing half of the farm: who gets which frames, and what a failure costs.

:class:`Dispatch` holds the balancing state (rules, the usage average) and
answers slaves' work requests and failed frames, on top of the
:class:`~.roster.Roster` of slaves. It applies :mod:`balancing`'s pure rules to
rows from the store; its periodic part is :class:`~.housekeeping.Housekeeping`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import balancing
from ..balancing import BalanceRules
from ..common.model import Frame, FrameEvent, FrameStatus, JobStatus, next_frame_status
from ..common.work import Assignment
from . import after, queue
from .jobtypes import Plan
from .roster import Roster
from .store import Store
from .store.slaves import capabilities

RULES_KEY = "balancing"
MAX_WAITING = 4  # slaves waiting for work at once: each holds a server thread (create_app sets it from them)


class Dispatch(Roster):
    store: Store
    lock: threading.RLock

    def __init__(self) -> None:
        super().__init__()
        saved = self.store.setting(RULES_KEY)
        self.rules = BalanceRules.from_json(json.loads(saved)) if saved else BalanceRules()
        self.usage: dict[int, float] = {}
        self.usage_at: float | None = None
        # Slaves waiting for work (long poll) sleep on this; anything that may have made work wakes them.
        self.work_ready = threading.Condition(self.lock)
        self.waiting = 0
        # Slaves whose work request is waiting now: work that appears goes to that request, not ahead with a
        # result (the slave would not look at a chunk held ahead until its wait is over).
        self.waiting_slaves: dict[str, int] = {}
        self.max_waiting = MAX_WAITING
        self.closing = False

    # -- rules -----------------------------------------------------------------

    def set_rules(self, changes: Any) -> BalanceRules:
        """Change some balancing settings; the rest keep their values. Kept across restarts."""
        with self.lock:
            self.rules = BalanceRules.from_json(changes, base=self.rules)
            self.store.set_setting(RULES_KEY, json.dumps(self.rules.to_json()))
            self._live_count = None  # the lost timeout may have changed
            self._wake()
            return self.rules

    # -- work ------------------------------------------------------------------

    def request_work(self, slave_id: str, now: float) -> Assignment | None:
        """Hand ``slave_id`` its next chunk, or ``None`` when nothing suits it now."""
        with self.lock, self.store.transaction():
            self.store.touch_slave(slave_id, now)
            return self._hand_out(slave_id, now)

    def _hand_out(self, slave_id: str, now: float, *, ahead: bool = False) -> Assignment | None:
        """:meth:`request_work`'s body, in the caller's transaction (a result's answer shares it).

        ``ahead``: asked with a result, by a slave that may still be rendering
        another chunk. It gets no chunk of a job whose queued frames are fewer
        than the live slaves while it holds frames: at a job's end, a frame
        waiting behind another on one slave would keep an idle slave idle.
        """
        gate = self.store.slave_gate(slave_id)
        if gate.blacklisted or gate.disabled or (ahead and slave_id in self.waiting_slaves):
            return None
        live = self._live_slaves(now)
        self._decay_usage(now, live)
        view = balancing.SlaveView(slave_id, gate.tags)
        candidates = self.store.candidates(self.usage)
        if self.rules.fifo:
            allowed = self._queue_turn(now)
            candidates = [c for c in candidates if c.job_id in allowed]
        passed: set[int] = set()
        while True:
            job_id = balancing.choose_job(candidates, view, now, self.rules, slaves=live, exclude=passed)
            if job_id is None:
                return None
            job = self.store.job(job_id)
            if after.waiting(self.store, job):
                passed.add(job_id)  # the job it comes after has not finished
                continue
            failed = self.store.failed_by(job_id, slave_id) if self.rules.retry else set()
            plan = self.store.plan(job_id)
            if plan.kind != "frames":  # one at a time, and not what cannot start here yet
                failed = set(failed) | self._not_for(job_id, plan, slave_id, gate.capabilities)
            size = job.spec.chunks if self.rules.chunks and plan.kind == "frames" else 1
            stretch = {f.number: f for f in self.store.next_frames(job_id, failed, limit=size)}
            layout = [(number, frame.status is FrameStatus.QUEUED) for number, frame in stretch.items()]
            chunk = balancing.take_chunk(layout, size, avoid=failed)
            if chunk and ahead and self._scarce(job_id, live) and self.store.tally.holds(slave_id):
                return None
            if chunk:
                break
            passed.add(job_id)  # every queued frame of it failed here before: let another slave try
        frames = [stretch[n] for n in chunk]
        for frame in frames:
            frame.slave_id, frame.dispatched_at = slave_id, now
        self._move(frames, FrameEvent.DISPATCH)  # the job's last_dispatched and started_at follow (schema step 6)
        if job.started_at is None:
            self.store.add_event(job_id, now, "started")
        spec = job.spec
        details = tuple(d for d in map(plan.detail, chunk) if d is not None)
        bake_job, bakes = after.bakes(self.store, job)
        # Without its file list, which the slave reads once per job (a project's thousands of files each chunk
        # would cost every answer hundreds of KB).
        return Assignment(job_id, tuple(chunk), spec.blend, spec.engine, (), spec.allow_scripts,
                          spec.persistent, spec.persistent_data, spec.shared, (), spec.output_dir, details,
                          bake_job, bakes, spec.vcs, spec.remote, spec.revision, listed=True)

    def _queue_turn(self, now: float) -> set[int]:
        """The jobs whose turn it is in a queue (``fifo``); autostart starts the next one here."""
        allowed, starting = queue.pick((self.store.job(i) for i in sorted(self.store.tally.open)),
                                       self.rules.autostart)
        if starting is not None:
            self.store.update_job(starting, started_by="auto")
            self.store.add_event(starting, now, "started by the queue (autostart)")
        return allowed

    def _not_for(self, job_id: int, plan: Plan, slave_id: str, capabilities: frozenset[str]) -> set[int]:
        """The job's queued tasks this slave cannot take now: waiting for others, needing what it lacks, or
        meant for another slave."""
        queued = self.store.task_numbers(job_id, FrameStatus.QUEUED)
        unable = {n for n in queued if not plan.needs(n) <= capabilities or plan.pinned(n) not in (None, slave_id)}
        return unable | plan.waiting(queued, set(self.store.task_numbers(job_id, FrameStatus.DONE)))

    def wait_for_work(self, slave_id: str, clock: Callable[[], float], timeout: float) -> Assignment | None:
        """:meth:`request_work`, waiting up to ``timeout`` seconds for work that suits the slave (long poll).

        An idle slave asks again the moment it is answered, so work that
        appears reaches it at once instead of at its next poll; the wait ends
        early when the master closes.
        """
        deadline = time.monotonic() + timeout
        with self.work_ready:
            self.waiting += 1
            self.waiting_slaves[slave_id] = self.waiting_slaves.get(slave_id, 0) + 1
            try:
                while True:
                    work = self.request_work(slave_id, clock())
                    remaining = deadline - time.monotonic()
                    if work is not None or remaining <= 0 or self.closing:
                        return work
                    self.work_ready.wait(remaining)
            finally:
                self.waiting -= 1
                self.waiting_slaves[slave_id] -= 1
                if not self.waiting_slaves[slave_id]:
                    del self.waiting_slaves[slave_id]

    def can_wait(self) -> bool:
        """Whether one more slave may wait for work: each waiting one holds a server thread."""
        return self.waiting < self.max_waiting and not self.closing

    def fail_frame(self, job_id: int, number: int, slave_id: str, message: str, now: float) -> Frame:
        """A slave could not render a frame: retry it elsewhere or fail it; maybe blacklist the slave."""
        with self.lock, self.store.transaction():
            self.store.touch_slave(slave_id, now)
            frame = self.store.frame(job_id, number)
            if frame.status is not FrameStatus.DISPATCHED or frame.slave_id != slave_id:
                return frame  # a stale report: the frame moved on without this slave
            self.store.add_failure(frame, slave_id, now, message)
            self.store.count_failed_frame(slave_id)
            if balancing.should_blacklist(self.store.count_failures(job_id, slave_id), self.rules):
                self.store.blacklist_for_job(job_id, slave_id, "auto", now)
            frame.failures += 1
            frame.message = message
            verdict = balancing.after_failure(frame.failures, self.rules, self._untried_slaves(frame, now))
            self.events.write(now, "frame.failed", job=job_id, frame=number, slave=slave_id, message=message,
                              retried=verdict == "retry")
            if verdict == "retry":
                self._move([frame], FrameEvent.REQUEUE)
            else:
                frame.finished_at = now
                self._move([frame], FrameEvent.FAIL)
                self._fail_dependents(frame, now)
            self._note_finish(job_id, now)
            return frame

    def _fail_dependents(self, failed: Frame, now: float) -> None:
        """A stitch cannot run without each of its tiles: one that failed for good fails it, with the reason."""
        for number in self.store.plan(failed.job_id).dependents(failed.number):
            task = self.store.frame(failed.job_id, number)
            if task.status is FrameStatus.QUEUED:
                task.message, task.finished_at = f"tile {failed.number} failed: {failed.message}", now
                self._move([task], FrameEvent.FAIL)

    # -- helpers (call with the lock held) -------------------------------------

    def _decay_usage(self, now: float, live: int | None = None) -> None:
        """Age the usage average to ``now``; ``live``: the live slaves, when the caller counted them already."""
        dt = 0.0 if self.usage_at is None else now - self.usage_at
        if live is None:
            live = self._live_slaves(now)
        self.usage = balancing.decay_usage(self.usage, self.store.busy_by_job(), live, dt, self.rules.half_life)
        self.usage_at = now

    def _untried_slaves(self, frame: Frame, now: float) -> int:
        """Live slaves that may take the frame's job and have not failed this frame yet."""
        job = self.store.job(frame.job_id)
        barred = {e["slave_id"] for e in self.store.job_blacklist(frame.job_id)}
        barred |= self.store.failures_of(frame.job_id, frame.number)
        needed = set(job.spec.tags) if self.rules.tags else set()
        able = self.store.plan(frame.job_id).needs(frame.number)
        return sum(
            1 for s in self.store.slaves()
            if now - s.last_seen <= self.rules.lost_timeout and not s.blacklisted and not s.disabled
            and s.id not in barred and needed <= set(s.tags) and able <= capabilities(s.facts)
        )

    def _move(self, frames: list[Frame], event: FrameEvent) -> None:
        for frame in frames:
            frame.status = next_frame_status(frame.status, event)
            if event in (FrameEvent.REQUEUE, FrameEvent.RESET):
                frame.slave_id, frame.dispatched_at = None, None
        self.store.save_frames(frames)
        if frames and event in (FrameEvent.REQUEUE, FrameEvent.RESET):
            self._wake()

    def _scarce(self, job_id: int, live: int) -> bool:
        tally = self.store.tally.get(job_id)
        return tally is None or tally.queued < live

    def _wake(self) -> None:
        """Work may have appeared (frames queued, a job resumed, a slave let back in): waiting slaves look."""
        self.work_ready.notify_all()

    def _note_finish(self, job_id: int, now: float) -> None:
        job = self.store.job(job_id)
        if job.status in (JobStatus.FINISHED, JobStatus.FAILED) and job.finished_at is None:
            self.store.update_job(job_id, finished_at=now)
            self.store.add_event(job_id, now, job.status.value)
