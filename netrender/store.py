# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's state in SQLite: jobs, their files and frames, and slaves.

One connection, used under the farm's lock; WAL mode so a crash between two
writes loses at most the write in flight. The store only reads and writes rows:
what a change *means* is decided by the farm.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .balancing import Candidate
from .errors import NotFound, UnknownJob, UnknownSlave
from .model import (
    FileRef,
    Frame,
    FrameCounts,
    FrameStatus,
    Job,
    JobControl,
    JobSpec,
    SlaveInfo,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL, category TEXT NOT NULL, tags TEXT NOT NULL,
    priority INTEGER NOT NULL, chunks INTEGER NOT NULL, engine TEXT NOT NULL,
    blend TEXT NOT NULL, control TEXT NOT NULL,
    submitted_at REAL NOT NULL, started_at REAL, finished_at REAL, last_dispatched REAL
);
CREATE TABLE IF NOT EXISTS job_files (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (job_id, path)
);
CREATE TABLE IF NOT EXISTS frames (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    number INTEGER NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
    slave_id TEXT, render_time REAL, message TEXT NOT NULL DEFAULT '',
    dispatched_at REAL, finished_at REAL,
    PRIMARY KEY (job_id, number)
);
CREATE INDEX IF NOT EXISTS frames_by_status ON frames (status, job_id);
CREATE TABLE IF NOT EXISTS slaves (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,
    facts TEXT NOT NULL, tags TEXT NOT NULL,
    registered_at REAL NOT NULL, last_seen REAL NOT NULL,
    frames_done INTEGER NOT NULL DEFAULT 0, frames_failed INTEGER NOT NULL DEFAULT 0
);
"""

_FRAME_COLUMNS = "job_id, number, status, slave_id, render_time, message, dispatched_at, finished_at"


class Store:
    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group writes so a crash keeps all of them or none."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- jobs -------------------------------------------------------------

    def add_job(self, spec: JobSpec, now: float) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs (name, category, tags, priority, chunks, engine, blend, control,"
                " submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.name, spec.category, json.dumps(list(spec.tags)), spec.priority, spec.chunks,
                 spec.engine, spec.blend, JobControl.ACTIVE.value, now),
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
        return self._job(row, self._counts().get(job_id, FrameCounts()))

    def jobs(self) -> list[Job]:
        counts = self._counts()
        rows = self.db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        return [self._job(row, counts.get(row["id"], FrameCounts())) for row in rows]

    def _counts(self) -> dict[int, FrameCounts]:
        counts: dict[int, FrameCounts] = {}
        for job_id, status, n in self.db.execute(
            "SELECT job_id, status, COUNT(*) FROM frames GROUP BY job_id, status"
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
        frames = tuple(
            r[0] for r in self.db.execute("SELECT number FROM frames WHERE job_id = ? ORDER BY seq", (row["id"],))
        )
        spec = JobSpec(
            name=row["name"], blend=row["blend"], frames=frames, files=files,
            category=row["category"], tags=tuple(json.loads(row["tags"])),
            priority=row["priority"], chunks=row["chunks"], engine=row["engine"],
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

    def candidates(self) -> list[Candidate]:
        """Every active job that still has queued frames, as the balancer sees it."""
        rows = self.db.execute(
            "SELECT j.id, j.submitted_at, j.priority, j.category, j.tags, COUNT(*) AS queued"
            " FROM jobs j JOIN frames f ON f.job_id = j.id"
            " WHERE j.control = ? AND f.status = ? GROUP BY j.id",
            (JobControl.ACTIVE.value, FrameStatus.QUEUED.value),
        ).fetchall()
        return [
            Candidate(r["id"], r["submitted_at"], r["priority"], r["category"],
                      frozenset(json.loads(r["tags"])), r["queued"])
            for r in rows
        ]

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
            dispatched_at=row["dispatched_at"], finished_at=row["finished_at"],
        )

    def frame_layout(self, job_id: int) -> list[tuple[int, bool]]:
        """The job's frames in order, each with whether it is queued."""
        rows = self.db.execute("SELECT number, status FROM frames WHERE job_id = ? ORDER BY seq", (job_id,))
        return [(n, s == FrameStatus.QUEUED.value) for n, s in rows]

    def save_frames(self, frames: Sequence[Frame]) -> None:
        self.db.executemany(
            "UPDATE frames SET status = ?, slave_id = ?, render_time = ?, message = ?,"
            " dispatched_at = ?, finished_at = ? WHERE job_id = ? AND number = ?",
            [(f.status.value, f.slave_id, f.render_time, f.message, f.dispatched_at, f.finished_at,
              f.job_id, f.number) for f in frames],
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

    # -- slaves -----------------------------------------------------------

    def add_slave(self, slave: SlaveInfo) -> None:
        self.db.execute(
            "INSERT INTO slaves (id, name, address, facts, tags, registered_at, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (slave.id, slave.name, slave.address, json.dumps(slave.facts), json.dumps(list(slave.tags)),
             slave.registered_at, slave.last_seen),
        )

    def slave(self, slave_id: str) -> SlaveInfo:
        row = self.db.execute("SELECT * FROM slaves WHERE id = ?", (slave_id,)).fetchone()
        if row is None:
            raise UnknownSlave(f"there is no slave {slave_id!r}; register first")
        return self._slave(row)

    def slaves(self) -> list[SlaveInfo]:
        return [self._slave(r) for r in self.db.execute("SELECT * FROM slaves ORDER BY registered_at")]

    @staticmethod
    def _slave(row: sqlite3.Row) -> SlaveInfo:
        return SlaveInfo(
            id=row["id"], name=row["name"], address=row["address"], facts=json.loads(row["facts"]),
            tags=tuple(json.loads(row["tags"])), registered_at=row["registered_at"],
            last_seen=row["last_seen"], frames_done=row["frames_done"], frames_failed=row["frames_failed"],
        )

    def touch_slave(self, slave_id: str, now: float) -> None:
        cur = self.db.execute("UPDATE slaves SET last_seen = ? WHERE id = ?", (now, slave_id))
        if cur.rowcount == 0:
            raise UnknownSlave(f"there is no slave {slave_id!r}; register first")

    def count_slave_frame(self, slave_id: str, done: bool) -> None:
        column = "frames_done" if done else "frames_failed"
        self.db.execute(f"UPDATE slaves SET {column} = {column} + 1 WHERE id = ?", (slave_id,))
