# SPDX-License-Identifier: GPL-3.0-or-later
"""A deterministic farm simulator drives the balancer; its rules must hold over hours of farm time.

The simulator is the farm in miniature: an injected clock, 30 or more slaves,
frames that take a fixed simulated time, no sleeping and no sockets. Each tick
finished renders report back, silent slaves are found lost, every idle slave
asks :func:`choose_job` for work and takes a chunk, and usage decays through
:func:`decay_usage`. The assertions read the simulator's event log.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest
from conftest import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from netrender.balancing import (
    DEFAULT_RULES,
    BalanceRules,
    Candidate,
    SlaveView,
    after_failure,
    cap_limit,
    choose_job,
    decay_usage,
    lost_slaves,
    should_blacklist,
    take_chunk,
)

QUEUED, DISPATCHED, DONE, FAILED = "queued", "dispatched", "done", "failed"

# (slave id, job id, frame number) -> whether that render fails
FailRule = Callable[[str, int, int], bool]


def never_fails(slave_id: str, job_id: int, frame: int) -> bool:
    return False


@dataclass
class SimJob:
    id: int
    submitted_at: float
    numbers: list[int]
    priority: int = 1
    category: str = ""
    tags: frozenset[str] = frozenset()
    chunks: int = 1
    status: dict[int, str] = field(default_factory=dict)
    queued: int = 0
    busy: set[str] = field(default_factory=set)
    heap: list[int] = field(default_factory=list)  # frame numbers that may be queued, lowest first
    failures: Counter[int] = field(default_factory=Counter)  # frame -> failures
    failed_by: dict[str, set[int]] = field(default_factory=dict)  # slave -> frames it failed
    slave_failures: Counter[str] = field(default_factory=Counter)
    blacklist: set[str] = field(default_factory=set)
    last_dispatched: float | None = None
    any_done: bool = False

    def __post_init__(self) -> None:
        for number in self.numbers:
            self.requeue(number)

    def requeue(self, number: int) -> None:
        self.status[number] = QUEUED
        self.queued += 1
        heapq.heappush(self.heap, number)

    def leave_queue(self, number: int, status: str) -> None:
        if self.status[number] == QUEUED:
            self.queued -= 1
        self.status[number] = status

    def layout(self, slave_id: str) -> list[tuple[int, bool]]:
        """The frame list as the farm would hand it to take_chunk (only the part that matters)."""
        if self.failed_by.get(slave_id) or len(self.numbers) <= 500:
            return [(n, self.status[n] == QUEUED) for n in self.numbers]
        # Frames are consecutive numbers: from the first queued one, `chunks` entries suffice.
        while self.heap and self.status[self.heap[0]] != QUEUED:
            heapq.heappop(self.heap)
        if not self.heap:
            return []
        first = self.heap[0]
        return [(n, self.status[n] == QUEUED) for n in range(first, min(first + self.chunks, self.numbers[-1] + 1))]


@dataclass
class Work:
    job_id: int
    frames: list[int]
    until: float


class Sim:
    """A farm of ``slaves`` rendering every frame in ``frame_time`` simulated seconds."""

    def __init__(
        self,
        slaves: Iterable[SlaveView],
        rules: BalanceRules = DEFAULT_RULES,
        frame_time: float = 10.0,
        dt: float = 1.0,
        fails: FailRule = never_fails,
        clock: FakeClock | None = None,
    ) -> None:
        self.slaves = {s.id: s for s in slaves}
        self.rules = rules
        self.frame_time = frame_time
        self.dt = dt
        self.fails = fails
        self.clock = clock or FakeClock(0.0)
        self.jobs: dict[int, SimJob] = {}
        self.pending: list[tuple[float, SimJob]] = []
        self.work: dict[str, Work | None] = {s: None for s in self.slaves}
        self.last_seen = {s: self.clock() for s in self.slaves}
        self.silent: set[str] = set()  # slaves that stopped talking (crashed, unplugged)
        self.lost: set[str] = set()
        self.usage: dict[int, float] = {}
        self.events: list[tuple[str, float, str, int, tuple[int, ...]]] = []  # kind, time, slave, job, frames
        self.slave_time: defaultdict[int, float] = defaultdict(float)  # busy slave-seconds per job since measure_from
        self.measure_from = 0.0
        self.longest_wait: dict[int, float] = {}
        self.cap_breaches: list[tuple[float, int, int]] = []
        self.most_busy: Counter[int] = Counter()

    @property
    def now(self) -> float:
        return self.clock()

    def submit(self, frames: int = 100, at: float | None = None, **spec: object) -> int:
        job_id = len(self.jobs) + len(self.pending) + 1
        job = SimJob(job_id, self.now if at is None else at, list(range(1, frames + 1)), **spec)  # type: ignore[arg-type]
        if job.submitted_at <= self.now:
            self.jobs[job_id] = job
        else:
            self.pending.append((job.submitted_at, job))
        return job_id

    def live(self) -> int:
        return len(self.slaves) - len(self.lost)

    def candidate(self, job: SimJob) -> Candidate:
        return Candidate(
            job.id, job.submitted_at, job.priority, job.category, job.tags, job.queued,
            usage=self.usage.get(job.id, 0.0), busy=len(job.busy), last_dispatched=job.last_dispatched,
            started=job.last_dispatched is not None, any_done=job.any_done, blacklist=frozenset(job.blacklist),
        )

    def candidates(self) -> list[Candidate]:
        return [self.candidate(j) for j in self.jobs.values() if j.queued or j.busy]

    def request(self, slave_id: str) -> int | None:
        """What the farm's request_work would do: choose a job, take a chunk, dispatch it."""
        slave = self.slaves[slave_id]
        cands = self.candidates()
        exclude: set[int] = set()
        while True:
            job_id = choose_job(cands, slave, self.now, self.rules, slaves=self.live(), exclude=exclude)
            if job_id is None:
                return None
            job = self.jobs[job_id]
            chunk = take_chunk(job.layout(slave_id), job.chunks, job.failed_by.get(slave_id, set()))
            if chunk:
                break
            exclude.add(job_id)  # every queued frame of it failed on this slave already
        waited = self.now - (job.submitted_at if job.last_dispatched is None else job.last_dispatched)
        self.longest_wait[job_id] = max(self.longest_wait.get(job_id, 0.0), waited)
        for number in chunk:
            job.leave_queue(number, DISPATCHED)
        job.busy.add(slave_id)
        job.last_dispatched = self.now
        self.work[slave_id] = Work(job_id, chunk, self.now + self.frame_time * len(chunk))
        self.events.append(("dispatch", self.now, slave_id, job_id, tuple(chunk)))
        return job_id

    def untried(self, job: SimJob, number: int) -> int:
        """Live slaves that could still take ``number``: suited, not blacklisted, not failed on it."""
        return sum(
            1 for s in self.slaves.values()
            if s.id not in self.lost and job.tags <= s.tags and s.id not in job.blacklist
            and number not in job.failed_by.get(s.id, set())
        )

    def finish(self, slave_id: str) -> None:
        work = self.work[slave_id]
        assert work is not None
        job = self.jobs[work.job_id]
        for number in work.frames:
            if not self.fails(slave_id, job.id, number):
                job.leave_queue(number, DONE)
                job.any_done = True
                self.events.append(("done", self.now, slave_id, job.id, (number,)))
                continue
            job.failures[number] += 1
            job.failed_by.setdefault(slave_id, set()).add(number)
            job.slave_failures[slave_id] += 1
            if should_blacklist(job.slave_failures[slave_id], self.rules):
                job.blacklist.add(slave_id)
            verdict = after_failure(job.failures[number], self.rules, self.untried(job, number))
            if verdict == "retry":
                job.requeue(number)
            else:
                job.leave_queue(number, FAILED)
            self.events.append(("fail", self.now, slave_id, job.id, (number,)))
        job.busy.discard(slave_id)
        self.work[slave_id] = None

    def drop_lost(self) -> None:
        for slave_id in sorted(lost_slaves(self.last_seen, self.now, self.rules.lost_timeout) - self.lost):
            self.lost.add(slave_id)
            work = self.work[slave_id]
            if work is None:
                continue
            job = self.jobs[work.job_id]
            for number in work.frames:
                job.requeue(number)
            job.busy.discard(slave_id)
            self.work[slave_id] = None
            self.events.append(("lost", self.now, slave_id, job.id, tuple(work.frames)))

    def tick(self) -> None:
        while self.pending and self.pending[0][0] <= self.now:
            _, job = self.pending.pop(0)
            self.jobs[job.id] = job
        for slave_id, work in self.work.items():
            if work is not None and work.until <= self.now and slave_id not in self.silent:
                self.finish(slave_id)
        for slave_id in self.slaves:
            if slave_id not in self.silent:
                self.last_seen[slave_id] = self.now
        self.drop_lost()
        for slave_id in self.slaves:
            if slave_id not in self.silent and self.work[slave_id] is None:
                self.request(slave_id)
        busy = {j.id: len(j.busy) for j in self.jobs.values() if j.busy}
        self.check_cap(busy)
        if self.now >= self.measure_from:
            for job_id, held in busy.items():
                self.slave_time[job_id] += held * self.dt
        self.usage = decay_usage(self.usage, busy, self.live(), self.dt, self.rules.half_life)
        self.clock.advance(self.dt)

    def check_cap(self, busy: dict[int, int]) -> None:
        limit = cap_limit(self.live(), self.rules)
        for job_id, held in busy.items():
            self.most_busy[job_id] = max(self.most_busy[job_id], held)
            others_have_work = any(j.queued for j in self.jobs.values() if j.id != job_id)
            if held > limit and others_have_work:
                self.cap_breaches.append((self.now, job_id, held))

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            self.tick()

    def run_until_idle(self, limit: float = 100_000.0) -> None:
        """Run until every job is finished (or ``limit`` simulated seconds pass)."""
        end = self.now + limit
        while self.now < end and (self.pending or any(j.queued or j.busy for j in self.jobs.values())):
            self.tick()
        for job in self.jobs.values():
            if job.queued:
                since = job.submitted_at if job.last_dispatched is None else job.last_dispatched
                self.longest_wait[job.id] = max(self.longest_wait.get(job.id, 0.0), self.now - since)

    def shares(self) -> dict[int, float]:
        total = sum(self.slave_time.values())
        return {job_id: 100.0 * t / total for job_id, t in self.slave_time.items()}

    def dispatches(self, job_id: int | None = None) -> list[tuple[float, str, int, tuple[int, ...]]]:
        return [e[1:] for e in self.events if e[0] == "dispatch" and (job_id is None or e[3] == job_id)]


