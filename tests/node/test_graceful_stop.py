# SPDX-License-Identifier: GPL-3.0-or-later
"""Stopping a slave: requeue its chunk at once, or let it finish and deliver first; never leave frames dispatched.

A stand-in for Blender blocks until the test releases it, so each test decides
whether the stop lands during the render. The last tests run ``netrender
slave`` as a process and press Ctrl-C (SIGINT) on it, with a script as the
Blender executable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import EXR_BYTES
from test_slave import make_job

from netrender.cli.parser import build_parser
from netrender.client import Client
from netrender.common.errors import InvalidConfig
from netrender.common.retry import Backoff
from netrender.master import MasterServer
from netrender.node import blender
from netrender.slave import Slave, SlaveConfig

NOWHERE = "http://127.0.0.1:9"


class BlockingBlender:
    """Renders until released (then writes its frames) or until the slave says stop (then is 'killed')."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.cancelled = False
        self.polls = 0

    def __call__(self, argv: Sequence[str], log_path: Path, *, should_stop: Callable[[], bool],
                 **_: Any) -> blender.RunResult:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("Fra:1 Sample 1/100\n")
        self.started.set()
        while not self.release.wait(0.01):  # blender.run asks should_stop once per poll, like this
            self.polls += 1
            if should_stop():
                self.cancelled = True
                return blender.RunResult(-9, True, [], None, 0.1)
        output = Path(argv[argv.index("-o") + 1]).parent
        frames = [int(f) for f in argv[argv.index("-f") + 1].split(",")]
        for frame in frames:
            blender.frame_file(output, frame).write_bytes(EXR_BYTES + str(frame).encode())
        return blender.RunResult(0, False, [], None, 1.0)


def running(slave: Slave, idle_wait: float = 0.05) -> threading.Thread:
    thread = threading.Thread(target=slave.run, kwargs={"idle_wait": idle_wait}, daemon=True)
    thread.start()
    return thread


def frames_of(master: MasterServer, job: int) -> list[tuple[str, str | None]]:
    return [(f["status"], f["slave_id"]) for f in Client(master.url).job(job)["frames"]]


def polls_go_on(fake: BlockingBlender, more: int = 10) -> None:
    """Wait until the stand-in asked whether to stop ``more`` further times."""
    target, deadline = fake.polls + more, time.monotonic() + 10
    while fake.polls < target:
        assert time.monotonic() < deadline and not fake.cancelled
        time.sleep(0.01)


def test_requeue_kills_the_render_and_gives_the_frames_back(tmp_path: Path, live_master: MasterServer) -> None:
    job = make_job(tmp_path, live_master, [1, 2])
    fake = BlockingBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05), run_blender=fake)
    thread = running(slave)
    assert fake.started.wait(10)
    assert frames_of(live_master, job) == [("dispatched", slave.id)] * 2
    slave.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and fake.cancelled
    assert frames_of(live_master, job) == [("queued", None)] * 2
    assert len(slave.outbox) == 0


def test_finish_lets_the_chunk_end_and_delivers_it_then_stops(tmp_path: Path, live_master: MasterServer) -> None:
    job = make_job(tmp_path, live_master, [1, 2])
    fake = BlockingBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05, on_stop="finish"),
                  run_blender=fake)
    thread = running(slave)
    assert fake.started.wait(10)
    later = make_job(tmp_path, live_master, [10])
    slave.stop()
    polls_go_on(fake)  # Blender is still rendering after the stop
    assert thread.is_alive() and frames_of(live_master, job) == [("dispatched", slave.id)] * 2
    fake.release.set()
    thread.join(timeout=10)
    assert not thread.is_alive() and not fake.cancelled
    assert Client(live_master.url).job(job)["status"] == "finished"
    assert frames_of(live_master, later) == [("queued", None)]  # no new work once stopping
    assert len(slave.outbox) == 0


def test_a_second_stop_while_finishing_requeues(tmp_path: Path, live_master: MasterServer) -> None:
    job = make_job(tmp_path, live_master, [1, 2])
    fake = BlockingBlender()
    statuses: list[str] = []
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05, on_stop="finish"),
                  run_blender=fake, on_status=statuses.append)
    thread = running(slave)
    assert fake.started.wait(10)
    slave.stop()
    polls_go_on(fake)
    slave.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and fake.cancelled
    assert frames_of(live_master, job) == [("queued", None)] * 2
    assert any("stop again to requeue" in s for s in statuses)


def test_a_release_the_master_cannot_take_waits_in_the_outbox(tmp_path: Path, live_master: MasterServer) -> None:
    job = make_job(tmp_path, live_master, [1])
    fake = BlockingBlender()
    statuses: list[str] = []
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05), run_blender=fake,
                  on_status=statuses.append)
    thread = running(slave)
    assert fake.started.wait(10)
    slave.conn.url = NOWHERE  # the network goes; the render goes on
    polls_go_on(fake)
    slave.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()  # the slave does not hang on the unreachable master
    assert [(i.kind, i.frames) for i in slave.outbox.pending()] == [("release", (1,))]
    assert "wait in" in statuses[-1]
    assert frames_of(live_master, job) == [("dispatched", slave.id)]
    slave.conn.url = live_master.url  # the network is back, e.g. the slave is started again
    assert slave.deliver() == 1
    assert frames_of(live_master, job) == [("queued", None)]


