# SPDX-License-Identifier: GPL-3.0-or-later
"""How long one balancing decision takes on a big farm: 1,000 queued jobs, 1,000 slaves.

Run: ``.venv/bin/python bench/bench_balancing.py [--decisions N]``

Every job is under way (dispatched, frames done, none starving), so each
decision walks the whole path: blacklist, tags, cap, new-first, starvation,
category loads and fair share. The goal is a median under 1 ms.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

from netrender.balancing import DEFAULT_RULES, Candidate, SlaveView, choose_job, decay_usage

JOBS = 1_000
SLAVES = 1_000
TAGS = ["gpu", "linux", "cuda", "bigmem"]


def build(rng: random.Random, now: float) -> tuple[list[Candidate], list[SlaveView]]:
    slaves = [SlaveView(f"slave-{i:04d}", frozenset(rng.sample(TAGS, rng.randint(0, len(TAGS)))))
              for i in range(SLAVES)]
    # Every slave but the one asking is busy on some job.
    busy = [0] * JOBS
    for _ in range(SLAVES - 1):
        busy[rng.randrange(JOBS)] += 1
    weights = [rng.random() for _ in range(JOBS)]
    total = sum(weights)
    jobs = [
        Candidate(
            job_id=i + 1,
            submitted_at=now - rng.uniform(60, 86_400),
            priority=rng.randint(1, 5),
            category=f"category-{rng.randrange(20)}",
            tags=frozenset(rng.sample(TAGS, rng.choice([0, 0, 0, 1, 2]))),
            queued=rng.randint(1, 500),
            usage=weights[i] / total,
            busy=busy[i],
            last_dispatched=now - rng.uniform(0, 60),
            started=True,
            any_done=True,
            blacklist=frozenset(rng.sample([s.id for s in slaves], rng.choice([0, 0, 0, 2]))),
        )
        for i in range(JOBS)
    ]
    return jobs, slaves


def timed(run: Callable[[], object], times: int) -> list[float]:
    """Each run's wall time in milliseconds."""
    out = []
    for _ in range(times):
        start = time.perf_counter_ns()
        run()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def report(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:<34} median {median:7.3f} ms   p99 {p99:7.3f} ms   ({len(samples)} runs)")
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    now = 1_800_000_000.0
    rng = random.Random(args.seed)
    jobs, slaves = build(rng, now)
    untagged = SlaveView("slave-untagged")  # suits only the untagged jobs
    tagged = SlaveView("slave-all-tags", frozenset(TAGS))  # suits every job
    usage = {c.job_id: c.usage for c in jobs}
    busy = {c.job_id: c.busy for c in jobs}

    print(f"netrender balancing benchmark: {JOBS} queued jobs, {SLAVES} slaves, "
          f"Python {platform.python_version()} on {platform.machine()}")
    for slave in (tagged, untagged):
        choose_job(jobs, slave, now, DEFAULT_RULES, slaves=SLAVES)  # warm up
    medians = [
        report("choose_job, slave suits every job", timed(
            lambda: choose_job(jobs, tagged, now, DEFAULT_RULES, slaves=SLAVES), args.decisions)),
        report("choose_job, untagged slave", timed(
            lambda: choose_job(jobs, untagged, now, DEFAULT_RULES, slaves=SLAVES), args.decisions)),
    ]
    report("decay_usage, 1,000 jobs", timed(lambda: decay_usage(usage, busy, SLAVES, 1.0, 300.0), args.decisions))
    ok = max(medians) < 1.0
    print("goal: median decision < 1 ms:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
