# SPDX-License-Identifier: GPL-3.0-or-later
"""Rows of jobs, their files and per-job blacklists, and each job's history.

Two things are also kept in memory, for the work requests that read them all
the time: the :class:`~.tally.Tally` of every job's frames, and the rows (with
files, tags, blacklist and failures) of the open jobs, those with frames queued or out.
Both change only right after the SQLite write that they mirror succeeded, and a
rolled-back transaction that touched either has them read again (see
``Store.transaction``), so they never say anything SQLite does not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ...balancing import Candidate
from ...common.errors import UnknownJob
from ...common.model import FileRef, FrameStatus, Job, JobControl, JobSpec
from ..jobtypes import Plan
from .tally import Tally

_ACTIVE = JobControl.ACTIVE.value


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
    """A cached job row, for a job with frames queued or out; the rest is read when first asked."""

    row: dict[str, Any]
    tags: frozenset[str]
    files: tuple[FileRef, ...] | None = None
    spec: JobSpec | None = None  # made from the row and files
    blacklist: frozenset[str] | None = None
    failed: dict[str, frozenset[int]] | None = None  # slave id -> the frames it failed
    plan: Plan | None = None


class JobRows:
    """Rows of jobs, their files, blacklists and events; the cache of open jobs."""

    db: sqlite3.Connection
    #: Told of each history entry as it is written (the farm's event log listens).
    on_event: Callable[[int, float, str], None]
    tally: Tally
    open_jobs: dict[int, OpenJob]

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _touched(self) -> None:
        """Note that memory changed: if the transaction in progress rolls back, read it all again."""
        raise NotImplementedError

    # -- jobs -------------------------------------------------------------

    def add_job(self, spec: JobSpec, now: float, plan: Plan | None = None) -> int:
        plan = plan or Plan.of(spec)
        tasks = plan.task_numbers(spec.frames)
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs (name, category, tags, priority, chunks, engine, blend, control,"
                " submitted_at, allow_scripts, persistent, persistent_data, missing, shared, found, output_dir,"
                " kind, tiles, plan, after_job, vcs, remote, revision)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.name, spec.category, json.dumps(list(spec.tags)), spec.priority, spec.chunks,
                 spec.engine, spec.blend, _ACTIVE, now, int(spec.allow_scripts),
                 int(spec.persistent), int(spec.persistent_data), json.dumps(list(spec.missing)),
                 int(spec.shared), json.dumps(list(spec.found)), spec.output_dir,
                 spec.kind, spec.tiles, plan.to_json(), spec.after, spec.vcs, spec.remote, spec.revision),
            )
            job_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO job_files (job_id, path, sha256, size) VALUES (?, ?, ?, ?)",
                [(job_id, f.path, f.sha256, f.size) for f in spec.files],
            )
            db.executemany(
                "INSERT INTO frames (job_id, number, seq, status) VALUES (?, ?, ?, ?)",
                [(job_id, n, i, FrameStatus.QUEUED.value) for i, n in enumerate(tasks)],
            )
            self._touched()
            self.tally.add_job(job_id, len(tasks))
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

    def plan(self, job_id: int) -> Plan:
        """How the job's tasks are made (its kind's plan), kept with an open job's row."""
        entry = self._open_job(job_id)
        if entry is not None:
            if entry.plan is None:
                self._touched()
                entry.plan = Plan.from_json(entry.row["plan"])
            return entry.plan
        row = self.db.execute("SELECT plan FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJob(f"there is no job {job_id}")
        return Plan.from_json(row[0])

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
            return self._job(row, self._spec(row, self._files(job_id)))
        if entry.spec is None:
            self._touched()
            if entry.files is None:
                entry.files = self._files(job_id)
            entry.spec = self._spec(entry.row, entry.files)
        return self._job(entry.row, entry.spec)

    def jobs(self) -> list[Job]:
        rows = self.db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        return [self._job(row, self._spec(row, self._files(row["id"]))) for row in rows]

    @staticmethod
    def _spec(row: sqlite3.Row | dict[str, Any], files: tuple[FileRef, ...]) -> JobSpec:
        # The frame list stays out: a job can hold 100,000 frames; ``frames()`` reads them.
        plan = Plan.from_json(row["plan"])
        return JobSpec(
            name=row["name"], blend=row["blend"], frames=(), files=files,
            category=row["category"], tags=tuple(json.loads(row["tags"])),
            priority=row["priority"], chunks=row["chunks"], engine=row["engine"],
            allow_scripts=bool(row["allow_scripts"]),
            persistent=bool(row["persistent"]), persistent_data=bool(row["persistent_data"]),
            missing=tuple(json.loads(row["missing"])), shared=bool(row["shared"]),
            found=tuple(json.loads(row["found"])), output_dir=row["output_dir"],
            kind=row["kind"], tiles=row["tiles"], size=plan.size, denoise=plan.denoise, caches=plan.caches,
            after=row["after_job"], vcs=row["vcs"], remote=row["remote"], revision=row["revision"],
        )

    def _job(self, row: sqlite3.Row | dict[str, Any], spec: JobSpec) -> Job:
        return Job(
            id=row["id"], spec=spec, control=JobControl(row["control"]),
            submitted_at=row["submitted_at"], counts=self.tally.counts(row["id"]), started_at=row["started_at"],
            finished_at=row["finished_at"], last_dispatched=row["last_dispatched"],
            started_by=row["started_by"], queued_at=row["queued_at"] or row["submitted_at"],
        )

    def update_job(self, job_id: int, **values: Any) -> None:
        """Set columns of a job row; only names of ``jobs`` columns are accepted."""
        allowed = {"control", "started_at", "finished_at", "last_dispatched", "priority", "chunks", "started_by",
                   "queued_at"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"cannot update job columns {sorted(values)}")
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))
        entry = self.open_jobs.get(job_id)
        if entry is not None:
            self._touched()
            entry.row.update(values)
            if "priority" in values or "chunks" in values:
                entry.spec = None  # made again with the new values

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

    # -- failures and per-job blacklists ------------------------------------

    def job_blacklist(self, job_id: int, switched_off: bool = False) -> list[dict[str, Any]]:
        """The slaves kept from a job for failures or by hand; or (``switched_off``) those switched off for it.

        Both live in one table, which the balancer reads as one set; a switch is reason ``disabled``.
        """
        compare = "=" if switched_off else "!="
        rows = self.db.execute(
            f"SELECT slave_id, reason, at FROM job_blacklist WHERE job_id = ? AND reason {compare} 'disabled'"
            " ORDER BY at", (job_id,)
        )
        return [{"slave_id": s, "reason": r, "at": a} for s, r, a in rows]

    def blacklist_for_job(self, job_id: int, slave_id: str, reason: str, at: float) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO job_blacklist (job_id, slave_id, reason, at) VALUES (?, ?, ?, ?)",
            (job_id, slave_id, reason, at),
        )
        self._forget_blacklist(job_id)

    def unblacklist_for_job(self, job_id: int, slave_id: str, switch: bool = False) -> bool:
        """Take a slave off a job's blacklist (``switch``: switch it back on for the job); whether it was there."""
        cur = self.db.execute(f"DELETE FROM job_blacklist WHERE job_id = ? AND slave_id = ? AND reason "
                              f"{'=' if switch else '!='} 'disabled'", (job_id, slave_id))
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
        self.on_event(job_id, at, event)

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
