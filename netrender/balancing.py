# SPDX-License-Identifier: GPL-3.0-or-later
"""Which job a slave works on next, and which frames it takes.

Pure functions: no I/O and no clock reads (``now`` is passed in), so the rules
can be tested and simulated without a master. The farm gathers a
:class:`Candidate` per job that has queued frames and asks :func:`choose_job`.

The rules, in order:

1. A slave only takes a job it has every tag of (a job with no tags suits all).
2. Among suitable jobs, the oldest submission goes first (ties: lowest id).

"No work" is ``None``, not an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """What the balancer needs to know of one job with queued frames."""

    job_id: int
    submitted_at: float
    priority: int = 1
    category: str = ""
    tags: frozenset[str] = frozenset()
    queued: int = 0


@dataclass(frozen=True)
class SlaveView:
    id: str
    tags: frozenset[str] = frozenset()


def slave_suits(job: Candidate, slave: SlaveView) -> bool:
    """Rule 1: the slave carries every tag the job asks for."""
    return job.tags <= slave.tags


def choose_job(candidates: Iterable[Candidate], slave: SlaveView, now: float) -> int | None:
    """The id of the job ``slave`` should render next, or ``None`` if none suits."""
    suitable = [c for c in candidates if c.queued > 0 and slave_suits(c, slave)]
    if not suitable:
        return None
    return min(suitable, key=lambda c: (c.submitted_at, c.job_id)).job_id


def take_chunk(frames: Sequence[tuple[int, bool]], chunks: int) -> list[int]:
    """Up to ``chunks`` consecutive queued frames, starting at the first queued one.

    ``frames`` is the job's frame list in order, each with whether it is queued.
    Consecutive means neighbours in that list, so one Blender run renders a
    contiguous stretch and a chunk never jumps over a frame someone else holds.
    """
    chunk: list[int] = []
    for number, queued in frames:
        if queued:
            chunk.append(number)
            if len(chunk) == chunks:
                break
        elif chunk:
            break
    return chunk
