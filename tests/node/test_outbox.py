# SPDX-License-Identifier: GPL-3.0-or-later
"""The slave's outbox: results survive a master that is away, a slave restart, a forgotten slave id.

The first tests drive :class:`Outbox` alone with a fake ``send``; the others
run a slave (with the stand-in Blender of ``test_slave``) against a real
master that goes away and comes back on the same path and port.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import EXR_BYTES, forget_slaves
from test_slave import FakeBlender, make_job

from netrender.cli.demo import free_port
from netrender.client import Client
from netrender.common.errors import ApiError, MasterUnreachable
from netrender.master import MasterConfig, MasterServer
from netrender.node import blender
from netrender.node.outbox import Item, Outbox, is_final
from netrender.slave import Slave, SlaveConfig

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers there
PNG = b"\x89PNG\r\n\x1a\n"


def fill(box: Outbox, tmp_path: Path) -> list[Item]:
    exr = tmp_path / "000001.exr"
    exr.write_bytes(EXR_BYTES)
    log = tmp_path / "chunk.log"
    log.write_text("Saved\n")
    return [
        box.put("log", 3, (1,), payload=log, copy=True),
        box.put("result", 3, (1,), payload=exr, fields={"render_time": 1.5}, slave_id="a"),
        box.put("error", 3, (2,), fields={"message": "boom"}),
        box.put("release", 3, (4, 5)),
    ]


def test_items_are_kept_on_disk_in_order_and_payloads_moved_in(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    items = fill(box, tmp_path)
    assert not (tmp_path / "000001.exr").exists() and (tmp_path / "chunk.log").exists()  # moved; copied
    again = Outbox(tmp_path / "outbox")  # a new process on the same path
    assert again.pending() == items
    assert [i.kind for i in again.pending()] == ["log", "result", "error", "release"]
    assert items[1].payload == box.root / items[1].key / "000001.exr"  # a payload keeps its name
    assert items[1].payload.read_bytes() == EXR_BYTES
    assert again.put("error", 3, (9,), fields={"message": "x"}).key > items[-1].key  # numbering goes on
    record = json.loads((box.root / f"{items[1].key}.json").read_text())
    assert record["fields"] == {"render_time": 1.5} and record["slave_id"] == "a"


def test_delivery_removes_each_item_once_and_stops_where_the_master_is_unreachable(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    items = fill(box, tmp_path)
    sent: list[str] = []

    def send(item: Item) -> None:
        if item.kind == "error" and len(sent) < 3:
            raise MasterUnreachable("gone")
        sent.append(item.key)

    with pytest.raises(MasterUnreachable):
        box.deliver(send)
    assert [i.key for i in box.pending()] == [i.key for i in items[2:]]  # the two sent are gone, files too
    assert items[1].payload is not None and not items[1].payload.exists()
    sent.append("-")
    assert box.deliver(send) == 2
    assert box.deliver(send) == 0 and Outbox(box.root).deliver(send) == 0
    assert sent == [items[0].key, items[1].key, "-", items[2].key, items[3].key]  # each sent exactly once
    assert list(box.root.iterdir()) == []


def test_a_final_refusal_drops_the_item_and_others_keep_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    fill(box, tmp_path)
    answers = {"log": ApiError(404, "unknown_job", "no job 3"), "result": ApiError(409, "conflict", "not yours")}
    sent: list[str] = []

    def send(item: Item) -> None:
        if item.kind in answers:
            raise answers[item.kind]
        sent.append(item.kind)

    answers["release"] = ApiError(503, "busy", "busy")
    with pytest.raises(ApiError, match="busy"):
        box.deliver(send)
    assert sent == ["error"] and [i.kind for i in box.pending()] == ["release"]  # refused for good: dropped
    for keep in (ApiError(503, "busy", "busy"), ApiError(507, "storage_full", "full"),
                 ApiError(401, "unauthorized", "token"), ApiError(404, "unknown_slave", "who?")):
        assert not is_final(keep)
        answers["release"] = keep
        with pytest.raises(ApiError):
            box.deliver(send)
        assert len(box) == 1
    assert is_final(ApiError(400, "invalid_request", "bad")) and is_final(ApiError(413, "too_large", "big"))


def test_what_a_crash_leaves_is_cleaned_up(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    items = fill(box, tmp_path)
    tmp = box.root / f".tmp-000000000099-{items[0].key[-8:]}.json"  # died while writing a whole record
    tmp.write_text(json.dumps({"kind": "error", "job_id": 3, "frames": [1], "fields": {"message": "x"},
                               "payload": None, "slave_id": None}))
    (box.root / "000000000098-00000000").mkdir()  # died between payload and record
    (box.root / "000000000098-00000000" / "000009.exr").write_bytes(b"x")
    (box.root / f"{items[2].key}.json").write_text("{not json")  # a damaged record
    assert items[1].payload is not None
    items[1].payload.unlink()  # a record whose payload vanished
    (box.root / "notes.txt").write_text("mine")  # not the outbox's: left alone
    again = Outbox(box.root)
    assert [i.kind for i in again.pending()] == ["log", "release"] and len(again) == 2
    assert not tmp.exists()
    assert sorted(p.name for p in box.root.iterdir() if not p.name.endswith(".json")) == [items[0].key, "notes.txt"]
    assert [p.name for p in (box.root / items[0].key).iterdir()] == ["chunk.log"]


# -- a slave and a master that goes away ------------------------------------------------------------


@pytest.fixture
def masters(tmp_path: Path) -> Iterator[list[MasterServer]]:
    """A master on a fixed port, as in production; ``restart(masters)`` replaces it by a new one.

    Not port 0: cheroot sets SO_REUSEADDR only for a fixed port, and without
    it the old master's closing connections would keep the port from a new one.
    """
    started = [MasterServer(MasterConfig(path=tmp_path / "master", address="127.0.0.1", port=free_port()))]
    started[0].start()
    yield started
    for server in started:
        server.close()


def restart(masters: list[MasterServer]) -> MasterServer:
    """Stop the master and start a new one on the same path and port, as after a crash or an upgrade."""
    old = masters[-1]
    old.close()
    server = MasterServer(MasterConfig(path=old.config.path, address="127.0.0.1", port=old.port))
    masters.append(server)
    server.start()
    return server


class Requests:
    """Wraps a slave's connection to record the requests it makes, but downloads."""

    def __init__(self, slave: Slave) -> None:
        self.made: list[str] = []
        original = slave.conn.request

        def request(method: str, path: str, **kwargs: Any) -> requests.Response:
            if method != "GET":
                self.made.append(f"{method} {path.split('/api/')[-1]}")
            return original(method, path, **kwargs)

        slave.conn.request = request  # type: ignore[method-assign]


