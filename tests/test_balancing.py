"""The balancer decides which job and frames each slave renders; its rules must hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netrender.balancing import Candidate, SlaveView, choose_job, take_chunk

SLAVE = SlaveView("s1")


def cand(job_id: int, submitted_at: float, queued: int = 1, tags: frozenset[str] = frozenset()) -> Candidate:
    return Candidate(job_id=job_id, submitted_at=submitted_at, queued=queued, tags=tags)


def test_oldest_submission_first() -> None:
    jobs = [cand(1, 30.0), cand(2, 10.0), cand(3, 20.0)]
    assert choose_job(jobs, SLAVE, now=100.0) == 2


def test_ties_go_to_lowest_id() -> None:
    jobs = [cand(7, 10.0), cand(3, 10.0), cand(5, 10.0)]
    assert choose_job(jobs, SLAVE, now=100.0) == 3


def test_job_without_queued_frames_is_ignored() -> None:
    jobs = [cand(1, 1.0, queued=0), cand(2, 5.0)]
    assert choose_job(jobs, SLAVE, now=100.0) == 2


def test_slave_missing_a_tag_never_gets_the_job() -> None:
    jobs = [cand(1, 1.0, tags=frozenset({"gpu", "linux"}))]
    assert choose_job(jobs, SlaveView("s", frozenset({"gpu"})), now=0.0) is None


def test_slave_with_superset_of_tags_gets_the_job() -> None:
    jobs = [cand(1, 1.0, tags=frozenset({"gpu"}))]
    assert choose_job(jobs, SlaveView("s", frozenset({"gpu", "linux"})), now=0.0) == 1


def test_untagged_job_suits_any_slave() -> None:
    jobs = [cand(1, 1.0)]
    assert choose_job(jobs, SLAVE, now=0.0) == 1
    assert choose_job(jobs, SlaveView("s", frozenset({"gpu"})), now=0.0) == 1


def test_unsuitable_older_job_is_skipped_for_newer_one() -> None:
    jobs = [cand(1, 1.0, tags=frozenset({"gpu"})), cand(2, 9.0)]
    assert choose_job(jobs, SLAVE, now=0.0) == 2


def test_none_when_nothing_suits() -> None:
    assert choose_job([], SLAVE, now=0.0) is None
    assert choose_job([cand(1, 1.0, queued=0)], SLAVE, now=0.0) is None


def test_take_chunk_takes_up_to_chunks_from_first_queued() -> None:
    frames = [(1, False), (2, True), (3, True), (4, True), (5, True)]
    assert take_chunk(frames, 3) == [2, 3, 4]


def test_take_chunk_stops_at_gap() -> None:
    frames = [(1, True), (2, True), (3, False), (4, True)]
    assert take_chunk(frames, 10) == [1, 2]


def test_take_chunk_of_one() -> None:
    assert take_chunk([(1, True), (2, True)], 1) == [1]


def test_take_chunk_empty_when_none_queued() -> None:
    assert take_chunk([(1, False), (2, False)], 5) == []
    assert take_chunk([], 5) == []


@given(st.lists(st.booleans(), max_size=40), st.integers(min_value=1, max_value=50))
def test_take_chunk_is_contiguous_run_from_first_queued(layout: list[bool], chunks: int) -> None:
    frames = [(100 + i, queued) for i, queued in enumerate(layout)]
    chunk = take_chunk(frames, chunks)
    if not any(layout):
        assert chunk == []
        return
    start = layout.index(True)
    run = 0
    while start + run < len(layout) and layout[start + run]:
        run += 1
    assert chunk == [100 + i for i in range(start, start + min(run, chunks))]
    assert 1 <= len(chunk) <= chunks