def test_frames_of_a_slave_that_never_comes_back_are_requeued_by_the_master(
    tmp_path: Path, live_master: MasterServer
) -> None:
    job = make_job(tmp_path, live_master, [1])
    fake = BlockingBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05), run_blender=fake)
    thread = running(slave)
    assert fake.started.wait(10)
    slave.conn.url = NOWHERE
    slave.stop()
    thread.join(timeout=10)
    assert frames_of(live_master, job) == [("dispatched", slave.id)]
    farm = live_master.farm
    assert farm.run_once(time.time() + farm.rules.lost_timeout + 1)  # the master's housekeeping, a minute on
    assert frames_of(live_master, job) == [("queued", None)]


def test_finishing_keeps_delivering_with_backoff_until_the_master_takes_the_chunk(
    tmp_path: Path, live_master: MasterServer
) -> None:
    job = make_job(tmp_path, live_master, [1])
    fake = BlockingBlender()
    sleeps: list[float] = []
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05, on_stop="finish",
                              retry=Backoff(base=1.0, factor=2.0, max_delay=30.0, jitter=0.5)),
                  run_blender=fake, random=lambda: 0.5)

    def sleep(seconds: float) -> None:  # no real wait: the backoff's waits are recorded
        sleeps.append(seconds)
        if len(sleeps) == 3:
            slave.conn.url = live_master.url  # the master answers again

    slave.sleep = sleep
    thread = running(slave)
    assert fake.started.wait(10)
    slave.conn.url = NOWHERE
    slave.stop()
    fake.release.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert sleeps == [0.75, 1.5, 3.0]  # 1, 2, 4 shortened by the jitter's half of 0.5
    assert Client(live_master.url).job(job)["status"] == "finished" and len(slave.outbox) == 0


def test_on_stop_is_a_checked_option() -> None:
    parser = build_parser()
    assert parser.parse_args(["slave"]).on_stop == "requeue"
    assert parser.parse_args(["slave", "--on-stop", "finish"]).on_stop == "finish"
    with pytest.raises(SystemExit):
        parser.parse_args(["slave", "--on-stop", "later"])
    with pytest.raises(InvalidConfig):
        Slave(SlaveConfig(on_stop="later"))  # type: ignore[arg-type]


# -- Ctrl-C on a slave process ---------------------------------------------------------------------

FAKE_BLENDER = """\
import os, sys, time
from pathlib import Path
argv = sys.argv
if "--python-expr" in argv:  # the slave asking what this Blender can do, as it registers: nothing
    sys.exit(0)
marks = Path(os.environ["FAKE_BLENDER_MARKS"])
(marks / "started").touch()
while not (marks / "go").exists():
    time.sleep(0.02)
output = Path(argv[argv.index("-o") + 1]).parent
for frame in argv[argv.index("-f") + 1].split(","):
    path = output / f"{int(frame):06d}.exr"
    path.write_bytes(bytes.fromhex(os.environ["FAKE_BLENDER_EXR"]) + frame.encode())
    print(f"Saved: '{path}'", flush=True)
"""


@pytest.fixture
def slave_process(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``netrender slave`` with a script as Blender that renders once ``marks/go`` exists."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "fake-blender"
    script.write_text(f"#!{sys.executable}\n{FAKE_BLENDER}")
    script.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, *options: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "FAKE_BLENDER_MARKS": str(marks), "FAKE_BLENDER_EXR": EXR_BYTES.hex()}
        proc = subprocess.Popen([sys.executable, "-m", "netrender", "slave", "--master", url, "--path",
                                 str(tmp_path / "slave"), "--blender", str(script), "--no-persistent", *options],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        deadline = time.monotonic() + 30
        while not (marks / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the slave never started rendering"
            time.sleep(0.02)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_with_finish_lets_the_slave_deliver_its_chunk(
    tmp_path: Path, live_master: MasterServer, slave_process: Callable[..., subprocess.Popen[bytes]]
) -> None:
    job = make_job(tmp_path, live_master, [1, 2])
    proc = slave_process(live_master.url, "--on-stop", "finish")
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)  # a slave that stopped now would have exited by then
    assert proc.poll() is None and [s for s, _ in frames_of(live_master, job)] == ["dispatched"] * 2
    (tmp_path / "marks" / "go").touch()
    assert proc.wait(timeout=30) == 0
    assert Client(live_master.url).job(job)["status"] == "finished"


def test_a_second_ctrl_c_requeues_the_chunk(
    tmp_path: Path, live_master: MasterServer, slave_process: Callable[..., subprocess.Popen[bytes]]
) -> None:
    job = make_job(tmp_path, live_master, [1, 2])
    proc = slave_process(live_master.url, "--on-stop", "finish")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert frames_of(live_master, job) == [("queued", None)] * 2
    assert proc.stderr is not None and b"stop again to requeue" in proc.stderr.read()