def farm(n: int = 30, tags: frozenset[str] = frozenset()) -> list[SlaveView]:
    return [SlaveView(f"s{i:02d}", tags) for i in range(n)]


# -- fair share --------------------------------------------------------------


def test_priority_two_gets_twice_the_share_of_priority_one() -> None:
    sim = Sim(farm(30))
    low = sim.submit(frames=50_000, priority=1)
    high = sim.submit(frames=50_000, priority=2)
    sim.measure_from = 600.0
    sim.run(4 * 3600)
    shares = sim.shares()
    assert shares[low] == pytest.approx(100 / 3, abs=3)
    assert shares[high] == pytest.approx(200 / 3, abs=3)


def test_equal_priorities_share_equally() -> None:
    sim = Sim(farm(30))
    jobs = [sim.submit(frames=50_000) for _ in range(3)]
    sim.measure_from = 600.0
    sim.run(3 * 3600)
    shares = sim.shares()
    for job_id in jobs:
        assert shares[job_id] == pytest.approx(100 / 3, abs=3)


def test_usage_remembers_a_job_that_had_the_farm_to_itself() -> None:
    sim = Sim(farm(30))
    early = sim.submit(frames=50_000)
    sim.run(1800)
    late = sim.submit(frames=50_000)
    sim.slave_time.clear()
    sim.run(300)
    # The early job used the whole farm for half an hour: the late one catches up first...
    catching_up = sim.shares()
    assert catching_up[late] > 60
    sim.slave_time.clear()
    sim.run(1800)
    sim.slave_time.clear()
    sim.run(1800)
    # ...and once the early job's usage has decayed they share equally.
    assert sim.shares()[early] == pytest.approx(50, abs=3)


