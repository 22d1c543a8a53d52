# SPDX-License-Identifier: GPL-3.0-or-later
"""What the master keeps in memory equals what SQLite says: after any sequence of farm operations,
after a rolled-back transaction, and after a restart.

The store keeps a tally of every job's frames (per status, and the slaves
holding them) and the rows of open jobs, so that a work request does not count
frames in SQLite. Hypothesis drives a farm through random operations, restarts
included, and after every step the memory is compared with a tally counted
afresh from SQLite and with the balancer's view as one SQL query computes it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from conftest import EXR_BYTES
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from netrender.balancing import Candidate
from netrender.common.errors import NetrenderError
from netrender.common.model import FrameStatus, JobControl, JobSpec
from netrender.common.work import Assignment
from netrender.farm import dispatch
from netrender.farm.jobs import Farm, open_root
from netrender.farm.store import Store
from netrender.farm.store.tally import Tally

BLEND = b"pretend blend"
SHA = hashlib.sha256(BLEND).hexdigest()


def spec(frames: list[int], chunks: int = 1, tags: tuple[str, ...] = ()) -> JobSpec:
    return JobSpec.from_json({"blend": "a.blend", "files": [{"path": "a.blend", "sha256": SHA, "size": len(BLEND)}],
                              "frames": frames, "chunks": chunks, "tags": list(tags)})


def candidates_by_sql(db: sqlite3.Connection, usage: dict[int, float]) -> list[Candidate]:
    """The balancer's view computed the slow way, by one aggregate query over every frame of every job."""
    rows = db.execute(
        "SELECT j.id, j.submitted_at, j.priority, j.category, j.tags, j.started_at, j.last_dispatched,"
        " SUM(f.status = 'queued'), SUM(f.status = 'done'),"
        " COUNT(DISTINCT CASE WHEN f.status = 'dispatched' THEN f.slave_id END) AS holders"
        " FROM jobs j JOIN frames f ON f.job_id = j.id WHERE j.control = 'active'"
        " GROUP BY j.id HAVING SUM(f.status = 'queued') > 0 OR holders > 0 ORDER BY j.id"
    ).fetchall()
    barred: dict[int, set[str]] = {}
    for job_id, slave_id in db.execute("SELECT job_id, slave_id FROM job_blacklist"):
        barred.setdefault(job_id, set()).add(slave_id)
    return [
        Candidate(job_id=j, submitted_at=sub, priority=pri, category=cat, tags=frozenset(json.loads(tags)),
                  queued=q, usage=usage.get(j, 0.0), busy=busy, last_dispatched=last, started=started is not None,
                  any_done=done > 0, blacklist=frozenset(barred.get(j, ())))
        for j, sub, pri, cat, tags, started, last, q, done, busy in rows
    ]


def assert_memory_matches_sqlite(store: Store) -> None:
    fresh = Tally.from_db(store.db)
    assert store.tally.snapshot() == fresh.snapshot()
    assert store.tally.open == fresh.open
    for job_id, entry in store.open_jobs.items():
        assert job_id in store.tally.open, "a job that is not open keeps no row in memory"
        row = store.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert row is not None and entry.row == dict(row)
        if entry.blacklist is not None:
            listed = store.db.execute("SELECT slave_id FROM job_blacklist WHERE job_id = ?", (job_id,))
            assert entry.blacklist == frozenset(s for (s,) in listed)
        if entry.files is not None:
            assert entry.files == store._files(job_id)
        if entry.spec is not None:
            assert entry.spec == store._spec(row, store._files(job_id))
        if entry.failed is not None:
            pairs = store.db.execute("SELECT slave_id, number FROM frame_failures WHERE job_id = ?", (job_id,))
            failed: dict[str, set[int]] = {}
            for slave_id, number in pairs:
                failed.setdefault(slave_id, set()).add(number)
            assert entry.failed == {s: frozenset(n) for s, n in failed.items()}
    for slave_id, gate in store.gates.items():
        row = store.db.execute("SELECT tags, blacklisted, disabled FROM slaves WHERE id = ?", (slave_id,)).fetchone()
        assert (sorted(gate.tags), gate.blacklisted, gate.disabled) == (sorted(json.loads(row[0])), *map(bool, row[1:]))
    assert not store.read_states, "no frame state outlives its transaction"
    usage = {job_id: 0.25 for job_id in fresh.jobs}
    assert store.candidates(usage) == candidates_by_sql(store.db, usage)
    for job_id in fresh.jobs:
        counts = store.job(job_id).counts
        by_status = dict(store.db.execute("SELECT status, COUNT(*) FROM frames WHERE job_id = ? GROUP BY status",
                                          (job_id,)).fetchall())
        assert (counts.queued, counts.dispatched, counts.done, counts.error, counts.total) == (
            by_status.get("queued", 0), by_status.get("dispatched", 0), by_status.get("done", 0),
            by_status.get("error", 0), sum(by_status.values()))


