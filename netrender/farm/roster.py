# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm's slaves: who they are, whether they may work, whether they are alive.

:class:`Roster` registers slaves and lists them with their state, switches
them off and on (disabled, blacklisted for the farm or for a job), hears their
heartbeats and the frames they give back, and counts the live ones for the
balancer. :class:`~.dispatch.Dispatch` builds on it to hand out work.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from typing import Any

from ..balancing import BalanceRules
from ..common.errors import NotFound
from ..common.model import Frame, FrameEvent, JobControl, SlaveInfo
from .eventlog import EventLog
from .speeds import Speeds
from .store import Store

LIVE_COUNT_AGE = 1.0  # seconds a count of the live slaves is used before it is counted again
HEARTBEATS_PER_SECOND = 100.0  # what the heartbeats of all rendering slaves together may ask of the master


class Roster:
    store: Store
    lock: threading.RLock
    rules: BalanceRules
    events: EventLog

    def __init__(self) -> None:
        self._live_count: tuple[float, int] | None = None  # (when, how many): see _live_slaves
        self.speeds = Speeds(self.store.speeds())
        self.gone: set[str] = set()  # slaves that left or were logged lost, until heard from again

    def _move(self, frames: list[Frame], event: FrameEvent) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        raise NotImplementedError

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
        self.events.write(now, "slave.joined", slave=slave.id, name=name, address=address)
        return slave

    def slave_left(self, slave_id: str, now: float) -> None:
        """A slave that stops cleanly says so: the event log tells it from one that was lost."""
        with self.lock:
            self.store.slave_gate(slave_id)  # an unknown slave is a 404
            self.gone.add(slave_id)
        self.events.write(now, "slave.left", slave=slave_id)

    def note_lost(self, now: float, seen: dict[str, float]) -> None:
        """Log each slave silent past the lost timeout once, until it is heard from again.

        ``seen``: when each slave was last heard from, as the requeueing of lost slaves read it.
        """
        for slave_id, last in seen.items():
            if now - last <= self.rules.lost_timeout:
                self.gone.discard(slave_id)
            elif slave_id not in self.gone:
                self.gone.add(slave_id)
                self.events.write(now, "slave.lost", slave=slave_id, silent_for=round(now - last, 1))

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
            slave.speed = self.speeds.of(slave.id)
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

    def switch_for_job(self, job_id: int, slave_id: str, enabled: bool, now: float) -> list[str]:
        """Switch a slave off for one job (it renders the others), or on again; the slaves off for the job.

        Not a blacklisting: nothing failed, and taking a slave off the blacklist leaves its switch alone.
        """
        with self.lock:
            self.store.job(job_id)
            self.store.slave(slave_id)
            if enabled:
                self.store.unblacklist_for_job(job_id, slave_id, switch=True)
            else:
                self.store.blacklist_for_job(job_id, slave_id, "disabled", now)
            self._wake()
            return [e["slave_id"] for e in self.store.job_blacklist(job_id, switched_off=True)]

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

    # -- liveness --------------------------------------------------------------

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
