# SPDX-License-Identifier: GPL-3.0-or-later
"""What the master keeps in memory of its frames: how many of each job are in each state, and who holds them.

Every work request needs, for every active job, its queued frames and the
slaves rendering it; counting them in SQLite on each request cost most of a
request's time. :class:`Tally` keeps those numbers instead. SQLite stays the
source of truth: the tally is built from it when the store opens
(:meth:`Tally.load`), the store changes it right after each write to the
``frames`` table succeeds, and a rolled-back transaction that touched it has
it built again. It holds a few integers per job and one entry per slave
rendering a job, so its size follows the number of jobs, never of frames.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ...common.model import FrameCounts, FrameStatus

_DISPATCHED = FrameStatus.DISPATCHED.value


class JobTally:
    """One job's frames by status, and how many of its frames each slave holds."""

    __slots__ = ("queued", "dispatched", "done", "error", "holders")

    def __init__(self) -> None:
        self.queued = self.dispatched = self.done = self.error = 0
        self.holders: dict[str, int] = {}  # slave id -> frames of this job dispatched to it

    @property
    def busy(self) -> int:
        """How many slaves render the job now."""
        return len(self.holders)

    def counts(self) -> FrameCounts:
        total = self.queued + self.dispatched + self.done + self.error
        return FrameCounts(total, self.queued, self.dispatched, self.done, self.error)

    def add(self, status: str, slave_id: str | None, by: int) -> None:
        """Count ``by`` frames (negative: uncount them) in ``status``, held by ``slave_id`` if dispatched."""
        setattr(self, status, getattr(self, status) + by)  # AttributeError on a status the tally does not know
        if status == _DISPATCHED and slave_id is not None:
            held = self.holders.get(slave_id, 0) + by
            if held:
                self.holders[slave_id] = held
            else:
                del self.holders[slave_id]
                if not self.holders:  # a dict keeps the room its most slaves took: give it back
                    self.holders = {}

    def snapshot(self) -> tuple[int, int, int, int, dict[str, int]]:
        return self.queued, self.dispatched, self.done, self.error, dict(self.holders)


class Tally:
    """Every job's :class:`JobTally`, and the set of open jobs: those with frames queued or out."""

    def __init__(self) -> None:
        self.jobs: dict[int, JobTally] = {}
        self.open: set[int] = set()

    @classmethod
    def from_db(cls, db: sqlite3.Connection) -> Tally:
        tally = cls()
        tally.load(db)
        return tally

    def load(self, db: sqlite3.Connection) -> None:
        """Count everything again from SQLite."""
        self.jobs, self.open = {}, set()
        for job_id, status, n in db.execute("SELECT job_id, status, COUNT(*) FROM frames GROUP BY job_id, status"):
            self._job(job_id).add(status, None, n)
        for job_id, slave_id, n in db.execute(
            "SELECT job_id, slave_id, COUNT(*) FROM frames WHERE status = ? AND slave_id IS NOT NULL"
            " GROUP BY job_id, slave_id", (_DISPATCHED,),
        ):
            self.jobs[job_id].holders[slave_id] = n
        self.open = {j for j, t in self.jobs.items() if t.queued or t.dispatched}

    def _job(self, job_id: int) -> JobTally:
        tally = self.jobs.get(job_id)
        if tally is None:
            tally = self.jobs[job_id] = JobTally()
        return tally

    def counts(self, job_id: int) -> FrameCounts:
        tally = self.jobs.get(job_id)
        return tally.counts() if tally is not None else FrameCounts()

    def get(self, job_id: int) -> JobTally | None:
        return self.jobs.get(job_id)

    def holds(self, slave_id: str) -> bool:
        """Whether the slave holds a frame of some job."""
        return any(slave_id in self.jobs[job_id].holders for job_id in self.open)

    def holders(self) -> set[str]:
        """Every slave holding a frame of some job."""
        return {slave_id for job_id in self.open for slave_id in self.jobs[job_id].holders}

    def add_job(self, job_id: int, frames: int) -> None:
        """A new job: all its frames queued."""
        self._job(job_id).add(FrameStatus.QUEUED.value, None, frames)
        self._reopen(job_id)

    def drop_job(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)
        self.open.discard(job_id)

    def move(self, job_id: int, old: tuple[str, str | None], new: tuple[str, str | None]) -> bool:
        """One frame went from ``old`` to ``new`` (status, slave id); return whether the job is still open."""
        tally = self._job(job_id)
        tally.add(old[0], old[1], -1)
        tally.add(new[0], new[1], 1)
        return self._reopen(job_id)

    def _reopen(self, job_id: int) -> bool:
        tally = self.jobs[job_id]
        if tally.queued or tally.dispatched:
            self.open.add(job_id)
            return True
        self.open.discard(job_id)
        return False

    def snapshot(self) -> dict[int, Any]:
        """Every job's numbers, leaving out jobs with no frames: equal for equal tallies."""
        return {j: t.snapshot() for j, t in sorted(self.jobs.items()) if t.counts().total}
