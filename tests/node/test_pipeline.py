# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave with one open Blender per job: frames flow without waits, and a Blender that dies is replaced.

The Blender here is the session tests' stand-in (a script speaking the real
driver protocol over a real socket), writing EXR-headed bytes the master accepts.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conftest import EXR_BYTES
from test_session import FAKE_DRIVER
from test_slave import FakeBlender, make_job

from netrender.client import Client, JobOptions, LocalFile
from netrender.common.blobs import file_sha256
from netrender.common.errors import MasterUnreachable
from netrender.common.retry import Backoff
from netrender.master import MasterServer
from netrender.node import blender
from netrender.node.courier import Courier
from netrender.node.session import BlenderSession, SessionSpec
from netrender.node.sessions import Sessions
from netrender.slave import Slave, SlaveConfig

# Frames the master accepts (EXR-headed), and a crash that happens once in all (FAKE_MARK), not every time.
DRIVER = FAKE_DRIVER.replace('fh.write(b"exr %d" % frame)',
                             'fh.write(bytes.fromhex(os.environ["FAKE_EXR"]) + b"%d" % frame)')
DRIVER = DRIVER.replace('if mode == f"crash-{frame}":',
                        'if mode == f"crash-{frame}" and not os.path.exists(os.environ["FAKE_MARK"]):\n'
                        '        open(os.environ["FAKE_MARK"], "w").close()')
assert DRIVER != FAKE_DRIVER


class Blenders:
    """Starts stand-in Blenders for slaves' sessions and counts them."""

    def __init__(self, tmp_path: Path, mode: str = "") -> None:
        self.env = {"FAKE_MODE": mode, "FAKE_EXR": EXR_BYTES.hex(), "FAKE_MARK": str(tmp_path / "crashed-once")}
        self.started: list[int] = []  # the job of each Blender started
        self.reasons: list[str] = []  # and why it started, as the slave's Sessions decided
        self.lock = threading.Lock()

    def launch(self, argv: Sequence[str], env: Mapping[str, str]) -> Any:
        return blender.popen([sys.executable, "-c", DRIVER, *argv], {**env, **self.env})

    def sessions(self) -> Sessions:
        def factory(spec: SessionSpec, log_path: Path) -> BlenderSession:
            assert sessions.last_decision is not None
            with self.lock:
                self.started.append(spec.job_id)
                self.reasons.append(sessions.last_decision.reason)
            return BlenderSession(spec, log_path, launch=self.launch, poll=0.05)

        sessions = Sessions(factory=factory)
        return sessions


def run_until_finished(slaves: list[Slave], master: MasterServer, job: int) -> dict[str, Any]:
    threads = [threading.Thread(target=s.run, kwargs={"idle_wait": 0.05}, daemon=True) for s in slaves]
    for thread in threads:
        thread.start()
    client = Client(master.url)
    deadline = time.monotonic() + 60
    while (state := client.job(job))["status"] not in ("finished", "failed"):
        assert time.monotonic() < deadline, f"the job did not end: {state['frame_count']}"
        time.sleep(0.05)
    for slave in slaves:
        slave.stop()
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive()
    return state


def test_a_job_renders_in_one_blender_without_waits_and_results_bring_the_next_chunk(
    tmp_path: Path, live_master: MasterServer
) -> None:
    job = make_job(tmp_path, live_master, list(range(1, 9)))  # chunks of 2: 4 chunks
    blenders = Blenders(tmp_path)
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05),
                  sessions=blenders.sessions())
    work_requests: list[str] = []
    post = slave.conn.post

    def counting_post(path: str, *args: Any, **kwargs: Any) -> Any:
        if path.endswith("/work"):
            work_requests.append(path)
        return post(path, *args, **kwargs)

    slave.conn.post = counting_post  # type: ignore[method-assign]
    sleeps: list[float] = []
    slave.sleep = sleeps.append  # type: ignore[method-assign]
    state = run_until_finished([slave], live_master, job)
    assert state["status"] == "finished" and state["frame_count"]["done"] == 8
    assert blenders.started == [job], "one Blender for the whole job"
    assert sleeps == [], "the slave never slept while work waited"
    # The first chunk is asked for; later ones mostly come in the answer to a result sent in the background.
    assert len(work_requests) < 4, work_requests
    assert len(slave.outbox) == 0


def test_a_blender_that_dies_is_replaced_and_no_frame_is_lost(tmp_path: Path, live_master: MasterServer) -> None:
    job = make_job(tmp_path, live_master, list(range(1, 9)))
    blenders = Blenders(tmp_path, mode="crash-3")  # the first Blender asked for frame 3 is SIGKILLed
    slaves = [Slave(SlaveConfig(master=live_master.url, path=tmp_path / f"slave{i}", heartbeat=0.05, name=f"s{i}"),
                    sessions=blenders.sessions()) for i in range(2)]
    state = run_until_finished(slaves, live_master, job)
    assert (tmp_path / "crashed-once").exists(), "a Blender was killed"
    assert state["status"] == "finished" and state["frame_count"]["done"] == 8
    frame3 = Client(live_master.url).job(job)["frames"][2]
    assert frame3["number"] == 3 and frame3["status"] == "done"
    # Each slave starts a Blender, and one more replaces the killed one; a slave that finds no work for a
    # moment keeps its Blender (idle_close), so no other reason appears.
    replaced = [r for r in blenders.reasons if r != "no Blender is running"]
    assert replaced == ["the running Blender has ended"], blenders.reasons
    assert len(blenders.reasons) >= 3


def test_the_courier_retries_with_backoff_and_goes_on_once_the_master_answers() -> None:
    answers: list[Exception | int] = [MasterUnreachable("down"), MasterUnreachable("down"), 2]
    delivered: list[int] = []

    def deliver() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        delivered.append(answer)
        return answer

    courier = Courier(deliver, Backoff(base=1.0, factor=2.0, max_delay=30.0, jitter=0.0), clock=lambda: 0.0)
    assert [courier.run_once(), courier.run_once(), courier.run_once()] == [1.0, 2.0, 0.0]
    assert delivered == [2] and courier.last_error is None


def test_a_job_that_turns_persistence_off_gets_a_blender_per_chunk(tmp_path: Path, live_master: MasterServer) -> None:
    blend = tmp_path / "shot.blend"
    blend.write_bytes(b"BLEND")
    files = [LocalFile(blend, "shot.blend", file_sha256(blend), 5)]
    job = Client(live_master.url).submit(blend, JobOptions(frames=[1, 2], persistent=False), files=files).job["id"]
    blenders, per_chunk = Blenders(tmp_path), FakeBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=per_chunk,
                  sessions=blenders.sessions())
    while slave.run_once():
        pass
    assert Client(live_master.url).job(job)["status"] == "finished"
    assert blenders.started == [] and len(per_chunk.calls) == 2
