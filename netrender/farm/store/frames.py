# SPDX-License-Identifier: GPL-3.0-or-later
"""Rows of frames and of frame failures.

Saving a frame also moves it in the :class:`~.tally.Tally`, from the state
SQLite held for it, and SQLite's triggers note a dispatch in the job's row
and a finished frame in its slave's (schema step 6). For a frame read in the same transaction that state is
already known: while a transaction is open, each frame read notes its stored
state, and the next transaction starts with none, so a busy cycle (a result
in, the next chunk out) reads each of its rows once. Which frames a slave
failed is kept with the open job's cached row, as every hand-out asks it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from ...common.errors import NotFound
from ...common.model import Frame, FrameStatus, Job
from .jobs import OpenJob
from .tally import Tally

FRAME_COLUMNS = "job_id, number, status, slave_id, render_time, message, dispatched_at, finished_at, failures"
_QUEUED = FrameStatus.QUEUED.value
_DISPATCHED = FrameStatus.DISPATCHED.value
_BULK = 64  # frames of one job in one save from which the old states are read in one query

Stored = tuple[str, "str | None"]  # (status, slave id) of a frame as SQLite holds it


class FrameRows:
    """Rows of frames and frame failures; mixed into the store with the job rows."""

    db: sqlite3.Connection
    tally: Tally
    open_jobs: dict[int, OpenJob]
    read_states: dict[tuple[int, int], Stored]  # frames read in the transaction in progress

    def job(self, job_id: int) -> Job:
        raise NotImplementedError

    def _open_job(self, job_id: int) -> OpenJob | None:
        raise NotImplementedError

    def _touched(self) -> None:
        raise NotImplementedError

    # -- frames -----------------------------------------------------------

    def frames(self, job_id: int) -> list[Frame]:
        rows = self.db.execute(
            f"SELECT {FRAME_COLUMNS} FROM frames WHERE job_id = ? ORDER BY seq", (job_id,)
        ).fetchall()
        return [self._frame(r) for r in rows]

    def frame(self, job_id: int, number: int) -> Frame:
        row = self.db.execute(
            f"SELECT {FRAME_COLUMNS} FROM frames WHERE job_id = ? AND number = ?", (job_id, number)
        ).fetchone()
        if row is None:
            self.job(job_id)  # raises UnknownJob first, the clearer message
            raise NotFound(f"job {job_id} has no frame {number}")
        return self._frame(row)

    def _frame(self, row: sqlite3.Row) -> Frame:
        job_id, number, status, slave_id = row["job_id"], row["number"], row["status"], row["slave_id"]
        if self.db.in_transaction:
            self.read_states[(job_id, number)] = (status, slave_id)
        return Frame(
            job_id=job_id, number=number, status=FrameStatus(status), slave_id=slave_id,
            render_time=row["render_time"], message=row["message"], dispatched_at=row["dispatched_at"],
            finished_at=row["finished_at"], failures=row["failures"],
        )

    def next_frames(self, job_id: int, avoid: Collection[int] = (), limit: int = 1000) -> list[Frame]:
        """The stretch of the job's frames, in order, where the next chunk can start.

        It begins at the first queued frame not in ``avoid`` and holds at most
        ``limit`` frames: all that :func:`balancing.take_chunk` needs, in one
        query, without reading every frame of a long job on each request.
        """
        marks = ", ".join("?" * len(avoid))
        rows = self.db.execute(
            f"SELECT {FRAME_COLUMNS} FROM frames WHERE job_id = ? AND seq >= ("
            "SELECT MIN(seq) FROM frames WHERE job_id = ? AND status = ?"
            + (f" AND number NOT IN ({marks})" if avoid else "")
            + ") ORDER BY seq LIMIT ?",
            (job_id, job_id, _QUEUED, *avoid, limit),
        ).fetchall()
        return [self._frame(r) for r in rows]

    def task_numbers(self, job_id: int, status: FrameStatus) -> list[int]:
        """The numbers of the job's tasks in ``status``, in their order."""
        rows = self.db.execute("SELECT number FROM frames WHERE job_id = ? AND status = ? ORDER BY seq",
                               (job_id, status.value))
        return [row[0] for row in rows]

    def save_frames(self, frames: Sequence[Frame]) -> None:
        """Write the frames' rows, and move them in the tally from the state SQLite held for them."""
        before = self._stored_states(frames)
        self.db.executemany(
            "UPDATE frames SET status = ?, slave_id = ?, render_time = ?, message = ?,"
            " dispatched_at = ?, finished_at = ?, failures = ? WHERE job_id = ? AND number = ?",
            [(f.status.value, f.slave_id, f.render_time, f.message, f.dispatched_at, f.finished_at,
              f.failures, f.job_id, f.number) for f in frames],
        )
        if frames:
            self._touched()
        noting = self.db.in_transaction
        for f in frames:
            key = (f.job_id, f.number)
            old = before.get(key)
            if old is None:  # no such row: the update changed nothing
                continue
            new = before[key] = (f.status.value, f.slave_id)
            if noting:
                self.read_states[key] = new
            if new[0] == _DISPATCHED and old[0] != _DISPATCHED:
                self._dispatched(f)
            if not self.tally.move(f.job_id, old, new):
                self.open_jobs.pop(f.job_id, None)

    def _dispatched(self, frame: Frame) -> None:
        """What the ``frame_dispatched`` trigger did to the job's row (see schema step 6), in the cached row."""
        entry = self.open_jobs.get(frame.job_id)
        if entry is not None:
            row = entry.row
            row["last_dispatched"] = frame.dispatched_at
            if row["started_at"] is None:
                row["started_at"] = frame.dispatched_at

    def _stored_states(self, frames: Sequence[Frame]) -> dict[tuple[int, int], Stored]:
        """(status, slave id) of each frame as SQLite holds it now, by (job id, number)."""
        states: dict[tuple[int, int], Stored] = {}
        wanted: dict[int, set[int]] = {}
        for f in frames:
            key = (f.job_id, f.number)
            known = self.read_states.get(key)
            if known is not None:
                states[key] = known
            else:
                wanted.setdefault(f.job_id, set()).add(f.number)
        for job_id, numbers in wanted.items():
            if len(numbers) >= _BULK:
                rows = self.db.execute("SELECT number, status, slave_id FROM frames WHERE job_id = ?", (job_id,))
                states.update(((job_id, n), (st, sl)) for n, st, sl in rows if n in numbers)
                continue
            for number in numbers:
                row = self.db.execute(
                    "SELECT status, slave_id FROM frames WHERE job_id = ? AND number = ?", (job_id, number)
                ).fetchone()
                if row is not None:
                    states[(job_id, number)] = (row[0], row[1])
        return states

    def dispatched_frames(self, slave_id: str | None = None) -> list[Frame]:
        sql = f"SELECT {FRAME_COLUMNS} FROM frames WHERE status = ?"
        args: tuple[Any, ...] = (FrameStatus.DISPATCHED.value,)
        if slave_id is not None:
            sql += " AND slave_id = ?"
            args += (slave_id,)
        return [self._frame(r) for r in self.db.execute(sql, args)]

    def dispatched_to(self, slave_id: str, job_id: int, numbers: Iterable[int]) -> list[Frame]:
        """Those of ``numbers`` that are still dispatched to ``slave_id``."""
        wanted = list(dict.fromkeys(numbers))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        rows = self.db.execute(
            f"SELECT {FRAME_COLUMNS} FROM frames WHERE job_id = ? AND status = ? AND slave_id = ?"
            f" AND number IN ({marks}) ORDER BY seq",
            (job_id, FrameStatus.DISPATCHED.value, slave_id, *wanted),
        ).fetchall()
        return [self._frame(r) for r in rows]

    # -- failures ------------------------------------------------------------

    def add_failure(self, frame: Frame, slave_id: str, at: float, message: str) -> None:
        self.db.execute(
            "INSERT INTO frame_failures (job_id, number, slave_id, at, message) VALUES (?, ?, ?, ?, ?)",
            (frame.job_id, frame.number, slave_id, at, message),
        )
        self._forget_failures(frame.job_id)

    def failed_by(self, job_id: int, slave_id: str) -> set[int]:
        """The frames of a job this slave has failed (and that were not reset since)."""
        entry = self._open_job(job_id)
        if entry is None:
            rows = self.db.execute(
                "SELECT DISTINCT number FROM frame_failures WHERE job_id = ? AND slave_id = ?", (job_id, slave_id)
            )
            return {n for (n,) in rows}
        if entry.failed is None:
            self._touched()
            found: dict[str, set[int]] = {}
            for slave, number in self.db.execute(
                "SELECT slave_id, number FROM frame_failures WHERE job_id = ?", (job_id,)
            ):
                found.setdefault(slave, set()).add(number)
            entry.failed = {s: frozenset(n) for s, n in found.items()}
        return set(entry.failed.get(slave_id, ()))

    def failures_of(self, job_id: int, number: int) -> set[str]:
        """The slaves that have failed this frame."""
        rows = self.db.execute(
            "SELECT DISTINCT slave_id FROM frame_failures WHERE job_id = ? AND number = ?", (job_id, number)
        )
        return {s for (s,) in rows}

    def count_failures(self, job_id: int, slave_id: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM frame_failures WHERE job_id = ? AND slave_id = ?", (job_id, slave_id)
        ).fetchone()
        return int(row[0])

    def clear_failures(self, job_id: int, numbers: Iterable[int]) -> None:
        self.db.executemany(
            "DELETE FROM frame_failures WHERE job_id = ? AND number = ?", [(job_id, n) for n in numbers]
        )
        self._forget_failures(job_id)

    def clear_slave_failures(self, job_id: int, slave_id: str) -> None:
        self.db.execute("DELETE FROM frame_failures WHERE job_id = ? AND slave_id = ?", (job_id, slave_id))
        self._forget_failures(job_id)

    def _forget_failures(self, job_id: int) -> None:
        entry = self.open_jobs.get(job_id)
        if entry is not None:
            self._touched()
            entry.failed = None  # read again when next asked