class FarmMachine(RuleBasedStateMachine):
    """A farm driven by every kind of call a master gets, valid or stale, with restarts."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="netrender-tally-"))
        self.farm = self.open()
        self.farm.blobs.put(SHA, [BLEND])
        self.now = 1000.0
        self.jobs: list[int] = []
        self.slaves: list[str] = []
        self.held: dict[str, Assignment] = {}

    def open(self) -> Farm:
        return Farm(open_root(self.folder))

    def teardown(self) -> None:
        self.farm.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now

    @rule(frames=st.lists(st.integers(0, 30), min_size=1, max_size=12, unique=True), chunks=st.integers(1, 4),
          tagged=st.booleans())
    def submit(self, frames: list[int], chunks: int, tagged: bool) -> None:
        self.jobs.append(self.farm.submit(spec(frames, chunks, ("gpu",) if tagged else ()), self.tick()).id)

    @precondition(lambda self: len(self.slaves) < 5)
    @rule(gpu=st.booleans())
    def register(self, gpu: bool) -> None:
        self.slaves.append(self.farm.register_slave("s", "", {}, ["gpu"] if gpu else [], self.tick()).id)

    @precondition(lambda self: self.slaves)
    @rule(data=st.data())
    def request_work(self, data: st.DataObject) -> None:
        slave = data.draw(st.sampled_from(self.slaves))
        work = self.farm.request_work(slave, self.tick())
        if work is not None:
            self.held[slave] = work

    @precondition(lambda self: self.held)
    @rule(data=st.data(), valid=st.booleans())
    def complete(self, data: st.DataObject, valid: bool) -> None:
        slave = data.draw(st.sampled_from(list(self.held)))  # in the order held: ids are random
        work = self.held[slave]
        number = data.draw(st.sampled_from(work.frames))
        with suppress(NetrenderError):
            self.farm.complete_frame(work.job_id, number, slave, 1.0, [EXR_BYTES if valid else b"nope"], self.tick())

    @precondition(lambda self: self.jobs and self.slaves)
    @rule(data=st.data())
    def complete_any(self, data: st.DataObject) -> None:
        """A result for any frame, from any slave: a late one, for a queued or failed frame, or a duplicate."""
        job, slave = data.draw(st.sampled_from(self.jobs)), data.draw(st.sampled_from(self.slaves))
        with suppress(NetrenderError):
            number = data.draw(st.sampled_from([f.number for f in self.farm.frames(job)]))
            self.farm.complete_frame(job, number, slave, 1.0, [EXR_BYTES], self.tick())

    @precondition(lambda self: self.jobs and self.slaves)
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        slave = data.draw(st.sampled_from(self.slaves))
        work = self.held.get(slave)
        job = work.job_id if work and data.draw(st.booleans()) else data.draw(st.sampled_from(self.jobs))
        with suppress(NetrenderError):
            numbers = work.frames if work and work.job_id == job else [f.number for f in self.farm.frames(job)]
            self.farm.fail_frame(job, data.draw(st.sampled_from(numbers)), slave, "broke", self.tick())

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        slave = data.draw(st.sampled_from(list(self.held)))  # in the order held: ids are random
        work = self.held.pop(slave)
        with suppress(NetrenderError):
            self.farm.release(slave, work.job_id, [*work.frames, 999], self.tick())

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), how=st.sampled_from(["failed", "every", "some"]))
    def reset(self, data: st.DataObject, how: str) -> None:
        job = data.draw(st.sampled_from(self.jobs))
        with suppress(NetrenderError):
            if how == "some":
                numbers = data.draw(st.lists(st.sampled_from([f.number for f in self.farm.frames(job)]), max_size=3))
                self.farm.reset(job, self.tick(), numbers)
            else:
                self.farm.reset(job, self.tick(), every_frame=how == "every")

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), control=st.sampled_from(list(JobControl)))
    def control(self, data: st.DataObject, control: JobControl) -> None:
        with suppress(NetrenderError):
            self.farm.set_control(data.draw(st.sampled_from(self.jobs)), control, self.tick())

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), priority=st.integers(1, 5), chunks=st.integers(1, 4))
    def edit(self, data: st.DataObject, priority: int, chunks: int) -> None:
        with suppress(NetrenderError):
            self.farm.edit(data.draw(st.sampled_from(self.jobs)), self.tick(), priority=priority, chunks=chunks)

    @precondition(lambda self: self.jobs)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        job = data.draw(st.sampled_from(self.jobs))
        self.jobs.remove(job)
        self.farm.remove(job, delete_files=data.draw(st.booleans()), now=self.tick())

    @precondition(lambda self: self.jobs and self.slaves)
    @rule(data=st.data(), listed=st.booleans())
    def job_blacklist(self, data: st.DataObject, listed: bool) -> None:
        job, slave = data.draw(st.sampled_from(self.jobs)), data.draw(st.sampled_from(self.slaves))
        with suppress(NetrenderError):
            self.farm.set_job_blacklist(job, slave, listed, self.tick())

    @precondition(lambda self: self.slaves)
    @rule(data=st.data(), disabled=st.booleans(), farm_wide=st.booleans())
    def slave_switches(self, data: st.DataObject, disabled: bool, farm_wide: bool) -> None:
        slave = data.draw(st.sampled_from(self.slaves))
        if farm_wide:
            self.farm.set_farm_blacklist(slave, disabled, self.tick())
        else:
            self.farm.set_disabled(slave, disabled, self.tick())

    @rule(seconds=st.sampled_from([1.0, 30.0, 61.0]))
    def time_passes(self, seconds: float) -> None:
        self.farm.run_once(self.tick(seconds))

    @rule()
    def restart(self) -> None:
        """The master stops (or is killed: every change was committed) and starts again on its folder."""
        before = self.farm.store.tally.snapshot()
        self.farm.close()
        self.farm = self.open()
        after = self.farm.store.tally.snapshot()
        # Frames that were out are queued again; nothing else moves.
        assert after.keys() == before.keys()
        for job_id, (queued, dispatched, done, error, _holders) in before.items():
            assert after[job_id] == (queued + dispatched, 0, done, error, {})
        self.held.clear()

    @invariant()
    def memory_matches_sqlite(self) -> None:
        assert_memory_matches_sqlite(self.farm.store)


FarmMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestMemoryMatchesSqliteAfterAnyOperations = FarmMachine.TestCase


@pytest.fixture
def farm(tmp_path: Path) -> Any:
    farm = Farm(open_root(tmp_path))
    farm.blobs.put(SHA, [BLEND])
    yield farm
    farm.close()


def test_a_rolled_back_transaction_leaves_memory_as_sqlite_has_it(farm: Farm, monkeypatch: pytest.MonkeyPatch) -> None:
    job = farm.submit(spec([1, 2, 3]), 1.0).id
    slave = farm.register_slave("s", "", {}, [], 1.0).id
    work = farm.request_work(slave, 2.0)
    assert work is not None and work.frames == (1,)
    farm.store.candidates({})  # the job's row is in memory now

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(farm, "_note_finish", broken)  # runs after the frame moved to done
    with pytest.raises(RuntimeError):
        farm.complete_frame(job, 1, slave, 1.0, [EXR_BYTES], 3.0)
    assert farm.frame(job, 1).status is FrameStatus.DISPATCHED
    assert farm.store.tally.counts(job).dispatched == 1
    assert_memory_matches_sqlite(farm.store)

    monkeypatch.setattr(dispatch, "Assignment", broken)  # made after the frames were dispatched
    other = farm.register_slave("t", "", {}, [], 3.0).id
    with pytest.raises(RuntimeError):
        farm.request_work(other, 4.0)
    assert farm.store.tally.counts(job).queued == 2
    assert_memory_matches_sqlite(farm.store)


def test_memory_is_read_from_sqlite_after_a_restart(tmp_path: Path) -> None:
    farm = Farm(open_root(tmp_path))
    farm.blobs.put(SHA, [BLEND])
    jobs = [farm.submit(spec(list(range(10)), chunks=3), 1.0).id for _ in range(3)]
    slaves = [farm.register_slave(f"s{i}", "", {}, [], 1.0).id for i in range(4)]
    works = [farm.request_work(s, 2.0) for s in slaves]
    first = works[0]
    assert first is not None
    for number in first.frames:
        farm.complete_frame(first.job_id, number, slaves[0], 1.0, [EXR_BYTES], 3.0)
    farm.fail_frame(jobs[1], 3, slaves[1], "broke", 3.0)
    farm.set_control(jobs[2], JobControl.PAUSED, 3.0)
    root = farm.root
    farm.store.db.close()  # as if killed: nothing but what SQLite committed survives
    again = Farm(open_root(tmp_path))
    assert again.root == root
    assert_memory_matches_sqlite(again.store)
    assert again.store.tally.counts(first.job_id).done == 3
    assert sum(again.store.tally.counts(j).dispatched for j in jobs) == 0
    again.close()


def test_a_finished_job_gives_back_the_room_its_slaves_took() -> None:
    """Memory stays flat over a long run: a job once held by 1,000 slaves keeps no 1,000-entry table."""
    tally = Tally()
    tally.add_job(1, 1000)
    slaves = [f"s{i}" for i in range(1000)]
    for slave in slaves:
        tally.move(1, ("queued", None), ("dispatched", slave))
    assert tally.jobs[1].busy == 1000 and tally.holders() == set(slaves)
    for slave in slaves:
        tally.move(1, ("dispatched", slave), ("done", slave))
    assert sys.getsizeof(tally.jobs[1].holders) == sys.getsizeof({})
    assert tally.open == set() and tally.counts(1).done == 1000


def test_sqlite_notes_a_dispatch_on_its_job_and_a_result_on_its_slave(farm: Farm) -> None:
    job = farm.submit(spec([1, 2]), 1.0).id
    slave = farm.register_slave("s", "", {}, [], 1.0).id
    farm.request_work(slave, 2.0)
    farm.request_work(slave, 3.0)
    row = farm.store.db.execute("SELECT started_at, last_dispatched FROM jobs WHERE id = ?", (job,)).fetchone()
    assert tuple(row) == (2.0, 3.0)
    farm.complete_frame(job, 1, slave, 1.0, [EXR_BYTES], 5.0)
    farm.complete_frame(job, 1, slave, 1.0, [EXR_BYTES], 6.0)  # again: seen, but not counted twice
    seen = farm.store.db.execute("SELECT last_seen, frames_done FROM slaves WHERE id = ?", (slave,)).fetchone()
    assert tuple(seen) == (6.0, 1)
    assert_memory_matches_sqlite(farm.store)
