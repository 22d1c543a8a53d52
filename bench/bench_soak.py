# SPDX-License-Identifier: GPL-3.0-or-later
"""Soak a real master over HTTP with 1,000 simulated slaves and 100,000 frames.

The master runs as its own process (``python -m netrender master`` on
127.0.0.1), so its memory can be read from ``/proc``: the peak (``VmHWM``) and
``VmRSS`` once a second, to show it stays flat. No Blender runs: each simulated
slave asks for work, keeps its chunk while the other slaves take their turn
(its "render"), then uploads a tiny but valid EXR per frame, the last one
with ``?next=1`` so that its answer carries the next chunk, as a real slave does.
A bounded pool of client threads, each with one keep-alive connection, drives
the slaves in turn, so every slave holds a chunk most of the time, as on a busy
farm.

A *cycle* is one dispatch and the upload of its frames. The script prints
cycles and frames per second, the median and p99 latency of the uploads that
bring the next chunk and of the others (chunks of more than one frame), the
CPU both processes used, and the master's memory; it exits with status 1
when a goal is missed (1,000 cycles/s, p99 under 100 ms, memory flat). It
stops when every frame is done or after ``--seconds``, whichever comes
first, and talks to 127.0.0.1 only.

    .venv/bin/python bench/bench_soak.py [--slaves 1000] [--frames 100000] [--seconds 900]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import queue
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
GOAL_CYCLES = 1000.0  # per second
GOAL_P99 = 0.100  # seconds
FLAT_GROWTH = 0.10  # memory is flat when RSS grows less than this over the last three quarters of the run


def tiny_exr() -> bytes:
    """A valid 1x1 OpenEXR file with one HALF channel ``Y``, no compression: 300-odd bytes."""

    def attribute(name: str, kind: str, value: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value

    channels = b"Y\0" + struct.pack("<iB3xii", 1, 0, 1, 1) + b"\0"  # HALF, not linear, sampling 1x1
    window = struct.pack("<4i", 0, 0, 0, 0)
    header = b"".join([
        b"\x76\x2f\x31\x01", struct.pack("<i", 2),  # magic, version 2, single-part scanline
        attribute("channels", "chlist", channels),
        attribute("compression", "compression", b"\0"),
        attribute("dataWindow", "box2i", window),
        attribute("displayWindow", "box2i", window),
        attribute("lineOrder", "lineOrder", b"\0"),
        attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
        attribute("screenWindowCenter", "v2f", struct.pack("<2f", 0.0, 0.0)),
        attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
        b"\0",
    ])
    pixels = struct.pack("<e", 0.5)
    block = struct.pack("<ii", 0, len(pixels)) + pixels  # scanline y = 0
    return header + struct.pack("<Q", len(header) + 8) + block


class Connection:
    """One keep-alive HTTP/1.1 connection to the master; reopened if the master closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def call(self, method: str, path: str, body: bytes | None = None, *, retry: bool = False) -> tuple[Any, float]:
        """(answer as JSON, seconds taken). ``retry``: send once more on a dropped connection (idempotent calls)."""
        headers = {"Content-Type": "application/octet-stream" if method == "PUT" else "application/json"}
        for attempt in (0, 1):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                if attempt or not retry:
                    raise
                continue
            elapsed = time.perf_counter() - started
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: HTTP {response.status}: {data[:300]!r}")
            return json.loads(data), elapsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


