# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 7, nothing lost: slaves dying, the master restarting and the network failing mid-job.

One job of 60 frames in chunks of 3 on three slave processes, while:

1. slave ``crash`` is SIGKILLed mid-chunk together with its Blender (as if its
   machine lost power); the master takes its frames back after the lost-slave
   timeout, lowered to 3 s through the API;
2. slave ``quit`` is stopped with SIGINT mid-chunk (it gives its frames back)
   and started again on the same path under the same name;
3. the network between slave ``cut`` and the master fails mid-chunk (a relay
   the test controls resets every connection) for longer than the lost-slave
   timeout: the master requeues the frames while the slave renders on, and the
   slave delivers them late, once the link is back;
4. the master is SIGKILLed mid-job, left down for a while (the slaves find it
   unreachable), and started again on the same path and port; the slaves
   carry on by themselves.

At the end every frame is there exactly once and equals a local render pixel
for pixel, and nothing is left dispatched. The test prints how many frames were
rendered more than once, and the wall time.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from chaos_helpers import (
    ChaosFarm,
    Link,
    blenders_under,
    held_by,
    processes_mentioning,
    reachable,
    render_counts,
    slave_entries,
)
from conftest import BLENDER, render_locally, wait_until
from pixels import differences

from netrender.client import Client, JobOptions
from netrender.common.connection import Connection
from netrender.common.errors import MasterUnreachable
from netrender.farm.jobs import POINTER
from netrender.samples import build_scene

FRAMES = list(range(1, 61))
CHUNKS = 3
LOST_TIMEOUT = 3.0  # seconds; the master's default of 60 would outlast the test
OUTAGE = 2.0  # seconds the master stays down at least: longer than a slave's heartbeat and first retry
RECONNECT = 75.0  # seconds the slaves have to reach the restarted master
UNREACHABLE_RE = re.compile(r"cannot reach the master|did not answer in time|heartbeat failed")
NAMES = ("crash", "quit", "cut")

pytestmark = [pytest.mark.blender, pytest.mark.timeout(300)]

#: The slave's own line when its loop cannot reach the master (the courier's lines start otherwise).
LOOP_UNREACHABLE_RE = re.compile(r"^\[cut\] (cannot reach the master|the master at .* did not answer)", re.MULTILINE)


@pytest.fixture(scope="module")
def chaos_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample animation, small: a frame renders in about 0.2 s on one thread, a chunk in about 1 s."""
    return build_scene(tmp_path_factory.mktemp("chaos_scene") / "chaos.blend", blender=BLENDER or "blender",
                       frames=len(FRAMES), size="128x72", samples=32)


@pytest.fixture(scope="module")
def chaos_reference(chaos_scene: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return render_locally(chaos_scene, FRAMES, tmp_path_factory.mktemp("chaos_reference"))


def say(text: str) -> None:
    print(f"[chaos] {text}", flush=True)


def registered(conn: Connection, name: str, not_ids: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The latest id under which the slave called ``name`` registered, other than ``not_ids``; None if none."""
    try:
        found = [s for s in slave_entries(conn) if s["name"] == name and s["id"] not in not_ids]
    except MasterUnreachable:
        return None
    return max(found, key=lambda s: s["registered_at"])["id"] if found else None


