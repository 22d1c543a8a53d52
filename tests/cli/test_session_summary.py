# SPDX-License-Identifier: GPL-3.0-or-later
"""A session's summary, from a job's tasks alone: frames and seconds per host, extremes, wall time, speed-up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from netrender.cli.sessions import SessionFolder, format_summary, host_file, summarise
from netrender.common.errors import InvalidConfig


def task(number: int, slave: str | None, seconds: float | None, start: float, status: str = "done") -> dict[str, Any]:
    end = None if seconds is None else start + seconds + 0.1
    return {"number": number, "slave_id": slave, "status": status, "render_time": seconds,
            "dispatched_at": start, "finished_at": end}


JOB = {"id": 7, "name": "shot", "status": "finished", "frame_count": {"done": 4, "total": 5}, "frames": [
    task(1, "a", 2.0, 100.0), task(2, "b", 3.0, 100.0), task(3, "a", 1.5, 102.1), task(4, "b", 2.5, 103.1),
    task(5, "b", None, 105.0, status="error"),
]}


def test_the_numbers_come_from_the_done_tasks_only() -> None:
    summary = summarise(JOB, {"a": "anna@render-01", "b": "bob@render-02:2222"})
    assert [(h.host, h.frames, h.seconds) for h in summary.hosts] == [("anna@render-01", 2, 3.5),
                                                                      ("bob@render-02:2222", 2, 5.5)]
    assert summary.slowest == (2, 3.0, "bob@render-02:2222") and summary.fastest == (3, 1.5, "anna@render-01")
    assert summary.wall == pytest.approx(105.7 - 100.0) and summary.render_total == 9.0
    assert summary.speedup == pytest.approx(9.0 / 5.7)


def test_the_summary_text_names_each_host_and_the_speed_up() -> None:
    text = format_summary(summarise(JOB, {"a": "anna@render-01", "b": "bob"}), JOB)
    assert text.splitlines()[0] == "job 7 (shot): finished, 4 of 5 done"
    assert "anna@render-01                        2      3.50     1.75" in text
    assert "slowest frame: 2, 3.00 s on bob" in text and "fastest frame: 3, 1.50 s on anna@render-01" in text
    assert "wall time: 5.70 s; render time added up: 9.00 s; speed-up: 1.58x" in text


def test_a_job_with_nothing_done_has_an_empty_summary_not_an_error() -> None:
    empty = {**JOB, "frames": [task(1, None, None, 0.0, status="queued")]}
    summary = summarise(empty, {})
    assert (summary.hosts, summary.slowest, summary.wall, summary.speedup) == ([], None, 0.0, 0.0)
    assert "speed-up: 0.00x" in format_summary(summary, empty)


def test_host_logs_are_named_after_the_host_safe_on_any_system() -> None:
    assert host_file("anna@render-01") == "anna@render-01_log.txt"
    assert host_file("anna@[::1]:2200") == "anna@___1__2200_log.txt"


def test_a_session_is_named_by_its_start_time_unless_named_and_never_overwritten(tmp_path: Path) -> None:
    now = time.mktime((2026, 12, 6, 23, 5, 9, 0, 0, -1))
    assert SessionFolder.new(tmp_path, "", now=now).name == "2026_12_06_23_05_09"
    assert SessionFolder.new(tmp_path, "take-2", now=now).path == tmp_path / "take-2"
    with pytest.raises(InvalidConfig, match="exists already"):
        SessionFolder.new(tmp_path, "take-2")
    with pytest.raises(InvalidConfig, match="not a session name"):
        SessionFolder(tmp_path, "../escape")
    with pytest.raises(InvalidConfig, match="there is no session take-3"):
        SessionFolder.existing(tmp_path, "take-3")
