# SPDX-License-Identifier: GPL-3.0-or-later
"""Which job a slave works on next, which frames it takes, and what a failure costs.

Pure functions: no I/O and no clock reads (``now`` is passed in), so the rules
can be tested and simulated without a master. The farm gathers a
:class:`Candidate` per active job and asks :func:`choose_job`; every setting
lives in one :class:`BalanceRules`, which the API can show and change as JSON.

The rules, each a function below (in the order :func:`choose_job` applies them)::

    # blacklists   is_blacklisted   a slave blacklisted farm-wide gets nothing, one
    #                               blacklisted for a job never gets that job
    # tags         slave_suits      a slave takes a job only if it has every tag of it
    # cap          over_cap         one job holds at most cap_percent of all slaves,
    #                               unless it is the only job this slave can take
    # new first    is_new           a job whose first frames are not out yet goes
    #                               first, so its errors show early
    # starvation   is_starving      a job not dispatched for starve_minutes goes
    #                               first, so nothing waits forever
    # categories   category_loads   the category with the least load goes first
    #                               (least_loaded_category), so categories share
    #                               equally whatever their number of jobs
    # fair share   fair_share_key   then the job with the least load per priority:
    #                               priority 2 gets twice the share of priority 1
    # usage        decay_usage      load = share of the cluster averaged over time
    #                               (exponential decay) + share held right now
    # chunks       take_chunk       up to `chunks` consecutive queued frames, never
    #                               one this slave already failed
    # retries      after_failure    a failed frame is retried on another slave up
    #                               to max_retries times, then it is failed
    # auto black-  should_blacklist a slave failing blacklist_after frames of a job
    #   list                        is blacklisted for that job
    # lost slaves  lost_slaves      a slave silent for lost_timeout seconds is lost;
    #                               its frames go back to the queue

Every rule has a switch in :class:`BalanceRules` (blacklists already made
always apply), and the thresholds are settings there too. With every switch
off the balancer hands out one frame at a time, oldest submission first, to
any slave.

"No work" is ``None``, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .common.rules import DEFAULT_RULES, BalanceRules

__all__ = [  # the rules' settings live in common (the API and the store read them too); they are ours by name
    "DEFAULT_RULES", "BalanceRules", "Candidate", "SlaveView", "Verdict", "after_failure", "choose_job",
    "decay_usage", "lost_slaves", "should_blacklist", "take_chunk",
]

Verdict = Literal["retry", "fail"]

# A job's usage below this, with no slave on it, is dropped from the usage table.
FORGOTTEN = 1e-9


@dataclass(frozen=True)
class Candidate:
    """What the balancer needs to know of one active job.

    Jobs with nothing queued (``queued == 0``) are never chosen, but passing
    them still counts their load towards their category.
    """

    job_id: int
    submitted_at: float
    priority: int = 1
    category: str = ""
    tags: frozenset[str] = frozenset()
    queued: int = 0
    usage: float = 0.0  # the job's share of the cluster, averaged over time (decay_usage)
    busy: int = 0  # slaves rendering it right now
    last_dispatched: float | None = None  # when it last got a chunk; None: never
    started: bool = False  # some frame of it was dispatched, ever
    any_done: bool = False  # some frame of it finished, ever
    blacklist: frozenset[str] = frozenset()  # slaves that may not take it


@dataclass(frozen=True)
class SlaveView:
    id: str
    tags: frozenset[str] = frozenset()


# -- the rules, one function each ------------------------------------------


def is_blacklisted(job: Candidate, slave: SlaveView) -> bool:
    """Blacklist rule: the slave failed this job too often and may not take it again."""
    return slave.id in job.blacklist


def slave_suits(job: Candidate, slave: SlaveView) -> bool:
    """Tags rule: the slave carries every tag the job asks for (no tags suits all)."""
    return job.tags <= slave.tags


def cap_limit(slaves: int, rules: BalanceRules = DEFAULT_RULES) -> int:
    """Cap rule: how many slaves one job may hold, ``cap_percent`` of ``slaves`` (at least 1)."""
    return max(1, math.floor(slaves * rules.cap_percent / 100.0 + 1e-9))


def over_cap(job: Candidate, limit: int) -> bool:
    """Cap rule: one more slave would take ``job`` above ``limit`` (see :func:`cap_limit`)."""
    return job.busy + 1 > limit


def is_new(job: Candidate) -> bool:
    """New-first rule: none of the job's frames went out yet.

    Also new: a job with nothing finished and nobody rendering it, i.e. its first
    chunk came back unrendered (slave lost, frames released or failed); it goes
    out again at once, so a broken job shows its errors early.
    """
    return not job.started or (not job.any_done and job.busy == 0)


def waiting_since(job: Candidate) -> float:
    """Starvation rule: when the job last got a chunk, or was submitted if never."""
    return job.submitted_at if job.last_dispatched is None else job.last_dispatched


def is_starving(job: Candidate, now: float, rules: BalanceRules = DEFAULT_RULES) -> bool:
    """Starvation rule: the job got no chunk for more than ``starve_minutes``."""
    return now - waiting_since(job) > rules.starve_minutes * 60.0


def job_load(job: Candidate, slaves: int) -> float:
    """Usage rule: the job's averaged share of the cluster plus the share it holds now.

    The second term makes slaves asking in the same instant spread over jobs
    instead of all following the same, not yet updated, average.
    """
    return job.usage + job.busy / max(slaves, 1)


def category_loads(candidates: Iterable[Candidate], slaves: int) -> dict[str, float]:
    """Categories rule: the load of each category, the sum of its jobs' :func:`job_load`."""
    loads: dict[str, float] = {}
    per_slave = 1.0 / max(slaves, 1)
    for job in candidates:  # job_load, inlined: this loop runs over every job at each decision
        loads[job.category] = loads.get(job.category, 0.0) + job.usage + job.busy * per_slave
    return loads