def test_nothing_is_lost_when_slaves_die_the_network_fails_and_the_master_restarts(
    tmp_path: Path, chaos_scene: Path, chaos_reference: dict[int, Path]
) -> None:
    started = time.monotonic()
    with ChaosFarm(tmp_path / "farm") as farm:
        conn = farm.start_master()
        rules = conn.request("PATCH", "/api/balancing", json={"lost_timeout": LOST_TIMEOUT}).json()
        assert rules["lost_timeout"] == LOST_TIMEOUT
        link = Link(farm.port)
        farm.closing.append(link.close)

        procs = {name: farm.start_slave(name, link.url if name == "cut" else None) for name in NAMES}
        ids: dict[str, str] = {}
        for name in NAMES:
            ids[name] = wait_until(partial(registered, conn, name), 30, f"slave {name} to register")
        client = Client(conn)
        job_id = client.submit(chaos_scene, JobOptions(frames=FRAMES, chunks=CHUNKS, name="chaos")).job["id"]

        # -- 1. SIGKILL a slave mid-chunk, and its Blender -------------------------------------------------
        # Its Blender runs in a session of its own: killing the slave alone would leave it rendering and
        # writing into the slave's folder. A machine that dies takes both, so both are killed here.
        crashed: dict[str, Any] = {}

        def crash_mid_chunk() -> list[int] | None:
            if not held_by(conn, ids["crash"]):
                return None

            def still_mid_chunk(blenders: list[int]) -> bool:
                crashed["frames"] = held_by(conn, ids["crash"])  # the slave is frozen: this cannot change now
                return bool(blenders and crashed["frames"])

            return farm.crash(procs["crash"], still_mid_chunk)

        blenders = wait_until(crash_mid_chunk, 60, "slave crash to render a chunk")
        crashed_at = time.monotonic()
        say(f"SIGKILLed slave crash and its Blender {blenders} while it held frames {crashed['frames']}")
        assert held_by(conn, ids["crash"]) == crashed["frames"], "the master took the frames back at once"
        assert processes_mentioning(str(farm.slave_path("crash"))) == [], "no orphan Blender may keep writing"

        # -- 2. Stop a slave cleanly (SIGINT) mid-chunk, then start it again -------------------------------
        def quit_mid_chunk() -> list[int] | None:
            held = held_by(conn, ids["quit"])
            if not (held and blenders_under(procs["quit"].pid)):
                return None
            procs["quit"].send_signal(signal.SIGINT)
            return held

        quit_frames = wait_until(quit_mid_chunk, 60, "slave quit to render a chunk")
        assert procs["quit"].wait(timeout=30) == 0, "SIGINT must stop a slave cleanly"
        say(f"stopped slave quit with SIGINT while it held frames {quit_frames}")
        assert held_by(conn, ids["quit"]) == [], "a slave stopped cleanly gives its frames back"
        assert processes_mentioning(str(farm.slave_path("quit"))) == [], "its Blender must stop with it"
        old_quit_id = ids["quit"]
        restarted_at = time.time()
        procs["quit"] = farm.start_slave("quit")

        def quit_is_back() -> str | None:
            # A restarted slave keeps its id (kept under its path) while the master knows it: back means heard from.
            try:
                seen = [s for s in slave_entries(conn) if s["name"] == "quit" and s["last_seen"] > restarted_at]
            except MasterUnreachable:
                return None
            return str(seen[0]["id"]) if seen else None

        ids["quit"] = wait_until(quit_is_back, 30, "slave quit to come back")
        assert ids["quit"] == old_quit_id, "a restarted slave takes back its id"

        # The crashed slave's frames come back once it has been silent for the lost-slave timeout.
        wait_until(lambda: not held_by(conn, ids["crash"]), LOST_TIMEOUT + 15, "the crashed slave's frames back")
        say(f"the crashed slave's frames were requeued {time.monotonic() - crashed_at:.1f} s after the crash")

        # -- 3. Cut the network of a slave mid-chunk, for longer than the lost-slave timeout ---------------
        cut: dict[str, Any] = {}

        def cut_mid_chunk() -> bool:
            if not (held_by(conn, ids["cut"]) and blenders_under(procs["cut"].pid)):
                return False
            cut["log_from"] = len(farm.log_text("cut"))
            link.cut()
            cut["frames"] = held_by(conn, ids["cut"])  # the slave cannot reach the master now
            if not cut["frames"]:  # its chunk ended just before the cut: try the next one
                link.mend()
            return bool(cut["frames"])

        wait_until(cut_mid_chunk, 60, "slave cut to render a chunk")
        cut_at = time.monotonic()
        # The master, hearing nothing from the slave, takes its frames back; the slave renders on, and
        # what it rendered waits on its side until the link is back.
        wait_until(lambda: not held_by(conn, ids["cut"]), LOST_TIMEOUT + 15, "the cut-off slave's frames back")
        # Its Blender stays open for the job. The slave has rendered all it knew of (its chunk, and one it
        # got ahead, if the answer bringing it arrived before the cut) once its loop, back to asking for
        # work, finds the master unreachable: a line of its own, after its last frame's start.
        def chunk_rendered() -> bool:
            text = farm.log_text("cut")[cut["log_from"]:]
            last_start = text.rfind("rendering job")
            return last_start >= 0 and LOOP_UNREACHABLE_RE.search(text, last_start) is not None

        wait_until(chunk_rendered, 60, "the cut-off slave to render its chunk")
        link.mend()
        say(f"cut slave cut off while it held frames {cut['frames']}; the master requeued them, the link was "
            f"mended {time.monotonic() - cut_at:.1f} s later")

        # -- 4. SIGKILL the master mid-job, keep it down, start it again -----------------------------------
        before: dict[str, Any] = {}

        def mid_job() -> bool:
            job = client.job(job_id)
            c = job["frame_count"]
            before["done"] = {f["number"] for f in job["frames"] if f["status"] == "done"}
            return bool(c["done"] >= len(FRAMES) // 4 and c["dispatched"] and c["queued"])

        wait_until(mid_job, 60, "a quarter of the frames done, some dispatched and some queued")
        farm.kill_master()
        killed_at = time.monotonic()
        offsets = {name: len(farm.log_text(name)) for name in ("quit", "cut")}
        say(f"SIGKILLed the master with {len(before['done'])}/{len(FRAMES)} frames done")
        assert not reachable(conn)

        # The outage lasts OUTAGE seconds at least, and until both live slaves noticed it (or 10 s in all).
        # That they notice is only reported: what is asserted is that they come back by themselves below.
        def noticed() -> set[str]:
            return {n for n, at in offsets.items() if UNREACHABLE_RE.search(farm.log_text(n)[at:])}

        while time.monotonic() - killed_at < OUTAGE or (len(noticed()) < 2 and time.monotonic() - killed_at < 10):
            time.sleep(0.1)
        say(f"master down for {time.monotonic() - killed_at:.1f} s; slaves that noticed: {sorted(noticed())}")

        restarted_at = time.time()
        conn = farm.start_master()
        client = Client(conn)
        assert len(list(farm.master_path.glob("master_*"))) == 1, "the restarted master must reuse its folder"
        # The rules live in the master's SQLite: no need to lower the timeout again.
        assert conn.get("/api/balancing")["lost_timeout"] == LOST_TIMEOUT
        after_restart = {f["number"] for f in client.job(job_id)["frames"] if f["status"] == "done"}
        assert before["done"] <= after_restart, f"done frames lost in the kill: {before['done'] - after_restart}"

        # Both live slaves talk to the new master without being told: under the id the master's SQLite
        # kept, or under a new one should they register again.
        def back(name: str) -> bool:
            return any(s["name"] == name and s["last_seen"] > restarted_at for s in slave_entries(conn))

        # A slave retries with a growing wait (capped at a minute): RECONNECT leaves room for that.
        wait_until(lambda: back("quit") and back("cut"), RECONNECT, "both slaves to reach the restarted master")
        say(f"both slaves reached the restarted master {time.monotonic() - killed_at:.1f} s after the kill")

        # -- the end: every frame exactly once, equal to a local render ------------------------------------
        final = wait_until(lambda: (j := client.job(job_id))["status"] != "running" and j, 180, "the job to end")
        wall = time.monotonic() - started
        assert final["status"] == "finished", [(f["number"], f["status"], f["message"]) for f in final["frames"]]
        assert final["frame_count"] == {**final["frame_count"], "total": len(FRAMES), "done": len(FRAMES),
                                        "dispatched": 0, "queued": 0, "error": 0}
        assert sorted(f["number"] for f in final["frames"]) == FRAMES
        assert all(f["status"] == "done" for f in final["frames"])
        assert [(s["name"], s["current_frames"]) for s in slave_entries(conn) if s["current_frames"]] == []

        downloaded = client.download(job_id, tmp_path / "downloaded")
        numbers = [int(p.stem) for p in downloaded]
        assert len(numbers) == len(set(numbers)), f"frames downloaded twice: {Counter(numbers) - Counter(FRAMES)}"
        assert sorted(numbers) == FRAMES
        # On the master: one EXR per frame, nothing else named .exr. Temporary files of uploads the kill
        # cut short (".part-*") are not frames: they are reported, not counted.
        root = farm.master_path / (farm.master_path / POINTER).read_text().strip()
        stored = sorted(p.name for p in (root / f"job_{job_id}" / "frames").iterdir())
        assert [n for n in stored if n.endswith(".exr")] == [f"{n:06d}.exr" for n in FRAMES]
        if debris := [n for n in stored if not n.endswith(".exr")]:
            say(f"WARNING: the master's frames folder holds leftovers of interrupted uploads: {debris}")
        for path in downloaded:
            assert differences(path, chaos_reference[int(path.stem)]) == [], path.name
        by = {f["number"]: f["slave_id"] for f in final["frames"]}
        say(f"the cut-off slave's frames {cut['frames']} were credited to "
            f"{sorted({'cut' if by[n] == ids['cut'] else 'another slave' for n in cut['frames']})}")

        # What a slave must still tell the master waits in <path>/outbox until the master took it: once the
        # job is over, the live slaves' outboxes empty (late copies of frames done elsewhere included).
        outboxes = [farm.slave_path(n) / "outbox" for n in ("quit", "cut")]
        wait_until(lambda: not any(o.is_dir() and any(o.glob("*.json")) for o in outboxes), 30,
                   "the slaves' outboxes to empty")

        # -- re-renders ----------------------------------------------------------------------------------------
        # The master keeps no per-frame history of dispatches, so the slaves' own logs tell. Each slave runs
        # with --console-log, which echoes Blender's output, and Blender prints "Saved: '.../000012.exr'"
        # once it has written a frame: counting those lines over every slave's logs (one file per start of
        # a slave, written unbuffered, so even the SIGKILLed slave's lines are there) counts complete
        # renders per frame. Renders cut short (killed, stopped, told to stop) never print it; they show
        # in the chunk starts ("rendering job J frames a-b", a..b contiguous here) without a save.
        starts: Counter[int] = Counter()
        saves: Counter[int] = Counter()
        for name in NAMES:
            s, v = render_counts(farm.log_text(name))
            starts += s
            saves += v
        assert set(saves) == set(FRAMES), f"frames no slave saved: {sorted(set(FRAMES) - set(saves))}"
        twice = sorted(n for n, c in saves.items() if c > 1)
        say(f"rendered more than once: {len(twice)} frame(s) {twice}; {sum(saves.values())} complete renders "
            f"and {sum(starts.values())} frame starts for {len(FRAMES)} frames")
        say(f"total wall time {wall:.1f} s (from the master's start to the job's end)")

    assert processes_mentioning(str(tmp_path)) == [], "a process of the farm outlived the test"
