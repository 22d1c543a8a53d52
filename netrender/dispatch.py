# SPDX-License-Identifier: GPL-3.0-or-later
"""The slave-facing half of the farm: who gets which frames, and what a failure costs.

:class:`Dispatch` holds the balancing state (rules, the usage average) and
answers slaves: work requests, heartbeats, released and failed frames. It
applies :mod:`balancing`'s pure rules to rows from the store; :meth:`run_once`
is the periodic part (usage decay, lost slaves), driven by the master's
housekeeping thread or, in tests, by hand with a fake clock.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import balancing
from .balancing import BalanceRules
from .errors import NotFound
from .model import Assignment, Frame, FrameEvent, FrameStatus, JobControl, JobStatus, SlaveInfo, next_frame_status
from .store import Store

RULES_KEY = "balancing"
LIVE_COUNT_AGE = 1.0  # seconds a count of the live slaves is used before it is counted again
MAX_WAITING = 4  # slaves waiting for work at once: each holds a server thread (create_app sets it from them)
HEARTBEATS_PER_SECOND = 100.0  # what the heartbeats of all rendering slaves together may ask of the master


class Dispatch:
    store: Store
    lock: threading.RLock

    def __init__(self) -> None:
        saved = self.store.setting(RULES_KEY)
        self.rules = BalanceRules.from_json(json.loads(saved)) if saved else BalanceRules()
        self.usage: dict[int, float] = {}
        self.usage_at: float | None = None
        # Slaves waiting for work (long poll) sleep on this; anything that may have made work wakes them.
        self.work_ready = threading.Condition(self.lock)
        self.waiting = 0
        self.max_waiting = MAX_WAITING
        self.closing = False
        self._live_count: tuple[float, int] | None = None  # (when, how many): see _live_slaves

    # -- rules -----------------------------------------------------------------

    def set_rules(self, changes: Any) -> BalanceRules:
        """Change some balancing settings; the rest keep their values. Kept across restarts."""
        with self.lock:
            self.rules = BalanceRules.from_json(changes, base=self.rules)
            self.store.set_setting(RULES_KEY, json.dumps(self.rules.to_json()))
            self._live_count = None  # the lost timeout may have changed
            self._wake()
            return self.rules

    # -- slaves ----------------------------------------------------------------

    def register_slave(
        self, name: str, address: str, facts: dict[str, Any], tags: Iterable[str], now: float
    ) -> SlaveInfo:
        slave = SlaveInfo(
            id=secrets.token_hex(8), name=name, address=address, facts=facts,
            tags=tuple(tags), registered_at=now, last_seen=now,
        )
        with self.lock:
            self.store.add_slave(slave)
            self._live_count = None
        return slave

    def slaves(self, now: float) -> list[SlaveInfo]:
        """Every slave, with its state: lost past the silence timeout, else rendering or idle."""
        with self.lock:
            out = self.store.dispatched_frames()
            slaves = self.store.slaves()
        by_id = {s.id: s for s in slaves}
        for frame in sorted(out, key=lambda f: (f.job_id, f.number)):
            holder = by_id.get(frame.slave_id) if frame.slave_id is not None else None
            if holder is not None:
                holder.current_job = frame.job_id
                holder.current_frames.append(frame.number)
        for slave in slaves:
            if slave.disabled:
                slave.state = "disabled"
            elif self.rules.lost and now - slave.last_seen > self.rules.lost_timeout:
                slave.state = "lost"
            else:
                slave.state = "rendering" if slave.current_frames else "idle"
        return slaves

    def set_disabled(self, slave_id: str, disabled: bool, now: float) -> SlaveInfo:
        """Disable a slave: no more work, and its frames go back to the queue (it stops at its heartbeat)."""
        with self.lock, self.store.transaction():
            self.store.set_disabled(slave_id, disabled)
            self._live_count = None
            if disabled:
                self._move(self.store.dispatched_frames(slave_id), FrameEvent.REQUEUE)
            self._wake()
        return next(s for s in self.slaves(now) if s.id == slave_id)

    def set_farm_blacklist(self, slave_id: str, blacklisted: bool, now: float) -> SlaveInfo:
        with self.lock:
            self.store.set_blacklisted(slave_id, blacklisted)
            self._live_count = None
            self._wake()
            return next(s for s in self.slaves(now) if s.id == slave_id)

    def set_job_blacklist(self, job_id: int, slave_id: str, blacklisted: bool, now: float) -> list[dict[str, Any]]:
        """Add a slave to a job's blacklist by hand, or take it off (also an automatic entry)."""
        with self.lock:
            self.store.job(job_id)
            if blacklisted:
                self.store.slave(slave_id)
                self.store.blacklist_for_job(job_id, slave_id, "manual", now)
            elif self.store.unblacklist_for_job(job_id, slave_id):
                # A fresh start: its old failures would blacklist it again at the next one.
                self.store.clear_slave_failures(job_id, slave_id)
            else:
                raise NotFound(f"slave {slave_id!r} is not on job {job_id}'s blacklist")
            self._wake()
            return self.store.job_blacklist(job_id)

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
        if gate.blacklisted or gate.disabled:
            return None
        live = self._live_slaves(now)
        self._decay_usage(now, live)
        view = balancing.SlaveView(slave_id, gate.tags)
        candidates = self.store.candidates(self.usage)
        passed: set[int] = set()
        while True:
            job_id = balancing.choose_job(candidates, view, now, self.rules, slaves=live, exclude=passed)
            if job_id is None:
                return None
            job = self.store.job(job_id)
            failed = self.store.failed_by(job_id, slave_id) if self.rules.retry else set()
            size = job.spec.chunks if self.rules.chunks else 1
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
        return Assignment(job_id, tuple(chunk), job.spec.blend, job.spec.engine, job.spec.files,
                          job.spec.allow_scripts, job.spec.remap, job.spec.persistent, job.spec.persistent_data)

    def wait_for_work(self, slave_id: str, clock: Callable[[], float], timeout: float) -> Assignment | None:
        """:meth:`request_work`, waiting up to ``timeout`` seconds for work that suits the slave (long poll).

        An idle slave asks again the moment it is answered, so work that
        appears reaches it at once instead of at its next poll; the wait ends
        early when the master closes.
        """
        deadline = time.monotonic() + timeout
        with self.work_ready:
            self.waiting += 1
            try:
                while True:
                    work = self.request_work(slave_id, clock())
                    remaining = deadline - time.monotonic()
                    if work is not None or remaining <= 0 or self.closing:
                        return work
                    self.work_ready.wait(remaining)
            finally:
                self.waiting -= 1

    def can_wait(self) -> bool:
        """Whether one more slave may wait for work: each waiting one holds a server thread."""
        return self.waiting < self.max_waiting and not self.closing

    def heartbeat(self, slave_id: str, job_id: int | None, frames: Iterable[int], now: float) -> bool:
        """Note the slave is alive; return whether it should stop rendering ``frames``.

        It should stop when the job was cancelled or removed, or when none of the
        frames is still dispatched to it (they were requeued while it was silent).
        """
        with self.lock:
            self.store.touch_slave(slave_id, now)
            if job_id is None:
                return False
            try:
                job = self.store.job(job_id)
            except NotFound:
                return True
            if job.control is JobControl.CANCELLED:
                return True
            return not self.store.dispatched_to(slave_id, job_id, frames)

    def heartbeat_interval(self, now: float) -> float:
        """Seconds a rendering slave should let pass before its next heartbeat.

        The more slaves, the rarer each one's beats, so that together they
        stay under :data:`HEARTBEATS_PER_SECOND` (a thousand slaves beating
        twice a second would keep the master from anything else); never so
        rare that a slave would look lost.
        """
        with self.lock:
            live = self._live_slaves(now)
        return min(live / HEARTBEATS_PER_SECOND, self.rules.lost_timeout / 4)

    def release(self, slave_id: str, job_id: int, frames: Iterable[int], now: float) -> list[int]:
        """Put back in the queue the frames a stopping slave will not finish; return them."""
        with self.lock, self.store.transaction():
            self.store.touch_slave(slave_id, now)
            self.store.job(job_id)
            mine = self.store.dispatched_to(slave_id, job_id, frames)
            self._move(mine, FrameEvent.REQUEUE)
            return [f.number for f in mine]

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
            if verdict == "retry":
                self._move([frame], FrameEvent.REQUEUE)
            else:
                frame.finished_at = now
                self._move([frame], FrameEvent.FAIL)
            self._note_finish(job_id, now)
            return frame

    def run_once(self, now: float) -> list[Frame]:
        """Periodic duties: age the usage average; requeue the frames of lost slaves (returned).

        Then, outside the lock, copy SQLite's write-ahead log into the database,
        so that the requests in between never wait for it.
        """
        orphans = self._requeue_lost(now)
        self.store.checkpoint()
        return orphans

    def _requeue_lost(self, now: float) -> list[Frame]:
        with self.lock, self.store.transaction():
            self._decay_usage(now)
            if not self.rules.lost:
                return []
            seen = self.store.last_seen()
            lost = balancing.lost_slaves(
                {s: seen.get(s, 0.0) for s in self.store.tally.holders()}, now, self.rules.lost_timeout
            )
            if not lost:  # the usual case: no frame is read
                return []
            orphans = [f for f in self.store.dispatched_frames() if f.slave_id in lost]
            self._move(orphans, FrameEvent.REQUEUE)
            return orphans

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
        return sum(
            1 for s in self.store.slaves()
            if now - s.last_seen <= self.rules.lost_timeout and not s.blacklisted and not s.disabled
            and s.id not in barred and needed <= set(s.tags)
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

    def _live_slaves(self, now: float) -> int:
        """How many slaves may get work; counted at most once a second (:data:`LIVE_COUNT_AGE`).

        The count only weighs fair shares, and a slave becomes lost after a
        minute of silence, so a second's delay changes nothing, while counting
        a thousand rows on every work request cost a tenth of it. A slave that
        registers, or is disabled or blacklisted, has it counted again at once.
        """
        known = self._live_count
        if known is None or not 0.0 <= now - known[0] < LIVE_COUNT_AGE:
            known = self._live_count = (now, self.store.live_slaves(now - self.rules.lost_timeout))
        return known[1]

    def _wake(self) -> None:
        """Work may have appeared (frames queued, a job resumed, a slave let back in): waiting slaves look."""
        self.work_ready.notify_all()

    def _note_finish(self, job_id: int, now: float) -> None:
        job = self.store.job(job_id)
        if job.status in (JobStatus.FINISHED, JobStatus.FAILED) and job.finished_at is None:
            self.store.update_job(job_id, finished_at=now)
            self.store.add_event(job_id, now, job.status.value)
