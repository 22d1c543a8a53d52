# SPDX-License-Identifier: GPL-3.0-or-later
"""Rows of jobs, their files, frames and frame failures, and per-job blacklists.

Two things are also kept in memory, for the work requests that read them all
the time: the :class:`~.tally.Tally` of every job's frames, and the rows (with
files, tags and blacklist) of the open jobs, those with frames queued or out.
Both change only right after the SQLite write that they mirror succeeded, and a
rolled-back transaction that touched either has them read again (see
``Store.transaction``), so they never say anything SQLite does not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ..balancing import Candidate
from ..errors import NotFound, UnknownJob
from ..model import FileRef, Frame, FrameStatus, Job, JobControl, JobSpec
from .tally import Tally

_FRAME_COLUMNS = "job_id, number, status, slave_id, render_time, message, dispatched_at, finished_at, failures"
_ACTIVE = JobControl.ACTIVE.value
_BULK = 64  # frames of one job in one save from which the old states are read in one query


def _candidate(**fields: Any) -> Candidate:
    """``Candidate(**fields)`` with every field given, twice as fast.

    A frozen dataclass sets each field through ``object.__setattr__``; this
    fills the instance's ``__dict__`` at once, which is where those calls put
    them. It runs for every active job on every work request.
    """
    made = object.__new__(Candidate)
    made.__dict__.update(fields)
    return made


@dataclass
class OpenJob:
    """A cached job row, for a job with frames queued or out; files and blacklist are read when first asked."""

    row: dict[str, Any]
    tags: frozenset[str]
    files: tuple[FileRef, ...] | None = None
    blacklist: frozenset[str] | None = None


class JobRows:
    """Rows of jobs, their files and frames, and frame failures."""

    db: sqlite3.Connection
    tally: Tally
    open_jobs: dict[int, OpenJob]

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _touched(self) -> None:
        """Note that memory changed: if the transaction in progress rolls back, read it all again."""
        raise NotImplementedError

    # -- jobs -------------------------------------------------------------

    def add_job(self, spec: JobSpec, now: float) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs (name, category, tags, priority, chunks, engine, blend, control,"
                " submitted_at, allow_scripts, remap, persistent, persistent_data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.name, spec.category, json.dumps(list(spec.tags)), spec.priority, spec.chunks,
                 spec.engine, spec.blend, _ACTIVE, now, int(spec.allow_scripts),
                 json.dumps(spec.remap), int(spec.persistent), int(spec.persistent_data)),
            )
            job_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO job_files (job_id, path, sha256, size) VALUES (?, ?, ?, ?)",
                [(job_id, f.path, f.sha256, f.size) for f in spec.files],
            )
            db.executemany(
                "INSERT INTO frames (job_id, number, seq, status) VALUES (?, ?, ?, ?)",
                [(job_id, n, i, FrameStatus.QUEUED.value) for i, n in enumerate(spec.frames)],
            )
            self._touched()
            self.tally.add_job(job_id, len(spec.frames))
        return job_id

    def _open_job(self, job_id: int) -> OpenJob | None:
        """The cached row of an open job (read and kept on first use); ``None`` for a job that is not open."""
        entry = self.open_jobs.get(job_id)
        if entry is None and job_id in self.tally.open:
            row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            self._touched()
            entry = self.open_jobs[job_id] = OpenJob(dict(row), frozenset(json.loads(row["tags"])))
        return entry

    def _files(self, job_id: int) -> tuple[FileRef, ...]:
        return tuple(
            FileRef(r["path"], r["sha256"], r["size"])
            for r in self.db.execute("SELECT * FROM job_files WHERE job_id = ? ORDER BY path", (job_id,))
        )

    def job(self, job_id: int) -> Job:
        entry = self._open_job(job_id)
        if entry is None:
            row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise UnknownJob(f"there is no job {job_id}")
            return self._job(row, self._files(job_id))
        if entry.files is None:
            self._touched()
            entry.files = self._files(job_id)
        return self._job(entry.row, entry.files)

    def jobs(self) -> list[Job]:
        rows = self.db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        return [self._job(row, self._files(row["id"])) for row in rows]

    def _job(self, row: sqlite3.Row | dict[str, Any], files: tuple[FileRef, ...]) -> Job:
        # The frame list stays out: a job can hold 100,000 frames; ``frames()`` reads them.
        spec = JobSpec(
            name=row["name"], blend=row["blend"], frames=(), files=files,
            category=row["category"], tags=tuple(json.loads(row["tags"])),
            priority=row["priority"], chunks=row["chunks"], engine=row["engine"],
            allow_scripts=bool(row["allow_scripts"]), remap=json.loads(row["remap"]),
            persistent=bool(row["persistent"]), persistent_data=bool(row["persistent_data"]),
        )
        return Job(
            id=row["id"], spec=spec, control=JobControl(row["control"]),
            submitted_at=row["submitted_at"], counts=self.tally.counts(row["id"]), started_at=row["started_at"],
            finished_at=row["finished_at"], last_dispatched=row["last_dispatched"],
        )

    def update_job(self, job_id: int, **values: Any) -> None:
        """Set columns of a job row; only names of ``jobs`` columns are accepted."""
        allowed = {"control", "started_at", "finished_at", "last_dispatched", "priority", "chunks"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"cannot update job columns {sorted(values)}")
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))
        entry = self.open_jobs.get(job_id)
        if entry is not None:
            self._touched()
            entry.row.update(values)

    def delete_job(self, job_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            self._touched()
            self.tally.drop_job(job_id)
            self.open_jobs.pop(job_id, None)

    def candidates(self, usage: Mapping[int, float]) -> list[Candidate]:
        """Every active job with frames queued or out, as the balancer sees it, by job id."""
        out = []
        for job_id in sorted(self.tally.open):
            tally = self.tally.jobs[job_id]
            entry = self._open_job(job_id)
            if entry is None or entry.row["control"] != _ACTIVE or not (tally.queued or tally.holders):
                continue
            if entry.blacklist is None:
                self._touched()
                entry.blacklist = frozenset(
                    s for (s,) in self.db.execute("SELECT slave_id FROM job_blacklist WHERE job_id = ?", (job_id,))
                )
            row = entry.row
            out.append(_candidate(
                job_id=job_id, submitted_at=row["submitted_at"], priority=row["priority"], category=row["category"],
                tags=entry.tags, queued=tally.queued, usage=usage.get(job_id, 0.0), busy=len(tally.holders),
                last_dispatched=row["last_dispatched"], started=row["started_at"] is not None,
                any_done=tally.done > 0, blacklist=entry.blacklist,
            ))
        return out

    def busy_by_job(self) -> dict[int, int]:
        """How many slaves render each job right now."""
        jobs = self.tally.jobs
        return {job_id: len(jobs[job_id].holders) for job_id in sorted(self.tally.open) if jobs[job_id].holders}

    # -- frames -----------------------------------------------------------

    def frames(self, job_id: int) -> list[Frame]:
        rows = self.db.execute(
            f"SELECT {_FRAME_COLUMNS} FROM frames WHERE job_id = ? ORDER BY seq", (job_id,)
        ).fetchall()
        return [self._frame(r) for r in rows]

    def frame(self, job_id: int, number: int) -> Frame:
        row = self.db.execute(
            f"SELECT {_FRAME_COLUMNS} FROM frames WHERE job_id = ? AND number = ?", (job_id, number)
        ).fetchone()
        if row is None:
            self.job(job_id)  # raises UnknownJob first, the clearer message
            raise NotFound(f"job {job_id} has no frame {number}")
        return self._frame(row)

    @staticmethod
    def _frame(row: sqlite3.Row) -> Frame:
        return Frame(
            job_id=row["job_id"], number=row["number"], status=FrameStatus(row["status"]),
            slave_id=row["slave_id"], render_time=row["render_time"], message=row["message"],
            dispatched_at=row["dispatched_at"], finished_at=row["finished_at"], failures=row["failures"],
        )

    def frame_layout(self, job_id: int, avoid: Collection[int] = (), limit: int = 1000) -> list[tuple[int, bool]]:
        """The stretch of the job's frames, in order, where the next chunk can start.

        It begins at the first queued frame not in ``avoid`` and holds at most
        ``limit`` frames, each with whether it is queued: all that
        :func:`balancing.take_chunk` needs, without reading every frame of a
        long job on each request.
        """
        marks = ", ".join("?" * len(avoid))
        start = self.db.execute(
            "SELECT MIN(seq) FROM frames WHERE job_id = ? AND status = ?"
            + (f" AND number NOT IN ({marks})" if avoid else ""),
            (job_id, FrameStatus.QUEUED.value, *avoid),
        ).fetchone()[0]
        if start is None:
            return []
        rows = self.db.execute(
            "SELECT number, status = ? FROM frames WHERE job_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (FrameStatus.QUEUED.value, job_id, start, limit),
        )
        return [(n, bool(q)) for n, q in rows]

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
        for f in frames:
            key = (f.job_id, f.number)
            old = before.get(key)
            if old is None:  # no such row: the update changed nothing
                continue
            new = before[key] = (f.status.value, f.slave_id)
            if not self.tally.move(f.job_id, old, new):
                self.open_jobs.pop(f.job_id, None)

    def _stored_states(self, frames: Sequence[Frame]) -> dict[tuple[int, int], tuple[str, str | None]]:
        """(status, slave id) of each frame as SQLite holds it now, by (job id, number)."""
        wanted: dict[int, set[int]] = {}
        for f in frames:
            wanted.setdefault(f.job_id, set()).add(f.number)
        states: dict[tuple[int, int], tuple[str, str | None]] = {}
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
        sql = f"SELECT {_FRAME_COLUMNS} FROM frames WHERE status = ?"
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
            f"SELECT {_FRAME_COLUMNS} FROM frames WHERE job_id = ? AND status = ? AND slave_id = ?"
            f" AND number IN ({marks}) ORDER BY seq",
            (job_id, FrameStatus.DISPATCHED.value, slave_id, *wanted),
        ).fetchall()
        return [self._frame(r) for r in rows]

    # -- failures and per-job blacklists ------------------------------------

    def add_failure(self, frame: Frame, slave_id: str, at: float, message: str) -> None:
        self.db.execute(
            "INSERT INTO frame_failures (job_id, number, slave_id, at, message) VALUES (?, ?, ?, ?, ?)",
            (frame.job_id, frame.number, slave_id, at, message),
        )

    def failed_by(self, job_id: int, slave_id: str) -> set[int]:
        """The frames of a job this slave has failed (and that were not reset since)."""
        rows = self.db.execute(
            "SELECT DISTINCT number FROM frame_failures WHERE job_id = ? AND slave_id = ?", (job_id, slave_id)
        )
        return {n for (n,) in rows}

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

    def clear_slave_failures(self, job_id: int, slave_id: str) -> None:
        self.db.execute("DELETE FROM frame_failures WHERE job_id = ? AND slave_id = ?", (job_id, slave_id))

    def job_blacklist(self, job_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT slave_id, reason, at FROM job_blacklist WHERE job_id = ? ORDER BY at", (job_id,)
        )
        return [{"slave_id": s, "reason": r, "at": a} for s, r, a in rows]

    def blacklist_for_job(self, job_id: int, slave_id: str, reason: str, at: float) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO job_blacklist (job_id, slave_id, reason, at) VALUES (?, ?, ?, ?)",
            (job_id, slave_id, reason, at),
        )
        self._forget_blacklist(job_id)

    def unblacklist_for_job(self, job_id: int, slave_id: str) -> bool:
        cur = self.db.execute("DELETE FROM job_blacklist WHERE job_id = ? AND slave_id = ?", (job_id, slave_id))
        self._forget_blacklist(job_id)
        return cur.rowcount > 0

    def _forget_blacklist(self, job_id: int) -> None:
        entry = self.open_jobs.get(job_id)
        if entry is not None:
            self._touched()
            entry.blacklist = None  # read again at the next work request

    # -- history --------------------------------------------------------------

    def add_event(self, job_id: int, at: float, event: str) -> None:
        self.db.execute("INSERT INTO job_events (job_id, at, event) VALUES (?, ?, ?)", (job_id, at, event))

    def events(self, job_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT at, event FROM job_events WHERE job_id = ? ORDER BY at, rowid", (job_id,))
        return [{"at": at, "event": event} for at, event in rows]

    def mean_render_times(self, job_id: int | None = None) -> dict[int, float]:
        """The mean render time of each job's finished frames."""
        where, args = ("AND job_id = ?", (job_id,)) if job_id is not None else ("", ())
        rows = self.db.execute(
            f"SELECT job_id, AVG(render_time) FROM frames WHERE status = ? AND render_time IS NOT NULL {where}"
            " GROUP BY job_id", (FrameStatus.DONE.value, *args),
        )
        return {j: t for j, t in rows}