def test_without_fair_share_the_oldest_job_takes_the_farm_up_to_its_cap() -> None:
    sim = Sim(farm(30), BalanceRules(fair_share=False))
    first = sim.submit(frames=50_000)
    second = sim.submit(frames=50_000)
    sim.measure_from = 600.0
    sim.run(1800)
    assert sim.shares()[first] == pytest.approx(100 * 22 / 30, abs=1)
    assert sim.shares()[second] == pytest.approx(100 * 8 / 30, abs=1)


def test_two_categories_share_equally_whatever_their_job_counts() -> None:
    sim = Sim(farm(30))
    alone = sim.submit(frames=50_000, category="lighting")
    many = [sim.submit(frames=20_000, category="fx") for _ in range(4)]
    sim.measure_from = 600.0
    sim.run(4 * 3600)
    shares = sim.shares()
    assert shares[alone] == pytest.approx(50, abs=3)
    assert sum(shares[j] for j in many) == pytest.approx(50, abs=3)
    for job_id in many:
        assert shares[job_id] == pytest.approx(12.5, abs=3)


def test_without_the_categories_rule_every_job_shares_equally() -> None:
    sim = Sim(farm(30), BalanceRules(categories=False))
    alone = sim.submit(frames=50_000, category="lighting")
    many = [sim.submit(frames=20_000, category="fx") for _ in range(4)]
    sim.measure_from = 600.0
    sim.run(3 * 3600)
    shares = sim.shares()
    assert shares[alone] == pytest.approx(20, abs=3)
    assert sum(shares[j] for j in many) == pytest.approx(80, abs=3)


