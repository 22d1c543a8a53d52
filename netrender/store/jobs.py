# SPDX-License-Identifier: GPL-3.0-or-later
"""Rows of jobs, their files, frames and frame failures, and per-job blacklists."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..balancing import Candidate
from ..errors import NotFound, UnknownJob
from ..model import FileRef, Frame, FrameCounts, FrameStatus, Job, JobControl, JobSpec


@functools.lru_cache(maxsize=4096)
def _tag_set(text: str) -> frozenset[str]:
    """Tags as stored (JSON); cached, as every work request reads every active job's."""
    return frozenset(json.loads(text))


_FRAME_COLUMNS = "job_id, number, status, slave_id, render_time, message, dispatched_at, finished_at, failures"


class JobRows:
    """Rows of jobs, their files and frames, and frame failures."""

    db: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError


    # -- jobs -------------------------------------------------------------

    def add_job(self, spec: JobSpec, now: float) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs (name, category, tags, priority, chunks, engine, blend, control,"
                " submitted_at, allow_scripts, remap) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.name, spec.category, json.dumps(list(spec.tags)), spec.priority, spec.chunks,
                 spec.engine, spec.blend, JobControl.ACTIVE.value, now, int(spec.allow_scripts),
                 json.dumps(spec.remap)),
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
        return job_id

    def job(self, job_id: int) -> Job:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJob(f"there is no job {job_id}")
        return self._job(row, self._counts(job_id).get(job_id, FrameCounts()))

    def jobs(self) -> list[Job]:
        counts = self._counts()
        rows = self.db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        return [self._job(row, counts.get(row["id"], FrameCounts())) for row in rows]

    def _counts(self, job_id: int | None = None) -> dict[int, FrameCounts]:
        """Frames per status, of one job or of all."""
        counts: dict[int, FrameCounts] = {}
        where, args = ("WHERE job_id = ?", (job_id,)) if job_id is not None else ("", ())
        for job_id, status, n in self.db.execute(
            f"SELECT job_id, status, COUNT(*) FROM frames {where} GROUP BY job_id, status", args
        ):
            c = counts.setdefault(job_id, FrameCounts())
            setattr(c, status, n)
            c.total += n
        return counts

    def _job(self, row: sqlite3.Row, counts: FrameCounts) -> Job:
        files = tuple(
            FileRef(r["path"], r["sha256"], r["size"])
            for r in self.db.execute("SELECT * FROM job_files WHERE job_id = ? ORDER BY path", (row["id"],))
        )
        # The frame list stays out: a job can hold 100,000 frames; ``frames()`` reads them.
        spec = JobSpec(
            name=row["name"], blend=row["blend"], frames=(), files=files,
            category=row["category"], tags=tuple(json.loads(row["tags"])),
            priority=row["priority"], chunks=row["chunks"], engine=row["engine"],
            allow_scripts=bool(row["allow_scripts"]), remap=json.loads(row["remap"]),
        )
        return Job(
            id=row["id"], spec=spec, control=JobControl(row["control"]),
            submitted_at=row["submitted_at"], counts=counts, started_at=row["started_at"],
            finished_at=row["finished_at"], last_dispatched=row["last_dispatched"],
        )

    def update_job(self, job_id: int, **values: Any) -> None:
        """Set columns of a job row; only names of ``jobs`` columns are accepted."""
        allowed = {"control", "started_at", "finished_at", "last_dispatched", "priority", "chunks"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"cannot update job columns {sorted(values)}")
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))

    def delete_job(self, job_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def candidates(self, usage: Mapping[int, float]) -> list[Candidate]:
        """Every active job with frames queued or out, as the balancer sees it."""
        rows = self.db.execute(
            "SELECT j.id, j.submitted_at, j.priority, j.category, j.tags, j.started_at, j.last_dispatched,"
            " SUM(f.status = 'queued') AS queued, SUM(f.status = 'done') AS done,"
            " COUNT(DISTINCT CASE WHEN f.status = 'dispatched' THEN f.slave_id END) AS busy"
            " FROM jobs j JOIN frames f ON f.job_id = j.id WHERE j.control = ?"
            " GROUP BY j.id HAVING queued > 0 OR busy > 0",
            (JobControl.ACTIVE.value,),
        ).fetchall()
        blacklists: dict[int, set[str]] = {}
        for job_id, slave_id in self.db.execute("SELECT job_id, slave_id FROM job_blacklist"):
            blacklists.setdefault(job_id, set()).add(slave_id)
        return [
            Candidate(
                job_id=job_id, submitted_at=submitted, priority=priority, category=category,
                tags=_tag_set(tags), queued=queued, usage=usage.get(job_id, 0.0), busy=busy,
                last_dispatched=last, started=started is not None, any_done=done > 0,
                blacklist=frozenset(blacklists.get(job_id, ())),
            )
            for job_id, submitted, priority, category, tags, started, last, queued, done, busy in rows
        ]

    def busy_by_job(self) -> dict[int, int]:
        """How many slaves render each job right now."""
        rows = self.db.execute(
            "SELECT job_id, COUNT(DISTINCT slave_id) FROM frames WHERE status = ? GROUP BY job_id",
            (FrameStatus.DISPATCHED.value,),
        )
        return {job_id: n for job_id, n in rows}

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
        self.db.executemany(
            "UPDATE frames SET status = ?, slave_id = ?, render_time = ?, message = ?,"
            " dispatched_at = ?, finished_at = ?, failures = ? WHERE job_id = ? AND number = ?",
            [(f.status.value, f.slave_id, f.render_time, f.message, f.dispatched_at, f.finished_at,
              f.failures, f.job_id, f.number) for f in frames],
        )

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

    def unblacklist_for_job(self, job_id: int, slave_id: str) -> bool:
        cur = self.db.execute("DELETE FROM job_blacklist WHERE job_id = ? AND slave_id = ?", (job_id, slave_id))
        return cur.rowcount > 0

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