def fair_share_key(job: Candidate, slaves: int) -> tuple[float, float, int]:
    """Fair-share rule: the least load per priority first.

    A job's load is divided by its priority, so at balance a priority-2 job holds
    twice the share of a priority-1 job. Ties go to the oldest job, then the lowest id.
    """
    return job_load(job, slaves) / max(job.priority, 1), job.submitted_at, job.job_id


def least_loaded_category(pool: Sequence[Candidate], loads: Mapping[str, float]) -> list[Candidate]:
    """Categories rule: the jobs of ``pool`` in its least loaded category (see :func:`category_loads`)."""
    best = min(loads.get(c, 0.0) for c in {job.category for job in pool})
    return [job for job in pool if loads.get(job.category, 0.0) == best]


def decay_usage(
    usage: Mapping[int, float], busy: Mapping[int, int], slaves: int, dt: float, half_life: float
) -> dict[int, float]:
    """Usage rule: each job's share of the cluster, averaged with exponential decay.

    ``usage`` is the average as it was ``dt`` seconds ago, ``busy`` how many of
    the ``slaves`` worked on each job during those ``dt`` seconds. The average
    moves towards each job's share ``busy / slaves`` and covers half the gap in
    ``half_life`` seconds. A job with no slave whose usage fell below
    :data:`FORGOTTEN` is dropped. A negative ``dt`` (the clock stepped back)
    counts as 0; a ``half_life`` of 0 or less keeps no memory.
    """
    keep = 0.5 ** (max(dt, 0.0) / half_life) if half_life > 0 else 0.0
    gain = 1.0 - keep
    out: dict[int, float] = {}
    for job_id in [*usage, *(j for j in busy if j not in usage)]:
        held = busy.get(job_id, 0)
        share = held / slaves if slaves > 0 else 0.0
        value = usage.get(job_id, 0.0) * keep + share * gain
        if held or value >= FORGOTTEN:
            out[job_id] = value
    return out