class Master:
    """``netrender master`` as a child process on a free loopback port, and its memory over time.

    Given a port, the master is one started by someone else: only its answers are measured.
    """

    def __init__(self, folder: Path, port: int | None = None, threads: int | None = None) -> None:
        self.samples: list[tuple[float, int]] = []  # (seconds since start, VmRSS bytes)
        self.log = open(folder / "master.log", "wb")  # noqa: SIM115 - open for the master's whole life
        self.proc: subprocess.Popen[bytes] | None = None
        if port is not None:
            self.port = port
        else:
            with socket.socket() as probe:
                probe.bind((HOST, 0))
                self.port = int(probe.getsockname()[1])
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "netrender", "master", "--path", str(folder / "master"), "--address", HOST,
                 "--port", str(self.port), "--no-broadcast", "--no-zeroconf",
                 *(["--threads", str(threads)] if threads else [])],
                stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "NETRENDER_TOKEN": ""},
            )
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="rss", daemon=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the master exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                Connection(self.port).call("GET", "/api/version")
                if self.proc is not None:
                    self._sampler.start()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the master did not answer within {timeout:g} s:\n{self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def status(self, key: str) -> int:
        """A memory line of /proc/<pid>/status (VmRSS, VmHWM) in bytes; 0 for a master started elsewhere."""
        if self.proc is None:
            return 0
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    def cpu_seconds(self) -> tuple[float, float]:
        """User and system CPU seconds of the master so far; zeros for a master started elsewhere."""
        if self.proc is None:
            return 0.0, 0.0
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def _sample(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(1.0):
            try:
                self.samples.append((time.monotonic() - started, self.status("VmRSS")))
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Slave:
    id: str
    work: dict[str, Any] | None = None


@dataclass
class Tally:
    """What one client thread saw; merged at the end, so the threads share no lock per request."""

    work_times: list[float] = field(default_factory=list)
    upload_times: list[float] = field(default_factory=list)
    empty: int = 0  # work requests answered "no work"
    cycles: int = 0
    frames: int = 0


class Soak:
    def __init__(self, port: int, slaves: list[Slave], total_frames: int, deadline: float) -> None:
        self.port = port
        self.turns: queue.Queue[Slave] = queue.Queue()
        for slave in slaves:
            self.turns.put(slave)
        self.total_frames = total_frames
        self.deadline = deadline
        self.exr = tiny_exr()
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.frames_done = 0
        self.cycles_done = 0
        self.errors: list[str] = []

    def client(self, tally: Tally) -> None:
        """Give slaves their turn until every frame is done or time is up."""
        conn = Connection(self.port)
        try:
            while not self.done.is_set():
                if time.monotonic() > self.deadline:
                    self.done.set()
                    break
                try:
                    slave = self.turns.get(timeout=0.5)
                except queue.Empty:
                    continue
                try:
                    self.turn(conn, slave, tally)
                except Exception as exc:  # noqa: BLE001 - reported at the end, and the run stops
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    self.done.set()
                self.turns.put(slave)
        finally:
            conn.close()

    def turn(self, conn: Connection, slave: Slave, tally: Tally) -> None:
        """Upload the frames of the chunk the slave holds (its render is over); the last upload brings the next.

        That is how a real slave works (``?next=1``): one request a frame. A
        slave that holds nothing asks for work on its own.
        """
        if slave.work is None:
            answer, elapsed = conn.call("POST", f"/api/slaves/{slave.id}/work")
            tally.work_times.append(elapsed)
            slave.work = answer["work"]
            if slave.work is None:
                tally.empty += 1
            return
        job, frames = slave.work["job_id"], slave.work["frames"]
        for i, number in enumerate(frames):
            last = i == len(frames) - 1
            answer, elapsed = conn.call(
                "PUT", f"/api/jobs/{job}/frames/{number}/result?slave={slave.id}&render_time=0.5"
                + ("&next=1" if last else ""), self.exr, retry=not last,
            )
            assert answer["status"] == "done", answer
            (tally.work_times if last else tally.upload_times).append(elapsed)
        slave.work = answer["work"]
        if slave.work is None:
            tally.empty += 1
        tally.cycles += 1
        tally.frames += len(frames)
        with self.lock:
            self.frames_done += len(frames)
            self.cycles_done += 1
            if self.frames_done >= self.total_frames:
                self.done.set()


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))] if sorted_values else 0.0


def latency_line(name: str, values: list[float], extra: str = "") -> tuple[str, float]:
    values = sorted(values)
    p99 = percentile(values, 0.99)
    median = statistics.median(values) if values else 0.0
    return (f"{name:<16}median {median * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms   max {values[-1] * 1000:7.1f} ms"
            f"   ({len(values)} requests{extra})" if values else f"{name:<16}no requests"), p99