# -- new jobs and starvation ------------------------------------------------------


@pytest.mark.parametrize("rules", [BalanceRules(), BalanceRules(fair_share=False)], ids=["fair", "oldest"])
def test_a_new_job_gets_a_chunk_on_the_next_request(rules: BalanceRules) -> None:
    sim = Sim(farm(30), rules)
    sim.submit(frames=50_000, category="a")
    sim.submit(frames=50_000, category="b", priority=5)
    sim.run(900)
    before = len(sim.dispatches())
    new = sim.submit(frames=100, category="a")
    while len(sim.dispatches()) == before:
        sim.tick()
    assert sim.dispatches()[before][2] == new


def test_without_the_new_first_rule_the_oldest_job_keeps_the_slave() -> None:
    sim = Sim(farm(30), BalanceRules(fair_share=False, new_first=False, cap=False))
    old = sim.submit(frames=50_000)
    sim.run(300)
    before = len(sim.dispatches())
    sim.submit(frames=100)
    sim.run(30)
    assert {d[2] for d in sim.dispatches()[before:]} == {old}


STARVE_RULES = {
    "oldest first": BalanceRules(fair_share=False),
    "fair share": BalanceRules(),
    "fair share, 30 s": BalanceRules(starve_minutes=0.5),
}


@pytest.mark.parametrize("rules", STARVE_RULES.values(), ids=STARVE_RULES.keys())
def test_no_job_waits_longer_than_the_starvation_threshold(rules: BalanceRules) -> None:
    sim = Sim(farm(30), rules)
    for i in range(8):
        sim.submit(frames=3_000, priority=[100, 50, 1, 1, 20, 1, 100, 1][i], at=i * 40.0)
    sim.run(2 * 3600)
    # Once a job starves it takes the next slave that frees up, within one chunk's render time.
    bound = rules.starve_minutes * 60 + sim.frame_time + sim.dt
    assert max(sim.longest_wait.values()) <= bound
    assert len(sim.longest_wait) == 8


def test_without_the_starvation_rule_a_job_starves() -> None:
    sim = Sim(farm(30), BalanceRules(fair_share=False, starvation=False))
    for _ in range(3):
        sim.submit(frames=3_000)
    sim.run(3600)
    assert max(sim.longest_wait.values()) > 20 * 60


# -- the cap -------------------------------------------------------------------------


