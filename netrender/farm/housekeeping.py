# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm's periodic duties: age the usage average, requeue lost slaves' frames, fail stranded jobs.

:meth:`Housekeeping.run_once` is driven by the master's housekeeping thread
about once a second or, in tests, by hand with a fake clock: nothing here
sleeps or reads the wall clock. Each duty opens a transaction only when it
has something to write, as it runs whether the farm is busy or idle.
"""

from __future__ import annotations

from .. import balancing
from ..common.model import Frame, FrameEvent, FrameStatus
from . import after
from .dispatch import Dispatch


class Housekeeping(Dispatch):
    def run_once(self, now: float) -> list[Frame]:
        """Periodic duties: age the usage average; requeue the frames of lost slaves (returned).

        Then, outside the lock, copy SQLite's write-ahead log into the database,
        so that the requests in between never wait for it.
        """
        orphans, seen = self._requeue_lost(now)
        self._fail_stranded(now)
        self.note_lost(now, seen)
        if changed := self.speeds.dirty():
            with self.lock, self.store.transaction():
                self.store.save_speeds(changed)
        self.store.checkpoint()
        return orphans

    def _fail_stranded(self, now: float) -> None:
        """Jobs waiting for one that failed, was cancelled or removed fail their queued tasks, with the reason."""
        with self.lock:
            stranded = after.stranded(self.store)
        if not stranded:  # the usual case: no write, no transaction
            return
        with self.lock, self.store.transaction():
            for job_id, why in stranded:
                queued = [f for f in self.store.frames(job_id) if f.status is FrameStatus.QUEUED]
                for frame in queued:
                    frame.message, frame.finished_at = why, now
                self._move(queued, FrameEvent.FAIL)
                self.store.add_event(job_id, now, f"cannot start: {why}")
                self._note_finish(job_id, now)

    def _requeue_lost(self, now: float) -> tuple[list[Frame], dict[str, float]]:
        """The frames requeued, and when each slave was last heard from (none when the ``lost`` rule is off)."""
        with self.lock, self.store.transaction():
            self._decay_usage(now)
            if not self.rules.lost:
                return [], {}
            seen = self.store.last_seen()
            lost = balancing.lost_slaves(
                {s: seen.get(s, 0.0) for s in self.store.tally.holders()}, now, self.rules.lost_timeout
            )
            if not lost:  # the usual case: no frame is read
                return [], seen
            orphans = [f for f in self.store.dispatched_frames() if f.slave_id in lost]
            self._move(orphans, FrameEvent.REQUEUE)
            return orphans, seen
