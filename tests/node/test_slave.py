# SPDX-License-Identifier: GPL-3.0-or-later
"""The slave against a real master over HTTP, with a stand-in for Blender.

The stand-in writes what Blender would (EXR files, a log) so these tests cover
the slave's own logic: fetching, caching, reporting, re-registering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conftest import EXR_BYTES, forget_slaves

from netrender.client import Client, JobOptions, LocalFile
from netrender.common.blobs import file_sha256
from netrender.common.work import Assignment
from netrender.master import MasterServer
from netrender.node import blender
from netrender.node.sessions import Sessions
from netrender.slave import Slave, SlaveConfig


class FakeBlender:
    """Records each argv and writes the frames it asks for, or fails like Blender does."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_with = fail_with

    def __call__(self, argv: Sequence[str], log_path: Path, **_: Any) -> blender.RunResult:
        self.calls.append(list(argv))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.fail_with:
            log_path.write_text(f"Blender 3.4.1\n{self.fail_with}\n")
            return blender.RunResult(1, False, [], self.fail_with, 0.1)
        output = Path(argv[argv.index("-o") + 1]).parent
        frames = [int(f) for f in argv[argv.index("-f") + 1].split(",")]
        for frame in frames:
            blender.frame_file(output, frame).write_bytes(EXR_BYTES + str(frame).encode())
        log_path.write_text("".join(f"Saved: '{blender.frame_file(output, f)}'\n" for f in frames))
        return blender.RunResult(0, False, [str(blender.frame_file(output, f)) for f in frames], None, 0.2)


def make_job(tmp_path: Path, master: MasterServer, frames: list[int], content: bytes = b"BLEND") -> int:
    blend = tmp_path / "shot.blend"
    blend.write_bytes(content)
    files = [LocalFile(blend, "shot.blend", file_sha256(blend), len(content))]
    return int(Client(master.url).submit(blend, JobOptions(frames=frames, chunks=2), files=files).job["id"])


def test_a_slave_renders_chunks_and_downloads_each_file_once(tmp_path: Path, live_master: MasterServer) -> None:
    fake = FakeBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", threads=3), run_blender=fake)
    downloads: list[str] = []
    original = slave.conn.download
    slave.conn.download = lambda path, *a, **k: downloads.append(path) or original(path, *a, **k)  # type: ignore
    first = make_job(tmp_path, live_master, [1, 2, 3])
    second = make_job(tmp_path, live_master, [10])  # the same .blend bytes again
    while slave.run_once():
        pass
    assert len(downloads) == 1
    # The second job is new, so it goes before the first job's last chunk (new jobs first).
    assert [(r.job_id, r.done) for r in slave.reports] == [(first, [1, 2]), (second, [10]), (first, [3])]
    assert fake.calls[0][fake.calls[0].index("-t") + 1] == "3"
    job = Client(live_master.url).job(first)
    assert job["status"] == "finished"
    assert all(f["slave_id"] == slave.id for f in job["frames"])
    farm = live_master.farm
    assert farm.frame_path(first, 3).read_bytes() == EXR_BYTES + b"3"
    assert "Saved:" in farm.log_path(first, 3).read_text()


def test_a_failed_render_reports_every_frame_with_the_log(tmp_path: Path, live_master: MasterServer) -> None:
    error = "Error: File format is not supported in file '/x/shot.blend'"
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=FakeBlender(error))
    job_id = make_job(tmp_path, live_master, [1, 2])
    assert slave.run_once()
    job = Client(live_master.url).job(job_id)
    assert job["status"] == "failed"
    assert [f["message"] for f in job["frames"]] == [error, error]
    assert error in live_master.farm.log_path(job_id, 2).read_text()


def test_a_slave_the_master_forgot_registers_again(tmp_path: Path, live_master: MasterServer) -> None:
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=FakeBlender())
    slave.register()
    forgotten = slave.id
    forget_slaves(live_master)
    make_job(tmp_path, live_master, [1])
    assert slave.run_once()  # told it is unknown, it registered again at once, and rendered
    assert slave.id != forgotten
    assert [s.id for s in live_master.farm.slaves(time.time())] == [slave.id]


def test_a_job_removed_during_its_render_does_not_stop_the_slave(tmp_path: Path, live_master: MasterServer) -> None:
    fake = FakeBlender()
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=fake)
    doomed = make_job(tmp_path, live_master, [1])

    def render_then_vanish(argv: Sequence[str], log_path: Path, **kw: Any) -> blender.RunResult:
        result = fake(argv, log_path, **kw)
        live_master.farm.remove(doomed, delete_files=True, now=time.time())  # the user removes it as Blender finishes
        return result

    slave.run_blender = render_then_vanish
    assert slave.run_once()
    assert slave.reports[-1].done == [1]  # rendered; the master refused it for good, so the outbox dropped it
    assert len(slave.outbox) == 0
    slave.run_blender = fake
    kept = make_job(tmp_path, live_master, [2])
    assert slave.run_once()
    assert Client(live_master.url).job(kept)["status"] == "finished"