def test_one_job_never_holds_more_than_the_cap_while_another_has_work() -> None:
    sim = Sim(farm(40))
    big = sim.submit(frames=20_000, priority=10)
    small = sim.submit(frames=1_000, priority=1)
    sim.run(600)
    assert sim.jobs[small].queued > 0
    assert sim.cap_breaches == []
    assert sim.most_busy[big] == cap_limit(40) == 30  # the cap binds: priority 10 asks for 91%
    while sim.jobs[small].queued:
        sim.tick()
    sim.run(600)
    # Once it is the only job with work, it may use the whole farm.
    assert sim.most_busy[big] == 40
    assert sim.cap_breaches == []


def test_the_cap_holds_with_oldest_first_too() -> None:
    sim = Sim(farm(30), BalanceRules(fair_share=False, cap_percent=50))
    first = sim.submit(frames=20_000)
    sim.submit(frames=20_000)
    sim.run(900)
    assert sim.cap_breaches == []
    assert sim.most_busy[first] == 15


# -- retries and blacklist ---------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_slave_that_always_fails_is_blacklisted_after_exactly_k_failures(k: int) -> None:
    sim = Sim(farm(30), BalanceRules(blacklist_after=k), fails=lambda s, j, f: s == "s00")
    job = sim.submit(frames=600)
    sim.run_until_idle()
    record = sim.jobs[job]
    assert record.slave_failures == Counter({"s00": k})
    assert record.blacklist == {"s00"}
    failures = [e for e in sim.events if e[0] == "fail"]
    assert len(failures) == k
    # The k frames it failed were rendered elsewhere; it never got the job again.
    assert all(status == DONE for status in record.status.values())
    last_failure = failures[-1][1]
    assert [d for d in sim.dispatches(job) if d[1] == "s00" and d[0] >= last_failure] == []


def test_without_the_automatic_blacklist_a_failing_slave_keeps_failing() -> None:
    sim = Sim(farm(30), BalanceRules(auto_blacklist=False), fails=lambda s, j, f: s == "s00")
    job = sim.submit(frames=600)
    sim.run_until_idle()
    assert sim.jobs[job].slave_failures["s00"] > 3
    assert sim.jobs[job].blacklist == set()


def test_a_blacklisted_slave_still_renders_other_jobs() -> None:
    sim = Sim(farm(30), fails=lambda s, j, f: s == "s00" and j == 1)
    sim.submit(frames=600)
    other = sim.submit(frames=600)
    sim.run_until_idle()
    assert sim.jobs[1].slave_failures["s00"] == 3
    assert any(d[1] == "s00" for d in sim.dispatches(other))


@pytest.mark.parametrize("retries", [0, 1, 3, 5])
def test_a_frame_failing_everywhere_is_retried_exactly_r_times_then_failed(retries: int) -> None:
    sim = Sim(farm(30), BalanceRules(max_retries=retries), fails=lambda s, j, f: f == 7)
    job = sim.submit(frames=60, chunks=2)
    sim.run_until_idle()
    record = sim.jobs[job]
    attempts = [e for e in sim.events if e[0] == "fail"]
    assert record.failures == Counter({7: retries + 1})
    assert len(attempts) == retries + 1
    assert len({e[2] for e in attempts}) == retries + 1  # each retry on a different slave
    assert record.status[7] == FAILED
    assert all(record.status[n] == DONE for n in record.numbers if n != 7)
    assert record.blacklist == set()


def test_with_retries_off_a_failed_frame_fails_at_once() -> None:
    sim = Sim(farm(30), BalanceRules(retry=False), fails=lambda s, j, f: f == 7)
    job = sim.submit(frames=60)
    sim.run_until_idle()
    assert sim.jobs[job].failures == Counter({7: 1})
    assert sim.jobs[job].status[7] == FAILED


def test_a_frame_fails_when_no_untried_slave_is_left() -> None:
    sim = Sim(farm(30, frozenset()) + [SlaveView("gpu1", frozenset({"gpu"})), SlaveView("gpu2", frozenset({"gpu"}))],
              fails=lambda s, j, f: f == 3)
    job = sim.submit(frames=10, tags=frozenset({"gpu"}))
    sim.run_until_idle()
    assert sim.jobs[job].failures == Counter({3: 2})
    assert sim.jobs[job].status[3] == FAILED


