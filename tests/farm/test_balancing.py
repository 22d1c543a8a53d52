"""The balancer decides which job and frames each slave renders; its rules must hold."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netrender.balancing import (
    DEFAULT_RULES,
    BalanceRules,
    Candidate,
    SlaveView,
    after_failure,
    cap_limit,
    category_loads,
    choose_job,
    decay_usage,
    is_new,
    is_starving,
    lost_slaves,
    should_blacklist,
    take_chunk,
)
from netrender.common.errors import InvalidRequest

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


def test_take_chunk_skips_frames_the_slave_failed() -> None:
    frames = [(1, True), (2, True), (3, True), (4, True)]
    assert take_chunk(frames, 2, avoid={1}) == [2, 3]
    assert take_chunk(frames, 5, avoid={2}) == [1]  # an avoided frame ends the run like a held one
    assert take_chunk(frames, 2, avoid={1, 2, 3, 4}) == []


# -- the rules as settings ---------------------------------------------------------


def test_rules_round_trip_through_json() -> None:
    rules = BalanceRules(cap_percent=60, starve_minutes=5, max_retries=1, categories=False)
    data = json.loads(json.dumps(rules.to_json()))
    assert BalanceRules.from_json(data) == rules
    assert data["cap_percent"] == 60.0 and isinstance(data["cap_percent"], float)


def test_rules_defaults_match_the_documented_thresholds() -> None:
    data = DEFAULT_RULES.to_json()
    assert data["cap_percent"] == 75.0
    assert data["starve_minutes"] == 2.0
    assert data["max_retries"] == 3
    assert data["blacklist_after"] == 3
    assert data["lost_timeout"] == 60.0
    assert all(data[name] is True for name in
               ("fair_share", "categories", "cap", "new_first", "starvation", "retry", "auto_blacklist"))


def test_rules_from_partial_json_keep_the_base() -> None:
    base = BalanceRules(max_retries=5)
    assert BalanceRules.from_json({"cap": False}, base) == BalanceRules(max_retries=5, cap=False)
    assert BalanceRules.from_json({}) == DEFAULT_RULES


@pytest.mark.parametrize("data", [
    [], "cap", None,
    {"no_such_rule": 1},
    {"cap": 1}, {"cap": "yes"},
    {"cap_percent": True}, {"cap_percent": "75"}, {"cap_percent": 0}, {"cap_percent": 101},
    {"cap_percent": math.nan}, {"half_life": math.inf}, {"half_life": 0},
    {"max_retries": 1.5}, {"max_retries": -1}, {"blacklist_after": 0},
    {"starve_minutes": 0}, {"lost_timeout": None},
])
def test_bad_rules_are_an_invalid_request(data: object) -> None:
    with pytest.raises(InvalidRequest):
        BalanceRules.from_json(data)


def test_bad_rules_are_refused_when_built_in_code_too() -> None:
    with pytest.raises(InvalidRequest, match="cap_percent"):
        BalanceRules(cap_percent=0)


# -- usage ---------------------------------------------------------------------------


def test_usage_covers_half_the_gap_in_one_half_life() -> None:
    assert decay_usage({}, {1: 10}, 10, dt=60, half_life=60) == pytest.approx({1: 0.5})
    assert decay_usage({1: 0.8}, {}, 10, dt=60, half_life=60) == pytest.approx({1: 0.4})
    assert decay_usage({1: 0.2}, {1: 5}, 10, dt=120, half_life=60) == pytest.approx({1: 0.2 * 0.25 + 0.5 * 0.75})


def test_usage_of_a_finished_job_is_forgotten_once_tiny() -> None:
    assert decay_usage({1: 1e-10, 2: 0.3}, {}, 10, dt=1, half_life=60).keys() == {2}


def test_usage_odd_inputs() -> None:
    assert decay_usage({1: 0.5}, {1: 3}, 10, dt=-5, half_life=60) == {1: 0.5}  # clock stepped back: no change
    assert decay_usage({1: 0.5}, {1: 3}, 10, dt=1, half_life=0) == {1: 0.3}  # no memory
    assert decay_usage({1: 0.5}, {1: 3}, 0, dt=60, half_life=60) == pytest.approx({1: 0.25})


@given(
    st.dictionaries(st.integers(1, 5), st.floats(0, 1), max_size=5),
    st.dictionaries(st.integers(1, 5), st.integers(0, 6), max_size=5),
    st.floats(0, 10_000), st.floats(1, 3600),
)
def test_usage_moves_towards_the_current_share_and_stays_a_fraction(
    usage: dict[int, float], busy: dict[int, int], dt: float, half_life: float
) -> None:
    slaves = 30
    out = decay_usage(usage, busy, slaves, dt, half_life)
    for job_id, value in out.items():
        before, share = usage.get(job_id, 0.0), busy.get(job_id, 0) / slaves
        assert min(before, share) - 1e-12 <= value <= max(before, share) + 1e-12
        assert 0.0 <= value <= 1.0
    assert {j for j, n in busy.items() if n} <= out.keys()


# -- failures ----------------------------------------------------------------------------


def test_a_failed_frame_is_retried_max_retries_times() -> None:
    assert [after_failure(n) for n in range(1, 6)] == ["retry", "retry", "retry", "fail", "fail"]
    assert [after_failure(n, BalanceRules(max_retries=0)) for n in (1, 2)] == ["fail", "fail"]
    assert after_failure(1, BalanceRules(retry=False)) == "fail"
    assert after_failure(1, untried_slaves=0) == "fail"
    assert after_failure(1, untried_slaves=4) == "retry"
    with pytest.raises(ValueError):
        after_failure(0)


def test_a_slave_is_blacklisted_at_the_kth_failure() -> None:
    assert [should_blacklist(n) for n in range(5)] == [False, False, False, True, True]
    assert should_blacklist(1, BalanceRules(blacklist_after=1))
    assert not should_blacklist(100, BalanceRules(auto_blacklist=False))


def test_lost_slaves_are_the_ones_silent_past_the_timeout() -> None:
    seen = {"a": 100.0, "b": 40.0, "c": 39.0}
    assert lost_slaves(seen, now=100.0) == {"c"}
    assert lost_slaves(seen, now=100.0, timeout=5) == {"b", "c"}
    assert lost_slaves({}, now=0.0) == set()


# -- choose_job with the new rules -----------------------------------------------------------


def running(job_id: int, submitted_at: float = 0.0, **fields: object) -> Candidate:
    """A job that is under way: dispatched and with frames done, so not new."""
    base: dict[str, object] = {"queued": 10, "started": True, "any_done": True, "last_dispatched": 95.0}
    base.update(fields)
    return Candidate(job_id, submitted_at, **base)  # type: ignore[arg-type]


def test_candidates_built_the_old_way_still_go_oldest_first() -> None:
    jobs = [Candidate(1, 30.0, 1, "", frozenset(), 4), Candidate(2, 10.0, 5, "x", frozenset(), 4)]
    assert choose_job(jobs, SLAVE, now=1000.0) == 2


def test_farm_blacklisted_slave_gets_nothing() -> None:
    assert choose_job([cand(1, 1.0)], SLAVE, now=0.0, farm_blacklist={"s1"}) is None
    assert choose_job([cand(1, 1.0)], SLAVE, now=0.0, farm_blacklist={"other"}) == 1


def test_slave_blacklisted_for_a_job_gets_another() -> None:
    jobs = [running(1, blacklist=frozenset({"s1"})), running(2, 50.0)]
    assert choose_job(jobs, SLAVE, now=100.0) == 2
    assert choose_job(jobs[:1], SLAVE, now=100.0) is None
    assert choose_job(jobs[:1], SlaveView("s2"), now=100.0) == 1


def test_excluded_jobs_are_passed_over() -> None:
    jobs = [running(1), running(2, 50.0)]
    assert choose_job(jobs, SLAVE, now=100.0, exclude={1}) == 2
    assert choose_job(jobs, SLAVE, now=100.0, exclude={1, 2}) is None


def test_a_new_job_goes_before_fair_share() -> None:
    jobs = [running(1, usage=0.0), Candidate(2, 90.0, queued=5, usage=0.9)]
    assert is_new(jobs[1]) and not is_new(jobs[0])
    assert choose_job(jobs, SLAVE, now=100.0, slaves=10) == 2
    assert choose_job(jobs, SLAVE, now=100.0, rules=BalanceRules(new_first=False), slaves=10) == 1


def test_a_job_whose_first_chunk_came_back_unrendered_is_new_again() -> None:
    assert is_new(Candidate(1, 0.0, queued=5, started=True, any_done=False, busy=0))
    assert not is_new(Candidate(1, 0.0, queued=5, started=True, any_done=False, busy=1))
    assert not is_new(Candidate(1, 0.0, queued=5, started=True, any_done=True, busy=0))


def test_a_starving_job_goes_before_fair_share() -> None:
    hungry = running(2, usage=0.5, last_dispatched=100.0 - 121.0)
    fed = running(1, usage=0.0, last_dispatched=99.0)
    assert is_starving(hungry, 100.0) and not is_starving(fed, 100.0)
    assert choose_job([fed, hungry], SLAVE, now=100.0, slaves=10) == 2
    assert choose_job([fed, hungry], SLAVE, now=100.0, rules=BalanceRules(starvation=False), slaves=10) == 1
    # Exactly at the threshold is not yet starving.
    assert not is_starving(running(3, last_dispatched=-20.0), 100.0)


def test_the_longest_starving_job_goes_first() -> None:
    jobs = [running(1, last_dispatched=-100.0), running(2, last_dispatched=-300.0), running(3, last_dispatched=-200.0)]
    assert choose_job(jobs, SLAVE, now=100.0) == 2


def test_fair_share_divides_load_by_priority() -> None:
    # Load 0.4 at priority 2 (0.2 per priority) beats load 0.3 at priority 1.
    jobs = [running(1, usage=0.3), running(2, 50.0, usage=0.4, priority=2)]
    assert choose_job(jobs, SLAVE, now=100.0, slaves=10) == 2
    assert choose_job(jobs, SLAVE, now=100.0, rules=BalanceRules(fair_share=False), slaves=10) == 1


def test_fair_share_counts_the_slaves_a_job_holds_now() -> None:
    jobs = [running(1, busy=4), running(2, 50.0, busy=1)]
    assert choose_job(jobs, SLAVE, now=100.0, slaves=10) == 2


def test_the_least_loaded_category_goes_first() -> None:
    jobs = [running(1, usage=0.1, category="a"), running(2, usage=0.1, category="a"),
            running(3, 50.0, usage=0.15, category="b")]
    assert category_loads(jobs, 10) == pytest.approx({"a": 0.2, "b": 0.15})
    assert choose_job(jobs, SLAVE, now=100.0, slaves=10) == 3
    assert choose_job(jobs, SLAVE, now=100.0, rules=BalanceRules(categories=False), slaves=10) == 1


def test_a_job_with_nothing_queued_still_loads_its_category() -> None:
    jobs = [running(1, usage=0.1, category="a"), running(2, usage=0.3, category="a", queued=0),
            running(3, 50.0, usage=0.2, category="b")]
    assert choose_job(jobs, SLAVE, now=100.0, slaves=10) == 3


def test_cap_limit_is_a_share_of_the_slaves_and_at_least_one() -> None:
    assert cap_limit(30) == 22
    assert cap_limit(40) == 30
    assert cap_limit(100) == 75
    assert cap_limit(1) == 1
    assert cap_limit(10, BalanceRules(cap_percent=50)) == 5


def test_a_job_at_its_cap_yields_to_another_with_work() -> None:
    jobs = [running(1, busy=7, usage=0.0), running(2, 50.0, busy=0, usage=0.9)]
    assert choose_job(jobs, SLAVE, now=100.0, slaves=10) == 2
    assert choose_job(jobs, SLAVE, now=100.0, rules=BalanceRules(cap=False, categories=False), slaves=40) == 1
    # No farm size, no cap.
    assert choose_job(jobs, SLAVE, now=100.0, rules=BalanceRules(fair_share=False)) == 1


def test_a_job_at_its_cap_takes_the_slave_when_it_is_the_only_one_that_suits() -> None:
    jobs = [running(1, busy=7), running(2, 50.0, tags=frozenset({"gpu"}))]
    assert choose_job(jobs, SLAVE, now=100.0, slaves=10) == 1
    assert choose_job(jobs, SlaveView("g", frozenset({"gpu"})), now=100.0, slaves=10) == 2


def test_when_every_job_is_at_its_cap_the_slave_still_works() -> None:
    rules = BalanceRules(cap_percent=20)
    jobs = [running(1, busy=2), running(2, 50.0, busy=2)]
    assert choose_job(jobs, SLAVE, now=100.0, rules=rules, slaves=10) in (1, 2)