def test_results_wait_in_the_outbox_until_the_master_comes_back(tmp_path: Path, masters: list[MasterServer]) -> None:
    live_master = masters[0]
    fake = FakeBlender()
    job = make_job(tmp_path, live_master, [1, 2])

    def render_while_the_master_goes_down(argv: Sequence[str], log_path: Path, **kw: Any) -> blender.RunResult:
        live_master.close()
        result = fake(argv, log_path, **kw)
        for frame in (1, 2):
            blender.thumbnail_file(log_path.parents[1] / "output", frame).write_bytes(PNG + bytes([frame]))
        return result

    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", thumbnails=True),
                  run_blender=render_while_the_master_goes_down)
    assert slave.run_once()  # rendered; nothing could be delivered
    assert [i.kind for i in slave.outbox.pending()] == ["log", "result", "thumbnail"] * 2
    with pytest.raises(MasterUnreachable):
        slave.run_once()  # still down: no work is asked for, the outbox stays
    assert len(slave.outbox) == 6
    master = restart(masters)
    made = Requests(slave)
    assert not slave.run_once()  # delivered, then asked for work: there is none left
    assert made.made == [f"PUT jobs/{job}/frames/{n}/{what}" for n in (1, 2) for what in ("log", "result", "thumbnail")
                         ] + [f"POST slaves/{slave.id}/work"]
    detail = Client(master.url).job(job)
    assert detail["status"] == "finished" and {f["slave_id"] for f in detail["frames"]} == {slave.id}
    assert master.farm.frame_path(job, 2).read_bytes() == EXR_BYTES + b"2"
    assert master.farm.thumbnail_path(job, 2).read_bytes() == PNG + b"\x02"
    assert len(slave.outbox) == 0


