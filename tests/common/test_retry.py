# SPDX-License-Identifier: GPL-3.0-or-later
"""Backoff with jitter: exact waits from an injected random, the cap, giving up; used by slaves and clients.

Nothing here sleeps: the waits go to a list, the clock is a :class:`FakeClock`.
"""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import FakeClock
from requests.adapters import HTTPAdapter

from netrender.client import Client, LocalFile, Progress
from netrender.common.blobs import file_sha256
from netrender.common.connection import Connection
from netrender.common.errors import ApiError, InvalidConfig, MasterUnreachable, NetrenderError, TLSFailed
from netrender.common.retry import Attempts, Backoff, call, transient
from netrender.master import MasterServer
from netrender.slave import Slave, SlaveConfig

NO_JITTER = Backoff(base=1.0, factor=2.0, max_delay=10.0, jitter=0.0)


def randoms(*values: float) -> Any:
    """An injected ``random()`` returning ``values`` in turn, then the last one for ever."""
    it = itertools.chain(values, itertools.repeat(values[-1]))
    return lambda: next(it)


def test_the_waits_double_up_to_the_cap() -> None:
    assert [NO_JITTER.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_a_slave_failing_for_days_gets_the_cap_not_an_overflow() -> None:
    assert NO_JITTER.delay(100_000) == 10.0
    assert Backoff(base=0.5, factor=10.0, max_delay=60.0).delay(5_000, rand=0.0) == 60.0


def test_jitter_only_shortens_a_wait_by_the_random_share() -> None:
    policy = Backoff(base=1.0, factor=2.0, max_delay=10.0, jitter=0.5)
    attempts = Attempts(policy, random=randoms(0.0, 0.5, 1.0, 0.2, 0.9))
    waits = [attempts.failed(now=0.0) for _ in range(6)]
    # 1, 2, 4, 8, 10 (capped), 10 times (1 - 0.5 * r) for r = 0, .5, 1, .2, .9, .9
    assert waits == pytest.approx([1.0, 1.5, 2.0, 7.2, 5.5, 5.5])
    assert all(w is not None and w <= policy.max_delay for w in waits)


def test_success_starts_the_waits_from_base_again() -> None:
    attempts = Attempts(NO_JITTER)
    assert [attempts.failed(0.0) for _ in range(3)] == [1.0, 2.0, 4.0]
    attempts.succeeded()
    assert attempts.failed(0.0) == 1.0


def test_max_attempts_counts_every_try() -> None:
    sleeps: list[float] = []
    tries = []

    def always_down() -> None:
        tries.append(1)
        raise MasterUnreachable("down")

    with pytest.raises(MasterUnreachable):
        call(always_down, Backoff(base=1.0, max_delay=10.0, jitter=0.0, max_attempts=4), sleep=sleeps.append)
    assert len(tries) == 4 and sleeps == [1.0, 2.0, 4.0]


def test_a_deadline_counts_from_the_first_failure(clock: FakeClock) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    def down() -> None:
        raise MasterUnreachable("down")

    with pytest.raises(MasterUnreachable):
        call(down, Backoff(base=1.0, max_delay=4.0, jitter=0.0, deadline=10.0), sleep=sleep, clock=clock)
    assert sleeps == [1.0, 2.0, 4.0, 4.0]  # 11 s after the first failure: past the deadline


def test_only_transient_failures_are_retried() -> None:
    assert transient(MasterUnreachable("down")) and transient(ApiError(503, "busy", "busy"))
    assert not transient(TLSFailed("untrusted")) and not transient(ApiError(404, "unknown_job", "gone"))
    for failure in (TLSFailed("untrusted"), ApiError(401, "unauthorized", "no")):
        sleeps: list[float] = []

        def fail(exc: NetrenderError = failure) -> None:
            raise exc

        with pytest.raises(type(failure)):
            call(fail, NO_JITTER, sleep=sleeps.append)
        assert sleeps == []


def test_a_bad_policy_is_refused() -> None:
    for bad in ({"base": 0.0}, {"factor": 0.5}, {"max_delay": 0.5}, {"jitter": 2.0}, {"max_attempts": 0},
                {"deadline": -1.0}):
        with pytest.raises(InvalidConfig):
            Backoff(**bad)


# -- the slave's loop ---------------------------------------------------------------


class DeadConnection(Connection):
    """A master that never answers; the slave only sees MasterUnreachable."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9")
        self.calls = 0

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.calls += 1
        raise MasterUnreachable(f"cannot reach the master for {method} {path}")


def test_the_slave_loop_backs_off_while_the_master_is_unreachable(tmp_path: Path, clock: FakeClock) -> None:
    policy = Backoff(base=1.0, factor=2.0, max_delay=8.0, jitter=0.5)
    statuses: list[str] = []
    slave = Slave(SlaveConfig(path=tmp_path / "slave", retry=policy), DeadConnection(),
                  random=randoms(0.0, 1.0, 0.5), on_status=statuses.append)
    waits = [slave.step(clock()) for _ in range(6)]
    assert waits == [1.0, 1.0, 3.0, 6.0, 6.0, 6.0]  # 1, 2·½, 4·¾, 8·¾ (the cap), …
    assert "cannot reach the master" in statuses[-1]


def test_run_waits_as_the_backoff_says_and_idles_once_the_master_answers(tmp_path: Path) -> None:
    """run() with an injected sleep: three failed rounds, then an answering master with no work."""
    answers = iter([MasterUnreachable("down")] * 3 + [{"id": "s1"}] + [{"work": None}] * 10)

    class Flaky(Connection):
        def post(self, path: str, payload: Any = None, **kwargs: Any) -> Any:
            answer = next(answers)
            if isinstance(answer, Exception):
                raise answer
            return answer

    sleeps: list[float] = []
    slave = Slave(SlaveConfig(path=tmp_path / "slave", retry=NO_JITTER), Flaky("http://127.0.0.1:9"))

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 5:
            slave.stop()

    slave.sleep = sleep
    slave.run(idle_wait=0.5)
    assert sleeps == [1.0, 2.0, 4.0, 0.5, 0.5]
    assert slave.id == "s1"


# -- the client ------------------------------------------------------------------------


class FlakyMaster(Connection):
    """Answers job polls from a script: an exception is raised, a status is answered."""

    def __init__(self, script: list[Exception | str]) -> None:
        super().__init__("http://127.0.0.1:9")
        self.script = iter(script)

    def get(self, path: str, **kwargs: Any) -> Any:
        answer = next(self.script)
        if isinstance(answer, Exception):
            raise answer
        return {"id": 1, "status": answer, "frame_count": {}}


def test_wait_keeps_polling_through_a_master_restart(clock: FakeClock) -> None:
    down = MasterUnreachable("down")
    retried: list[float] = []

    class Recorder(Progress):
        def retrying(self, what: str, error: NetrenderError, delay: float) -> None:
            retried.append(delay)

    sleeps: list[float] = []
    client = Client(FlakyMaster(["running", down, down, down, "running", down, "finished"]), Recorder(),
                    polling=Backoff(base=1.0, max_delay=3.0, jitter=0.5, deadline=60.0),
                    sleep=sleeps.append, clock=clock, random=randoms(0.0, 1.0, 0.0, 0.2))
    assert client.wait(1, poll=0.25)["status"] == "finished"
    # poll, then 1, 2·½, 3 (capped) while down, poll again, then 1·0.9 (a fresh start after the answer)
    assert sleeps == pytest.approx([0.25, 1.0, 1.0, 3.0, 0.25, 0.9])
    assert retried == pytest.approx([1.0, 1.0, 3.0, 0.9])


def test_wait_gives_up_after_the_policy_deadline(clock: FakeClock) -> None:
    def sleep(seconds: float) -> None:
        clock.advance(seconds)

    client = Client(FlakyMaster([MasterUnreachable("down")] * 100), polling=Backoff(jitter=0.0, deadline=20.0),
                    sleep=sleep, clock=clock)
    with pytest.raises(MasterUnreachable):
        client.wait(1)
    assert clock.now == 1_000_000.0 + 1 + 2 + 4 + 8 + 16  # then 31 s since the first failure: give up


class BreaksOnce(HTTPAdapter):
    """Cuts the first upload halfway: half the body really reaches the master, then the connection drops."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0
        self.first_bytes: list[bytes] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.method != "PUT":
            return super().send(request, *args, **kwargs)
        self.puts += 1
        body: Any = request.body
        if self.puts > 1:
            self.first_bytes.append(body.fh.read(8))  # where the retry starts reading
            body.fh.seek(0)
            return super().send(request, *args, **kwargs)
        half = body.read(len(body) // 2)
        url = urlsplit(str(request.url))
        with socket.create_connection((url.hostname, url.port)) as sock:
            head = f"PUT {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {len(body)}\r\n\r\n"
            sock.sendall(head.encode() + half)
        raise requests.ConnectionError("connection reset by peer")


def test_a_broken_upload_is_sent_again_from_the_start(tmp_path: Path, live_master: MasterServer) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    path = tmp_path / "texture.png"
    path.write_bytes(data)
    local = LocalFile(path, "texture.png", file_sha256(path), len(data))
    adapter = BreaksOnce()
    session = requests.Session()
    session.mount("http://", adapter)
    counted: list[int] = []

    class Bytes(Progress):
        def uploaded(self, nbytes: int) -> None:
            counted.append(nbytes)

    sleeps: list[float] = []
    client = Client(Connection(live_master.url, session=session), Bytes(),
                    uploads=Backoff(base=2.0, jitter=0.0, max_attempts=3), sleep=sleeps.append)
    client.upload(local)
    assert adapter.puts == 2 and sleeps == [2.0]
    assert adapter.first_bytes == [data[:8]]  # the second try read the file from its first byte
    assert sum(counted) == len(data) and min(counted) < 0  # the broken try's bytes were taken back
    store = live_master.farm.blobs
    assert store.path(local.sha256).read_bytes() == data
    deadline = time.monotonic() + 10
    while list(store.root.rglob(".part-*")):  # the master drops the half upload once it sees the cut
        assert time.monotonic() < deadline, "the broken upload left a partial file on the master"
        time.sleep(0.05)


def test_an_upload_gives_up_after_max_attempts(tmp_path: Path) -> None:
    path = tmp_path / "a.blend"
    path.write_bytes(b"BLEND")
    sleeps: list[float] = []
    conn = DeadConnection()
    client = Client(conn, uploads=Backoff(base=1.0, jitter=0.0, max_attempts=3), sleep=sleeps.append)
    with pytest.raises(MasterUnreachable):
        client.upload(LocalFile(path, "a.blend", file_sha256(path), 5))
    assert sleeps == [1.0, 2.0]
