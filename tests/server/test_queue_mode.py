# SPDX-License-Identifier: GPL-3.0-or-later
"""The master as RenderController's queue: one job at a time in order, start by hand, stop, enqueue."""

from __future__ import annotations

import hashlib

import pytest
from api_calls import deliver, error_of, register, submit, work
from conftest import FakeClock
from flask.testing import FlaskClient

from netrender.cli.commands import main
from netrender.client import Client
from netrender.master import MasterServer


def state(client: FlaskClient, *jobs: int) -> list[str]:
    return [client.get(f"/api/jobs/{job}").json["queue_state"] for job in jobs]


def render_all(client: FlaskClient, slave: str, job: int) -> None:
    """Take and deliver every frame of ``job`` this slave is given, in turn."""
    while (given := work(client, slave)) is not None:
        assert given["job_id"] == job, given
        for frame in given["frames"]:
            deliver(client, job, frame, slave)


def test_fifo_with_autostart_renders_one_job_after_another_in_order(client: FlaskClient, clock: FakeClock) -> None:
    assert client.put("/api/queue", json={"mode": "fifo", "autostart": True}).json == {"mode": "fifo",
                                                                                        "autostart": True}
    a, b, c, d = (submit(client, [1, 2])["id"] for _ in range(4))
    one, two = register(client, "one"), register(client, "two")
    assert state(client, a, b, c, d) == ["waiting"] * 4
    assert work(client, one)["job_id"] == a  # type: ignore[index]
    assert work(client, two)["job_id"] == a  # type: ignore[index]
    assert work(client, one) is None  # A's frames are out: B waits for its turn
    deliver(client, a, 1, one)
    deliver(client, a, 2, two)
    assert state(client, a, b) == ["finished", "waiting"]

    given = work(client, one)
    assert given is not None and given["job_id"] == b and state(client, b) == ["rendering"]
    assert client.post(f"/api/jobs/{d}/start").json["started_by"] == "hand"  # D by hand: alongside B
    taken = [work(client, two) for _ in range(2)]  # the balancer shares the two started jobs
    assert sorted(t["job_id"] for t in taken if t) == [b, d]
    deliver(client, b, 1, one)
    for t in taken:
        deliver(client, t["job_id"], t["frames"][0], two)  # type: ignore[index]
    assert work(client, one)["job_id"] == d  # type: ignore[index]  # D by hand still renders: C is held back
    assert state(client, c) == ["waiting"]
    deliver(client, d, 2, one)
    assert work(client, one)["job_id"] == c  # type: ignore[index]  # D done: autostart goes on with C
    assert [e["event"] for e in client.get(f"/api/jobs/{c}").json["history"]][1] == "started by the queue " \
                                                                                      "(autostart)"


def test_stop_and_enqueue_move_a_job_as_renderController_does(client: FlaskClient, clock: FakeClock) -> None:
    client.put("/api/queue", json={"mode": "fifo"})
    first, second = submit(client, [1])["id"], submit(client, [1])["id"]
    slave = register(client)
    assert client.post(f"/api/jobs/{first}/stop").json["queue_state"] == "stopped"
    assert work(client, slave)["job_id"] == second  # type: ignore[index]  # the stopped job is passed over
    clock.advance(5)
    assert client.post(f"/api/jobs/{first}/enqueue").json["queue_state"] == "waiting"  # at the queue's end
    assert work(client, slave) is None  # second is rendering: first waits its turn
    deliver(client, second, 1, slave)
    assert work(client, slave)["job_id"] == first  # type: ignore[index]
    assert "stop, enqueue" in error_of(client.post(f"/api/jobs/{first}/jump"), 400)["message"]


def test_autostart_off_renders_only_what_is_started_by_hand(client: FlaskClient) -> None:
    assert client.put("/api/queue", json={"mode": "fifo", "autostart": False}).json["autostart"] is False
    first, second = submit(client, [1])["id"], submit(client, [1])["id"]
    slave = register(client)
    assert work(client, slave) is None
    client.post(f"/api/jobs/{second}/start")
    assert work(client, slave)["job_id"] == second  # type: ignore[index]
    assert client.get("/api/queue").json == {"mode": "fifo", "autostart": False}
    assert client.get("/api/balancing").json["fifo"] is True  # the queue's settings are balancing rules
    for bad in ({"mode": "lifo"}, {"autostart": "yes"}, {"speed": 1}):
        assert error_of(client.put("/api/queue", json=bad), 400)
    assert state(client, first) == ["waiting"]




def test_the_cli_sets_the_queue_and_moves_jobs(live_master: MasterServer, capsys: pytest.CaptureFixture[str]) -> None:
    client = Client(live_master.url)
    blend = b"blend"
    sha = hashlib.sha256(blend).hexdigest()
    client.conn.request("PUT", f"/api/files/{sha}", data=blend)
    job = client.conn.post("/api/jobs", {"name": "shot", "blend": "x.blend", "frames": [1], "files": [
        {"path": "x.blend", "sha256": sha, "size": len(blend)}]})["id"]
    assert main(["queue", "--mode", "fifo", "--autostart", "off", "--master", live_master.url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "mode fifo, autostart off" and f"{job:>5}  waiting    -     shot" in out
    assert main(["start", str(job), "--master", live_master.url]) == 0
    assert client.job(job)["queue_state"] == "rendering"
    assert main(["stop", str(job), "--master", live_master.url]) == 0
    assert f"job {job}: stopped" in capsys.readouterr().err
    assert main(["enqueue", str(job), "--master", live_master.url]) == 0
    assert client.job(job)["queue_state"] == "waiting"