def test_a_new_slave_on_the_same_path_delivers_what_the_old_one_left(
    tmp_path: Path, live_master: MasterServer
) -> None:
    job = make_job(tmp_path, live_master, [7])
    old = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=FakeBlender())

    def render_then_lose_the_network(argv: Sequence[str], log_path: Path, **kw: Any) -> blender.RunResult:
        old.conn.url = NOWHERE
        return FakeBlender()(argv, log_path, **kw)

    old.run_blender = render_then_lose_the_network
    assert old.run_once() and len(old.outbox) == 2  # then its process ends: only the outbox remains

    new = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=FakeBlender())
    made = Requests(new)
    assert new.deliver() == 2
    frame = Client(live_master.url).job(job)["frames"][0]
    assert (frame["status"], frame["slave_id"]) == ("done", new.id)
    assert made.made.count(f"PUT jobs/{job}/frames/7/result") == 1
    assert new.deliver() == 0 and not new.run_once()  # nothing is sent twice
    assert made.made.count(f"PUT jobs/{job}/frames/7/result") == 1


def test_a_forgotten_slave_registers_again_and_delivers_under_its_new_id(
    tmp_path: Path, live_master: MasterServer
) -> None:
    job = make_job(tmp_path, live_master, [1, 2])
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave"), run_blender=FakeBlender())

    def render_while_the_master_forgets(argv: Sequence[str], log_path: Path, **kw: Any) -> blender.RunResult:
        forget_slaves(live_master)
        return FakeBlender()(argv, log_path, **kw)

    slave.run_blender = render_while_the_master_forgets
    first = slave.register()
    made = Requests(slave)
    assert slave.run_once()
    assert slave.id != first
    assert made.made == [f"POST slaves/{first}/work",
                         f"PUT jobs/{job}/frames/1/log", f"PUT jobs/{job}/frames/1/result",  # unknown_slave
                             "POST slaves", f"PUT jobs/{job}/frames/1/result",  # registered again, resent
                             f"PUT jobs/{job}/frames/2/log", f"PUT jobs/{job}/frames/2/result"]
    detail = Client(live_master.url).job(job)
    assert detail["status"] == "finished" and {f["slave_id"] for f in detail["frames"]} == {slave.id}
    assert [s.id for s in live_master.farm.slaves(time.time())] == [slave.id]


def test_a_heartbeat_the_master_does_not_recognise_registers_again(tmp_path: Path, live_master: MasterServer) -> None:
    job = make_job(tmp_path, live_master, [1])
    seen: list[bool] = []

    def render(argv: Sequence[str], log_path: Path, *, should_stop: Callable[[], bool], **kw: Any) -> Any:
        seen.append(should_stop())  # a normal heartbeat: go on
        forget_slaves(live_master)
        time.sleep(slave.config.heartbeat)
        seen.append(should_stop())  # unknown_slave: registered again, and asked again under the new id
        return blender.RunResult(-9, True, [], None, 0.1)

    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", heartbeat=0.05), run_blender=render)
    slave.register()
    forgotten = slave.id
    assert slave.run_once()
    # The new id holds none of the frames, so the master says stop; they belonged to a slave it forgot,
    # which its lost-slave check requeues at once.
    assert seen == [False, True] and slave.id != forgotten
    assert [s.id for s in live_master.farm.slaves(time.time())] == [slave.id]
    live_master.farm.run_once(time.time())
    assert Client(live_master.url).job(job)["frames"][0]["status"] == "queued"