# -- lost slaves ---------------------------------------------------------------------------


def test_frames_of_a_silent_slave_go_back_to_the_queue_after_the_timeout() -> None:
    sim = Sim(farm(30), frame_time=20.0)
    job = sim.submit(frames=300, chunks=3)
    sim.run(5)
    held = sim.work["s07"]
    assert held is not None
    sim.silent.add("s07")
    sim.run(sim.rules.lost_timeout)
    assert "s07" not in sim.lost
    sim.run(2)
    assert "s07" in sim.lost
    lost = [e for e in sim.events if e[0] == "lost"]
    assert lost == [("lost", lost[0][1], "s07", job, tuple(held.frames))]
    sim.run_until_idle()
    assert all(status == DONE for status in sim.jobs[job].status.values())
    assert all(d[1] != "s07" for d in sim.dispatches() if d[0] > 5)


# -- properties ------------------------------------------------------------------------------

TAGS = st.frozensets(st.sampled_from(["gpu", "linux", "cuda", "bigmem"]), max_size=3)

job_specs = st.fixed_dictionaries({
    "frames": st.integers(1, 60),
    "priority": st.integers(1, 5),
    "category": st.sampled_from(["", "a", "b"]),
    "tags": TAGS,
    "chunks": st.integers(1, 6),
    "at": st.sampled_from([0.0, 5.0, 30.0, 200.0]),
})


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Sim, int]:
    slave_tags = draw(st.lists(TAGS, min_size=30, max_size=36))
    rules = BalanceRules(
        fair_share=draw(st.booleans()), cap=draw(st.booleans()), new_first=draw(st.booleans()),
        starvation=draw(st.booleans()), max_retries=draw(st.integers(0, 4)), blacklist_after=draw(st.integers(1, 4)),
        lost_timeout=draw(st.sampled_from([5.0, 60.0])),
    )
    modulus = draw(st.integers(2, 40))
    offset = draw(st.integers(0, 39))

    def fails(slave_id: str, job_id: int, frame: int) -> bool:
        return (int(slave_id[1:]) * 7 + job_id * 13 + frame * 3 + offset) % modulus == 0

    sim = Sim([SlaveView(f"s{i:02d}", tags) for i, tags in enumerate(slave_tags)], rules,
              frame_time=draw(st.sampled_from([1.0, 3.0, 10.0])), fails=fails)
    for spec in draw(st.lists(job_specs, min_size=1, max_size=8)):
        sim.submit(**spec)  # type: ignore[arg-type]
    return sim, draw(st.integers(0, len(slave_tags) - 1))


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_tags_are_never_violated(scenario: tuple[Sim, int]) -> None:
    sim, _ = scenario
    sim.run_until_idle(limit=1500)
    dispatches = sim.dispatches()
    assert dispatches or all(not j.tags <= s.tags for j in sim.jobs.values() for s in sim.slaves.values())
    for _, slave_id, job_id, _ in dispatches:
        assert sim.jobs[job_id].tags <= sim.slaves[slave_id].tags


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.integers(0, 60))
def test_a_frame_is_never_dispatched_to_two_slaves_at_once(scenario: tuple[Sim, int], goes_silent: int) -> None:
    sim, silent = scenario
    sim.run(goes_silent)
    sim.silent.add(f"s{silent:02d}")
    sim.run_until_idle(limit=1500)
    holder: dict[tuple[int, int], str] = {}
    for kind, _, slave_id, job_id, frames in sim.events:
        for number in frames:
            key = (job_id, number)
            if kind == "dispatch":
                assert key not in holder, f"frame {key} dispatched to {slave_id} while {holder.get(key)} has it"
                holder[key] = slave_id
            else:
                assert holder.pop(key) == slave_id
    # Nothing is left half-done: every frame still held is one the farm knows as dispatched.
    for (job_id, number), slave_id in holder.items():
        assert sim.jobs[job_id].status[number] == DISPATCHED
        work = sim.work[slave_id]
        assert work is not None and number in work.frames