def after_failure(
    failures_so_far: int, rules: BalanceRules = DEFAULT_RULES, untried_slaves: int | None = None
) -> Verdict:
    """Retries rule: whether a frame that just failed goes back to the queue or is failed.

    ``failures_so_far`` counts this failure too. The frame is retried (on a
    slave that has not failed it, see :func:`take_chunk`'s ``avoid``) until it
    has failed ``max_retries + 1`` times, i.e. ``max_retries`` retries. When
    ``untried_slaves`` says no slave able to take the job is left to try it, it
    fails at once rather than wait in the queue forever.
    """
    if failures_so_far < 1:
        raise ValueError(f"after_failure needs at least one failure, not {failures_so_far}")
    if not rules.retry or failures_so_far > rules.max_retries:
        return "fail"
    if untried_slaves is not None and untried_slaves <= 0:
        return "fail"
    return "retry"


def should_blacklist(failures_of_slave_on_job: int, rules: BalanceRules = DEFAULT_RULES) -> bool:
    """Automatic blacklist rule: the slave has failed ``blacklist_after`` frames of the job."""
    return rules.auto_blacklist and failures_of_slave_on_job >= rules.blacklist_after


def lost_slaves(last_seen: Mapping[str, float], now: float, timeout: float = 60.0) -> set[str]:
    """Lost-slaves rule: the slaves not heard from for more than ``timeout`` seconds.

    The farm puts their dispatched frames back in the queue (not a failure:
    the frames did nothing wrong) and stops counting them among the slaves.
    """
    return {slave_id for slave_id, seen in last_seen.items() if now - seen > timeout}


# -- the decisions ----------------------------------------------------------


def _oldest(job: Candidate) -> tuple[float, int]:
    return job.submitted_at, job.job_id


def choose_job(
    candidates: Iterable[Candidate],
    slave: SlaveView,
    now: float,
    rules: BalanceRules = DEFAULT_RULES,
    *,
    slaves: int | None = None,
    farm_blacklist: Collection[str] = frozenset(),
    exclude: Collection[int] = frozenset(),
) -> int | None:
    """The id of the job ``slave`` should render next, or ``None`` if none suits.

    ``slaves`` is how many slaves the farm has (lost ones left out); without it
    the cap is not applied and the current share is taken over the busy slaves.
    ``farm_blacklist`` names slaves that get no work at all. ``exclude`` names
    jobs to pass over, e.g. ones whose every queued frame this slave has failed
    (where :func:`take_chunk` came back empty).
    """
    if slave.id in farm_blacklist:
        return None
    jobs = candidates if isinstance(candidates, (list, tuple)) else list(candidates)
    pool = [
        c for c in jobs
        if c.queued > 0 and (not rules.tags or slave_suits(c, slave))
        and not is_blacklisted(c, slave) and c.job_id not in exclude
    ]
    if not pool:
        return None
    if rules.cap and slaves and len(pool) > 1:
        limit = cap_limit(slaves, rules)
        under = [c for c in pool if not over_cap(c, limit)]
        # Every job this slave can take at its cap: leaving the slave idle helps nobody.
        pool = under or pool
    if rules.new_first:
        new = [c for c in pool if is_new(c)]
        if new:
            return min(new, key=_oldest).job_id
    if rules.starvation:
        starving = [c for c in pool if is_starving(c, now, rules)]
        if starving:
            return min(starving, key=lambda c: (waiting_since(c), c.job_id)).job_id
    if not rules.fair_share:
        return min(pool, key=_oldest).job_id
    size = slaves or sum(c.busy for c in jobs) + 1
    if rules.categories:
        pool = least_loaded_category(pool, category_loads(jobs, size))
    return min(pool, key=lambda c: fair_share_key(c, size)).job_id


def take_chunk(frames: Sequence[tuple[int, bool]], chunks: int, avoid: Collection[int] = frozenset()) -> list[int]:
    """Up to ``chunks`` consecutive queued frames, starting at the first queued one.

    ``frames`` is the job's frame list in order, each with whether it is queued.
    Consecutive means neighbours in that list, so one Blender run renders a
    contiguous stretch and a chunk never jumps over a frame someone else holds.
    Frames in ``avoid`` (the ones this slave already failed) count as not
    queued, so a retry goes to another slave.
    """
    chunk: list[int] = []
    for number, queued in frames:
        if queued and number not in avoid:
            chunk.append(number)
            if len(chunk) == chunks:
                break
        elif chunk:
            break
    return chunk
