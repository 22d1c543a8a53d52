# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's events.log: every event a JSON line, in order, rotated by size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api_calls import deliver, register, submit, work
from conftest import FakeClock
from flask import Flask
from flask.testing import FlaskClient

from netrender.farm.eventlog import EventLog


def events(app: Flask) -> list[dict[str, Any]]:
    path = app.extensions["netrender.farm"].root / "events.log"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jobs_slaves_and_failed_frames_are_logged_as_they_happen(app: Flask, client: FlaskClient,
                                                                  clock: FakeClock) -> None:
    client.patch("/api/balancing", json={"retry": False, "lost_timeout": 30})
    job = submit(client, [1, 2])["id"]
    one, two = register(client, "one"), register(client, "two")
    work(client, one)
    deliver(client, job, 1, one)
    work(client, two)
    client.post(f"/api/jobs/{job}/frames/2/error", json={"slave": two, "message": "Blender quit"})
    client.post(f"/api/slaves/{one}/leave")
    clock.advance(31)
    app.extensions["netrender.farm"].run_once(clock())  # two is silent past the lost timeout; one left
    app.extensions["netrender.farm"].run_once(clock())  # logged once
    client.delete(f"/api/jobs/{job}")
    said = [(e["event"], e.get("job"), e.get("slave"), e.get("frame")) for e in events(app)]
    assert said == [
        ("job.added", job, None, None),
        ("slave.joined", None, one, None), ("slave.joined", None, two, None),
        ("job.started", job, None, None),
        ("frame.failed", job, two, 2),
        ("job.failed", job, None, None),
        ("slave.left", None, one, None),
        ("slave.lost", None, two, None),
        ("job.removed", job, None, None),
    ]
    assert all(isinstance(e["at"], float) for e in events(app))
    assert events(app)[4]["message"] == "Blender quit" and events(app)[4]["retried"] is False
    assert client.post("/api/slaves/nobody/leave").status_code == 404


def test_the_log_rotates_by_size_and_keeps_whole_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.log", max_bytes=2000, backups=2)
    for i in range(100):
        log.write(float(i), "job.added", job=i, detail="x" * 40)
    log.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["events.log", "events.log.1", "events.log.2"]
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert all(f.stat().st_size <= 2000 for f in files) and lines[0]["event"] == "job.added"
    assert max(e["job"] for e in lines) == 99
