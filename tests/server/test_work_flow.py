# SPDX-License-Identifier: GPL-3.0-or-later
"""No idle gaps: the next chunk rides on a result's answer, and an idle slave's request waits for work."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from api_calls import error_of, register, submit, upload
from conftest import EXR_BYTES
from flask import Flask
from flask.testing import FlaskClient

from netrender.farm.jobs import Farm

LONG = 30  # the longest wait the API allows: a woken request ends far sooner


def farm_of(app: Flask) -> Farm:
    return app.extensions["netrender.farm"]  # type: ignore[no-any-return]


def deliver_next(client: FlaskClient, job: int, frame: int, slave: str) -> Any:
    response = client.put(f"/api/jobs/{job}/frames/{frame}/result?slave={slave}&render_time=1&next=1", data=EXR_BYTES)
    assert response.status_code == 200, response.json
    return response.json


def test_a_result_with_next_brings_the_following_chunk(client: FlaskClient) -> None:
    job = submit(client, [1, 2, 3])["id"]
    slave = register(client)
    first = client.post(f"/api/slaves/{slave}/work").json["work"]
    assert first["frames"] == [1]
    answer = deliver_next(client, job, 1, slave)
    assert answer["status"] == "done" and answer["number"] == 1
    assert answer["work"]["job_id"] == job and answer["work"]["frames"] == [2]
    assert deliver_next(client, job, 2, slave)["work"]["frames"] == [3]
    last = deliver_next(client, job, 3, slave)
    assert last["work"] is None
    assert client.get(f"/api/jobs/{job}").json["status"] == "finished"


def test_a_result_without_next_answers_the_frame_alone(client: FlaskClient) -> None:
    job = submit(client, [1, 2])["id"]
    slave = register(client)
    client.post(f"/api/slaves/{slave}/work")
    answer = client.put(f"/api/jobs/{job}/frames/1/result?slave={slave}", data=EXR_BYTES).json
    assert "work" not in answer
    assert client.get(f"/api/jobs/{job}").json["frame_count"]["queued"] == 1  # frame 2 was not handed out


@pytest.mark.parametrize("value", ["2", "yes", ""])
def test_next_must_be_0_or_1(client: FlaskClient, value: str) -> None:
    job = submit(client, [1])["id"]
    slave = register(client)
    client.post(f"/api/slaves/{slave}/work")
    response = client.put(f"/api/jobs/{job}/frames/1/result?slave={slave}&next={value}", data=EXR_BYTES)
    assert error_of(response, 400)["code"] == "invalid_request"
    assert client.get(f"/api/jobs/{job}/frames/1").json["status"] == "dispatched"  # refused before storing


@pytest.mark.parametrize("value", ["-1", "31", "nan", "inf", "soon"])
def test_a_bad_wait_is_refused(client: FlaskClient, value: str) -> None:
    slave = register(client)
    assert error_of(client.post(f"/api/slaves/{slave}/work?wait={value}"), 400)["code"] == "invalid_request"


class Waiter:
    """A work request with ``wait`` in a thread; ``answer`` once it returns."""

    def __init__(self, client: FlaskClient, slave: str, wait: float = LONG) -> None:
        self.answer: Any = None
        self.thread = threading.Thread(target=self._ask, args=(client, slave, wait), daemon=True)
        self.thread.start()

    def _ask(self, client: FlaskClient, slave: str, wait: float) -> None:
        response = client.post(f"/api/slaves/{slave}/work?wait={wait}")
        self.answer = (response.status_code, response.json)

    def result(self) -> Any:
        self.thread.join(timeout=LONG / 3)
        assert not self.thread.is_alive(), "the waiting request was not woken"
        return self.answer


def until_waiting(farm: Farm, count: int) -> None:
    """Until ``count`` requests wait in the farm: the waiter really sleeps before the test goes on."""
    deadline = time.monotonic() + 10
    while farm.waiting != count:
        assert time.monotonic() < deadline, "the request never started waiting"
        time.sleep(0.005)


def test_an_idle_slave_gets_a_job_submitted_while_it_waits(app: Flask, client: FlaskClient) -> None:
    slave = register(client)
    waiter = Waiter(client, slave)
    until_waiting(farm_of(app), 1)
    job = submit(client, [1, 2])["id"]
    status, answer = waiter.result()
    assert status == 200 and answer["work"]["job_id"] == job and answer["work"]["frames"] == [1]
    assert "retry_after" not in answer


def test_a_waiting_slave_gets_the_frames_another_slave_gives_back(app: Flask, client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    busy, idle = register(client, "busy"), register(client, "idle")
    assert client.post(f"/api/slaves/{busy}/work").json["work"]["frames"] == [1]
    waiter = Waiter(client, idle)
    until_waiting(farm_of(app), 1)
    assert client.post(f"/api/slaves/{busy}/release", json={"job_id": job, "frames": [1]}).json["released"] == [1]
    status, answer = waiter.result()
    assert status == 200 and answer["work"]["frames"] == [1]
    assert client.get(f"/api/jobs/{job}/frames/1").json["slave_id"] == idle


def test_a_resumed_job_wakes_a_waiting_slave(app: Flask, client: FlaskClient) -> None:
    job = submit(client, [1])["id"]
    slave = register(client)
    assert client.post(f"/api/jobs/{job}/pause").status_code == 200
    waiter = Waiter(client, slave)
    until_waiting(farm_of(app), 1)
    assert client.post(f"/api/jobs/{job}/resume").status_code == 200
    assert waiter.result()[1]["work"]["job_id"] == job


def test_a_wait_with_no_work_ends_with_none(client: FlaskClient) -> None:
    slave = register(client)
    status, answer = Waiter(client, slave, wait=0.05).result()
    assert status == 200 and answer == {"work": None}


def test_too_many_waiting_slaves_are_told_to_come_back(app: Flask, client: FlaskClient) -> None:
    farm_of(app).max_waiting = 0
    slave = register(client)
    answer = client.post(f"/api/slaves/{slave}/work?wait={LONG}").json
    assert answer["work"] is None and answer["retry_after"] > 0
    upload(client, b"x")
    job = submit(client, [1])["id"]
    assert client.post(f"/api/slaves/{slave}/work?wait={LONG}").json["work"]["job_id"] == job  # no wait needed


def test_closing_the_master_ends_the_waits(app: Flask, client: FlaskClient) -> None:
    slave = register(client)
    waiter = Waiter(client, slave)
    until_waiting(farm_of(app), 1)
    with farm_of(app).lock:
        farm_of(app).closing = True
        farm_of(app).work_ready.notify_all()
    assert waiter.result()[1]["work"] is None


def test_at_a_jobs_end_a_busy_slave_gets_no_chunk_ahead(client: FlaskClient) -> None:
    """Fewer frames queued than live slaves: a slave still holding frames is not handed one more to wait."""
    job = submit(client, [1, 2, 3, 4])["id"]
    a, _, _ = register(client, "a"), register(client, "b"), register(client, "c")
    assert client.post(f"/api/slaves/{a}/work").json["work"]["frames"] == [1]
    assert client.post(f"/api/slaves/{a}/work").json["work"]["frames"] == [2]
    assert deliver_next(client, job, 1, a)["work"] is None  # 2 queued, 3 live slaves, and it renders frame 2
    assert deliver_next(client, job, 2, a)["work"]["frames"] == [3]  # it holds nothing now: no one waits on it


def test_with_frames_to_spare_a_busy_slave_gets_its_next_chunk_ahead(client: FlaskClient) -> None:
    job = submit(client, [1, 2, 3, 4])["id"]
    a = register(client, "a")
    client.post(f"/api/slaves/{a}/work")
    client.post(f"/api/slaves/{a}/work")
    assert deliver_next(client, job, 1, a)["work"]["frames"] == [3]  # 2 queued, 1 live slave