def test_a_slave_follows_a_master_that_moved(tmp_path: Path, live_master: MasterServer) -> None:
    """The slave's master stops answering; the master's announcements name a new address: it switches."""

    class Announced:
        stopped = False

        def moved(self, current: str) -> str | None:
            return live_master.url if current != live_master.url else None

        def stop(self) -> None:
            self.stopped = True

    follower = Announced()
    gone = "http://127.0.0.1:9"  # the discard port: nothing answers there
    slave = Slave(SlaveConfig(master=gone, path=tmp_path / "slave"), run_blender=FakeBlender(),
                  follower=follower)  # type: ignore[arg-type]
    job = make_job(tmp_path, live_master, [1])
    thread = threading.Thread(target=slave.run, kwargs={"idle_wait": 0.05}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while Client(live_master.url).job(job)["status"] != "finished":
        assert time.monotonic() < deadline, "the slave never reached the moved master"
        time.sleep(0.05)
    slave.stop()
    thread.join(timeout=10)
    assert slave.conn.url == live_master.url and follower.stopped


def test_a_restarted_slave_keeps_its_id_while_the_master_knows_it(tmp_path: Path, live_master: MasterServer) -> None:
    config = SlaveConfig(master=live_master.url, path=tmp_path / "slave")
    first = Slave(config, run_blender=FakeBlender()).register()
    assert Slave(config, run_blender=FakeBlender()).register() == first  # a restart: the same slave
    forget_slaves(live_master)  # a master that forgot it
    again = Slave(config, run_blender=FakeBlender()).register()
    assert again != first and [s.id for s in live_master.farm.slaves(time.time())] == [again]


class CountingSessions(Sessions):
    """Sessions that only count how often the slave closed them."""

    def __init__(self) -> None:
        super().__init__(max_frames=None, factory=lambda spec, log_path: None)  # type: ignore[arg-type, return-value]
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_an_idle_slave_keeps_its_blender_for_idle_close_seconds(tmp_path: Path, live_master: MasterServer) -> None:
    now = [100.0]
    sessions = CountingSessions()
    config = SlaveConfig(master=live_master.url, path=tmp_path / "slave", idle_close=30.0, persistent=False)
    slave = Slave(config, clock=lambda: now[0], sessions=sessions, run_blender=FakeBlender())
    slave.register()
    for seconds in (0.0, 10.0, 29.0):  # no work: the open Blender may render a frame that comes back
        now[0] = 100.0 + seconds
        assert not slave.run_once()
    assert sessions.closed == 0
    now[0] = 130.0
    assert not slave.run_once()
    assert sessions.closed == 1, "half a minute without work: its memory goes back"
    job = make_job(tmp_path, live_master, [1])
    assert slave.run_once()  # work again: the idle time starts anew after it
    now[0] = 140.0
    assert not slave.run_once()
    assert sessions.closed == 1
    assert Client(live_master.url).job(job)["frame_count"]["done"] == 1


def test_a_slave_spaces_its_heartbeats_as_the_master_asks(tmp_path: Path) -> None:
    now = [0.0]
    slave = Slave(SlaveConfig(master="http://127.0.0.1:9", path=tmp_path / "slave", heartbeat=0.5),
                  clock=lambda: now[0])
    slave.id = "me"
    beats: list[float] = []
    answers = iter([{"stop": False, "next_in": 5.0}, {"stop": False, "next_in": 5.0}, {"stop": False},
                    {"stop": False, "next_in": 1e9}, {"stop": False, "next_in": "soon"}, {"stop": True}])

    def post(path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        beats.append(now[0])
        return next(answers)

    slave.conn.post = post  # type: ignore[method-assign]
    should_stop = slave._stop_check(Assignment(1, (1,), "a.blend", "CYCLES", ()))
    for moment in (0.0, 0.6, 4.9, 5.0, 9.9, 10.0, 10.4, 10.5, 40.4, 40.5, 41.0):
        now[0] = moment
        should_stop()
    # 5 s as asked; then an older master's answer without next_in: back to the slave's own 0.5 s;
    # an absurd wait is cut to MAX_HEARTBEAT_GAP (30 s); a malformed one counts for nothing.
    assert beats == [0.0, 5.0, 10.0, 10.5, 40.5, 41.0]