def setup(conn: Connection, args: argparse.Namespace) -> tuple[list[Slave], int]:
    """Upload the blend, submit the jobs, register the slaves; return the slaves and the frame total."""
    blend = b"BLENDER-v404 a pretend blend file for the soak benchmark"
    sha = hashlib.sha256(blend).hexdigest()
    conn.call("PUT", f"/api/files/{sha}", blend)
    files = [{"path": "soak.blend", "sha256": sha, "size": len(blend)}]
    total, job = 0, 0
    while total < args.frames:
        count = min(args.job_frames, args.frames - total)
        body = {"name": f"soak {job}", "blend": "soak.blend", "files": files, "frames": list(range(1, count + 1)),
                "chunks": args.chunks, "priority": 1 + job % 3, "category": f"c{job % 4}"}
        conn.call("POST", "/api/jobs", json.dumps(body).encode())
        total, job = total + count, job + 1
    slaves = []
    for i in range(args.slaves):
        body = {"name": f"soak-{i:04d}", "tags": [], "facts": {"cores": 1}}
        answer, _ = conn.call("POST", "/api/slaves", json.dumps(body).encode())
        slaves.append(Slave(answer["id"]))
    return slaves, total


def memory_report(master: Master, peak: int) -> tuple[list[str], bool]:
    """The peak, RSS at tenths of the run, and whether it stayed flat after the first quarter."""
    samples = master.samples
    mib = 1 << 20
    if master.proc is None:
        return ["master memory   not measured: the master was started elsewhere"], True
    if len(samples) < 4:
        return [f"master memory   peak {peak / mib:.1f} MiB (VmHWM); run too short to sample RSS"], True
    tenths = [samples[min(len(samples) - 1, len(samples) * i // 10)][1] for i in range(11)]
    quarter = samples[len(samples) // 4][1]
    end = samples[-1][1]
    growth = (end - quarter) / quarter
    flat = growth < FLAT_GROWTH
    return [
        f"master memory   peak {peak / mib:.1f} MiB (VmHWM), {len(samples)} RSS samples, once a second",
        "  RSS at each tenth of the run (MiB): " + " ".join(f"{r / mib:.1f}" for r in tenths),
        f"  from a quarter of the run to its end: {quarter / mib:.1f} -> {end / mib:.1f} MiB ({growth:+.1%})",
    ], flat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slaves", type=int, default=1000, help="simulated slaves (default 1000)")
    parser.add_argument("--frames", type=int, default=100_000, help="frames in all (default 100000)")
    parser.add_argument("--job-frames", type=int, default=1000, help="frames per job (default 1000)")
    parser.add_argument("--chunks", type=int, default=1, help="frames per dispatch (default 1)")
    parser.add_argument("--clients", type=int, default=16, help="client threads, one connection each (default 16)")
    parser.add_argument("--seconds", type=float, default=900.0, help="stop after this long at most (default 900)")
    parser.add_argument("--report-every", type=float, default=10.0, help="seconds between progress lines")
    parser.add_argument("--master-threads", type=int, help="the master's server threads (default: its own)")
    parser.add_argument("--port", type=int, help="drive a master already listening on 127.0.0.1:PORT instead "
                                                 "(a fresh one, e.g. under a profiler; its memory is not measured)")
    parser.add_argument("--http-floor", type=float, metavar="SECONDS",
                        help="instead of the soak, time GET /api/version for SECONDS: what HTTP alone costs")
    args = parser.parse_args()
    if min(args.slaves, args.frames, args.job_frames, args.chunks, args.clients) < 1 or args.seconds <= 0:
        parser.error("every count must be at least 1 and --seconds positive")

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")  # the master is stopped on the way out

    signal.signal(signal.SIGTERM, stop)
    with tempfile.TemporaryDirectory(prefix="netrender-soak-") as tmp:
        master = Master(Path(tmp), args.port, args.master_threads)
        try:
            master.wait_ready()
            if args.http_floor:
                return http_floor(master, args.clients, args.http_floor)
            setup_conn = Connection(master.port)
            started = time.monotonic()
            slaves, total = setup(setup_conn, args)
            setup_conn.close()
            jobs = -(-total // args.job_frames)
            print(f"netrender soak benchmark: {args.slaves} slaves, {jobs} jobs, {total} frames (chunks of "
                  f"{args.chunks}), {args.clients} client connections; Python {platform.python_version()} on "
                  f"{platform.machine()}, {os.cpu_count()} CPUs", flush=True)
            print(f"set-up (submit, register) took {time.monotonic() - started:.1f} s", flush=True)
            return drive(master, args, slaves, total)
        finally:
            master.stop()


def http_floor(master: Master, clients: int, seconds: float) -> int:
    """Requests per second and master CPU per request of the cheapest API call: the HTTP stack's own cost."""
    counts = [0] * clients
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = Connection(master.port)
        while time.monotonic() < deadline:
            conn.call("GET", "/api/version")
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    before = master.cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = sum(b - a for a, b in zip(before, master.cpu_seconds(), strict=True))
    total = sum(counts)
    print(f"HTTP floor: GET /api/version from {clients} connections for {seconds:g} s: {total / seconds:.0f} "
          f"requests/s, master {cpu / seconds:.2f} cores, {cpu / max(total, 1) * 1000:.3f} ms of master CPU a request")
    return 0


def machine_speed() -> float:
    """Milliseconds this machine takes for a fixed pure-Python loop: this VM's speed drifts by half from hour to hour,
    so two runs compare only alongside it."""
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i % 7
    return (time.perf_counter() - started) * 1000


def drive(master: Master, args: argparse.Namespace, slaves: list[Slave], total: int) -> int:
    speed_before = machine_speed()
    started = time.monotonic()
    soak = Soak(master.port, slaves, total, started + args.seconds)
    tallies = [Tally() for _ in range(args.clients)]
    threads = [threading.Thread(target=soak.client, args=(t,), name=f"client-{i}", daemon=True)
               for i, t in enumerate(tallies)]
    cpu_master, cpu_self = master.cpu_seconds(), time.process_time()
    for thread in threads:
        thread.start()
    last_time, last_cycles = started, 0
    while not soak.done.wait(args.report_every):
        now, cycles = time.monotonic(), soak.cycles_done
        print(f"  {now - started:6.0f} s  {soak.frames_done:7d} frames done  "
              f"{(cycles - last_cycles) / (now - last_time):7.1f} cycles/s  "
              f"master RSS {master.status('VmRSS') / (1 << 20):6.1f} MiB", flush=True)
        last_time, last_cycles = now, cycles
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    user, system = (b - a for a, b in zip(cpu_master, master.cpu_seconds(), strict=True))
    cpu_self = time.process_time() - cpu_self
    peak = master.status("VmHWM")

    cycles = sum(t.cycles for t in tallies)
    frames = sum(t.frames for t in tallies)
    work_line, work_p99 = latency_line("result + next", [x for t in tallies for x in t.work_times],
                                       f", {sum(t.empty for t in tallies)} without work")
    upload_line, upload_p99 = latency_line("other results", [x for t in tallies for x in t.upload_times])
    memory_lines, flat = memory_report(master, peak)
    rate = cycles / elapsed
    print(f"run: {frames} of {total} frames done in {elapsed:.1f} s"
          + ("" if frames >= total else f" (stopped by --seconds {args.seconds:g})"))
    print(f"cycles (dispatch + its results) {rate:8.1f} /s   frames {frames / elapsed:8.1f} /s")
    print(work_line)
    print(upload_line)
    print(f"CPU             master {(user + system) / elapsed:.2f} cores (user {user / elapsed:.2f}, system "
          f"{system / elapsed:.2f}), {(user + system) / max(cycles, 1) * 1000:.2f} ms a cycle; "
          f"this benchmark {cpu_self / elapsed:.2f} cores")
    for line in memory_lines:
        print(line)
    print(f"machine speed   a fixed Python loop took {speed_before:.0f} ms before the run and {machine_speed():.0f} ms "
          "after (lower is faster)")
    for error in soak.errors[:5]:
        print(f"error: {error}")
    goals = {
        f"cycles/s >= {GOAL_CYCLES:g}": rate >= GOAL_CYCLES,
        f"p99 < {GOAL_P99 * 1000:g} ms": max(work_p99, upload_p99) < GOAL_P99,
        "memory flat": flat,
    }
    print("goals: " + "; ".join(f"{name}: {'met' if ok else 'missed'}" for name, ok in goals.items()))
    return 0 if all(goals.values()) and not soak.errors and frames >= total else 1


if __name__ == "__main__":
    sys.exit(main())
