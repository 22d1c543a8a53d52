# SPDX-License-Identifier: GPL-3.0-or-later
"""Balancing inside the real farm (SQLite, the API): retries, blacklists, lost slaves, rules.

Time is a fake clock, so a minute of silence takes no time at all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from api_calls import deliver, register, submit, work
from conftest import FakeClock
from flask import Flask
from flask.testing import FlaskClient

from netrender.farm.jobs import Farm, open_root
from netrender.farm.store import Store
from netrender.farm.store.schema import MIGRATIONS


def fail(client: FlaskClient, job: int, frame: int, slave: str) -> dict:
    answer = client.post(f"/api/jobs/{job}/frames/{frame}/error", json={"slave": slave, "message": f"{slave} broke"})
    assert answer.status_code == 200
    return answer.json  # type: ignore[no-any-return]


def test_a_failing_frame_is_retried_on_other_slaves_then_failed(client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    slaves = [register(client, f"s{i}") for i in range(5)]
    tried = []
    for attempt in range(4):  # max_retries = 3: the first try and 3 retries
        taker = next(s for s in slaves if s not in tried and work(client, s))
        tried.append(taker)
        frame = fail(client, job, 1, taker)
        assert frame["failures"] == attempt + 1
        assert frame["status"] == ("queued" if attempt < 3 else "error")
        for earlier in tried:  # a slave that failed the frame never gets it again
            assert work(client, earlier) is None
    assert len(set(tried)) == 4
    assert client.get(f"/api/jobs/{job}").json["status"] == "failed"


def test_a_frame_fails_at_once_when_no_other_slave_could_retry_it(client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    only = register(client)
    work(client, only)
    assert fail(client, job, 1, only)["status"] == "error"


def test_a_slave_failing_three_frames_of_a_job_is_blacklisted_for_it(client: FlaskClient) -> None:
    job = submit(client, list(range(1, 6)))["id"]
    other = submit(client, [1])["id"]
    bad, good = register(client, "bad"), register(client, "good")
    client.post(f"/api/jobs/{other}/pause")
    for n in range(3):
        chunk = work(client, bad)
        assert chunk is not None and chunk["job_id"] == job
        fail(client, job, chunk["frames"][0], bad)
        listed = client.get(f"/api/jobs/{job}/blacklist").json["blacklist"]
        assert [e["slave_id"] for e in listed] == ([bad] if n == 2 else [])
    assert work(client, bad) is None
    client.post(f"/api/jobs/{other}/resume")
    assert work(client, bad)["job_id"] == other  # type: ignore[index]
    assert work(client, good)["job_id"] == job  # type: ignore[index]
    assert client.get(f"/api/jobs/{job}").json["blacklist"][0]["reason"] == "auto"


def test_blacklists_by_hand_per_job_and_farm_wide(client: FlaskClient) -> None:
    job = submit(client, [1, 2])["id"]
    slave = register(client)
    assert client.put(f"/api/jobs/{job}/blacklist/{slave}").json["blacklist"][0]["reason"] == "manual"
    assert work(client, slave) is None
    assert client.delete(f"/api/jobs/{job}/blacklist/{slave}").json == {"blacklist": []}
    assert client.delete(f"/api/jobs/{job}/blacklist/{slave}").status_code == 404
    assert client.put(f"/api/jobs/{job}/blacklist/nobody").json["error"]["code"] == "unknown_slave"
    assert client.put(f"/api/slaves/{slave}/blacklist").json["blacklisted"] is True
    assert work(client, slave) is None
    assert client.delete(f"/api/slaves/{slave}/blacklist").json["blacklisted"] is False
    assert work(client, slave)["frames"] == [1]  # type: ignore[index]


def test_a_silent_slave_is_lost_and_its_frames_requeued(client: FlaskClient, app: Flask, clock: FakeClock) -> None:
    job = submit(client, [1, 2], chunks=2)["id"]
    silent, other = register(client, "silent"), register(client, "other")
    assert work(client, silent)["frames"] == [1, 2]  # type: ignore[index]
    farm: Farm = app.extensions["netrender.farm"]
    clock.advance(59)
    client.post(f"/api/slaves/{other}/heartbeat", json={})
    assert farm.run_once(clock()) == []  # not silent for long enough yet
    clock.advance(2)
    assert [f.number for f in farm.run_once(clock())] == [1, 2]
    states = {s["name"]: s["state"] for s in client.get("/api/slaves").json["slaves"]}
    assert states == {"silent": "lost", "other": "idle"}
    assert work(client, other)["frames"] == [1, 2]  # type: ignore[index]
    beat = client.post(f"/api/slaves/{silent}/heartbeat", json={"job_id": job, "frames": [1, 2]})
    assert beat.json["stop"] is True  # its frames went to another slave
    states = {s["name"]: s["state"] for s in client.get("/api/slaves").json["slaves"]}
    assert states == {"silent": "idle", "other": "rendering"}


def test_rules_are_shown_edited_checked_and_kept(tmp_path: Path, clock: FakeClock) -> None:
    from netrender.master import MasterConfig, create_app

    config = MasterConfig(path=tmp_path / "farm", clock=clock)
    app = create_app(config)
    client = app.test_client()
    rules = client.get("/api/balancing").json
    assert rules["cap_percent"] == 75.0 and rules["max_retries"] == 3 and rules["lost_timeout"] == 60.0
    changed = client.patch("/api/balancing", json={"cap_percent": 50, "retry": False}).json
    assert changed == {**rules, "cap_percent": 50.0, "retry": False}
    for bad in ({"cap_percent": 0}, {"max_retries": "3"}, {"no_such_rule": 1}, {"retry": 1}):
        answer = client.patch("/api/balancing", json=bad)
        assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_request", bad
    app.extensions["netrender.farm"].close()
    again = create_app(config)
    assert again.test_client().get("/api/balancing").json == changed
    again.extensions["netrender.farm"].close()


def test_priority_chunks_reset_and_requeue(client: FlaskClient) -> None:
    job = submit(client, [1, 2, 3])["id"]
    assert client.patch(f"/api/jobs/{job}", json={"priority": 4, "chunks": 2}).json["priority"] == 4
    assert client.patch(f"/api/jobs/{job}", json={"chunks": 0}).status_code == 400
    a, b = register(client, "a"), register(client, "b")
    assert work(client, a)["frames"] == [1, 2]  # type: ignore[index]
    deliver(client, job, 1, a)
    fail(client, job, 2, a)  # b could retry it: back to the queue
    work(client, b)
    fail(client, job, 2, b)
    work(client, b)
    deliver(client, job, 3, b)
    before = client.get(f"/api/jobs/{job}/frames/2").json
    assert (before["status"], before["failures"]) == ("error", 2)  # no untried slave left
    after = client.post(f"/api/jobs/{job}/frames/2/reset").json
    assert (after["status"], after["failures"], after["message"], after["slave_id"]) == ("queued", 0, "", None)
    assert work(client, a)["frames"] == [2]  # type: ignore[index]  # its failure was forgotten
    deliver(client, job, 2, a)
    assert client.get(f"/api/jobs/{job}").json["status"] == "finished"
    requeued = client.post(f"/api/jobs/{job}/requeue").json
    assert requeued["status"] == "queued" and requeued["frame_count"]["queued"] == 3


def test_a_database_from_before_balancing_is_upgraded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.executescript(MIGRATIONS[0])  # as the first release wrote it: no user_version
    db.execute("INSERT INTO slaves (id, name, address, facts, tags, registered_at, last_seen)"
               " VALUES ('s1', 'old', '', '{}', '[]', 1, 1)")
    db.commit()
    db.close()
    store = Store(tmp_path / "old.sqlite")
    assert [s.name for s in store.slaves()] == ["old"]
    assert store.farm_blacklist() == set()
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    store.close()


def test_thirty_slaves_share_the_real_farm_by_priority(tmp_path: Path) -> None:
    """Priority 1 vs 2 through the whole farm (SQLite, usage decay, dispatch): 33/66 within 3 points."""
    import hashlib

    from conftest import EXR_BYTES

    from netrender.common.model import JobSpec

    farm = Farm(open_root(tmp_path / "farm"))
    blob = b"blend"
    sha = hashlib.sha256(blob).hexdigest()
    farm.blobs.put(sha, [blob])
    now = 0.0

    def spec(priority: int) -> JobSpec:
        return JobSpec.from_json({"blend": "a.blend", "frames": list(range(1, 2001)), "priority": priority,
                                  "files": [{"path": "a.blend", "sha256": sha, "size": len(blob)}]})

    low, high = farm.submit(spec(1), now).id, farm.submit(spec(2), now).id
    slaves = [farm.register_slave(f"s{i}", "", {}, [], now).id for i in range(30)]
    busy_until: dict[str, float] = {}
    holding: dict[str, tuple[int, int]] = {}
    seconds = {low: 0.0, high: 0.0}
    frame_time, step = 10.0, 1.0
    while now < 900.0:
        for slave in slaves:
            if slave in holding and busy_until[slave] <= now:
                job_id, number = holding.pop(slave)
                farm.complete_frame(job_id, number, slave, frame_time, [EXR_BYTES], now)
            if slave not in holding:
                work = farm.request_work(slave, now)
                assert work is not None
                holding[slave] = (work.job_id, work.frames[0])
                busy_until[slave] = now + frame_time
        if now >= 300.0:  # after the usage average has settled
            for job_id, _ in holding.values():
                seconds[job_id] += step
        farm.run_once(now)
        now += step
    share = seconds[high] / (seconds[low] + seconds[high])
    print(f"priority 2 got {share:.1%} of the slave time")
    assert abs(share - 2 / 3) <= 0.03, f"priority 2 got {share:.1%} of the slave time"
    farm.close()


def test_editing_a_job_refuses_nulls_typos_and_nonsense(client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    for body in ({"priority": None}, {"priorty": 7}, {"chunks": "2"}, [1]):
        answer = client.patch(f"/api/jobs/{job}", json=body)
        assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_request", body
    assert client.get(f"/api/jobs/{job}").json["priority"] == 1


def test_blacklisting_a_rendering_slave_shows_its_real_state(client: FlaskClient) -> None:
    submit(client, [1])
    slave = register(client)
    work(client, slave)
    assert client.put(f"/api/slaves/{slave}/blacklist").json["state"] == "rendering"


def test_a_cancelled_job_cannot_be_reset(client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    client.post(f"/api/jobs/{job}/cancel")
    for url in (f"/api/jobs/{job}/reset", f"/api/jobs/{job}/requeue", f"/api/jobs/{job}/frames/1/reset"):
        assert client.post(url).status_code == 409, url


def test_taking_a_slave_off_a_blacklist_gives_it_a_fresh_start(client: FlaskClient) -> None:
    job = submit(client, list(range(1, 8)))["id"]
    bad, _spare = register(client, "bad"), register(client, "spare")
    for _ in range(3):
        fail(client, job, work(client, bad)["frames"][0], bad)  # type: ignore[index]
    assert client.delete(f"/api/jobs/{job}/blacklist/{bad}").json == {"blacklist": []}
    fail(client, job, work(client, bad)["frames"][0], bad)  # type: ignore[index]
    assert client.get(f"/api/jobs/{job}/blacklist").json == {"blacklist": []}  # one failure, not four


def test_tags_chunks_and_lost_slaves_can_each_be_switched_off(
    client: FlaskClient, app: Flask, clock: FakeClock
) -> None:
    job = submit(client, [1, 2, 3, 4], chunks=2, tags=["gpu"])["id"]
    plain = register(client, "plain")
    assert work(client, plain) is None  # no gpu tag
    client.patch("/api/balancing", json={"tags": False, "chunks": False, "lost": False})
    assert work(client, plain)["frames"] == [1]  # type: ignore[index]  # untagged, one frame
    clock.advance(3600)
    assert app.extensions["netrender.farm"].run_once(clock()) == []  # silent for an hour, still its frame
    assert client.get(f"/api/jobs/{job}/frames/1").json["slave_id"] == plain
    client.patch("/api/balancing", json={"lost": True})
    assert [f.number for f in app.extensions["netrender.farm"].run_once(clock())] == [1]
