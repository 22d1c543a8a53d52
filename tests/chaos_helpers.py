# SPDX-License-Identifier: GPL-3.0-or-later
"""Plumbing for the chaos test: a farm of real processes, /proc inspection, hard kills, slave logs.

Everything here waits on conditions with deadlines; nothing sleeps and hopes.
Processes are found through ``/proc`` only (no psutil), and only processes
whose command line names the test's own folder are ever touched, so other
farms running on the same machine are left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import wait_until

from netrender.cli.demo import free_port, wait_for_master
from netrender.common.connection import Connection
from netrender.common.errors import MasterUnreachable

#: The slave's status line when it starts a chunk: ``[name] rendering job 1 frames 4-6`` (or ``frames 7``).
RENDERING_RE = re.compile(r"rendering job (?P<job>\d+) frames (?P<first>\d+)(?:-(?P<last>\d+))?")
#: Blender's line after writing a frame, echoed by a slave started with ``--console-log``.
SAVED_RE = re.compile(r"^Saved: '.*?(?P<number>\d+)\.exr'", re.MULTILINE)


# -- processes, through /proc -------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent pid; ``None`` once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    after_name = text[text.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    return after_name[0], int(after_name[1])


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie writes nothing; its parent may simply not have reaped it)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, children first."""
    children: dict[int, list[int]] = {}
    for child in _pids():
        stat = _stat(child)
        if stat is not None:
            children.setdefault(stat[1], []).append(child)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def blenders_under(pid: int) -> list[int]:
    """The running Blender processes below ``pid``."""
    return [p for p in descendants(pid) if running(p) and "blender" in Path(command_line(p).split(" ")[0]).name]


def processes_mentioning(text: str) -> list[int]:
    """Running processes (not zombies, not this one) whose command line holds ``text``."""
    return [pid for pid in _pids() if pid != os.getpid() and text in command_line(pid) and running(pid)]


def wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    wait_until(lambda: not any(running(p) for p in pids), timeout, f"processes {pids} to end")


# -- the farm -------------------------------------------------------------------


class ChaosFarm:
    """A master and named slaves as separate ``python -m netrender`` processes, in one folder.

    Each start of a slave writes its own log (``logs/<name>.<n>.log``), so a
    restarted slave never overwrites what its previous life printed. Output is
    unbuffered: a process killed with SIGKILL loses nothing it printed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.master_path = folder / "master"
        self.master: subprocess.Popen[bytes] | None = None
        self.slaves: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, list[Path]] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.closing: list[Callable[[], object]] = []  # run at the end, once every process is stopped
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def __enter__(self) -> ChaosFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "netrender", *argv], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env)
        self.procs.append(proc)
        return proc

    def start_master(self, timeout: float = 30.0) -> Connection:
        """Start the master (again: same path, same port) and wait until it answers."""
        assert self.master is None or self.master.poll() is not None, "a master is running already"
        self.master = self._spawn(
            ["master", "--path", str(self.master_path), "--address", "127.0.0.1", "--port", str(self.port),
             "--no-broadcast", "--no-zeroconf"],
            self.folder / "logs" / "master.log",
        )
        conn = Connection(self.url)
        wait_for_master(conn, timeout=timeout)
        assert self.master.poll() is None, f"the master exited with {self.master.returncode}: see master.log"
        return conn

    def slave_path(self, name: str) -> Path:
        return self.folder / name

    def start_slave(self, name: str, master: str | None = None) -> subprocess.Popen[bytes]:
        """Start slave ``name`` on its own path (again: same path, same name), talking to ``master``."""
        logs = self.logs.setdefault(name, [])
        logs.append(self.folder / "logs" / f"{name}.{len(logs) + 1}.log")
        proc = self._spawn(
            ["slave", "--master", master or self.url, "--name", name, "--threads", "1",
             "--path", str(self.slave_path(name)), "--console-log"],
            logs[-1],
        )
        self.slaves[name] = proc
        return proc

    def log_text(self, name: str) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs.get(name, []) if p.is_file())

    def crash(self, proc: subprocess.Popen[bytes], still_mid_chunk: Callable[[list[int]], bool]) -> list[int] | None:
        """SIGKILL ``proc`` and its Blender together, as if its machine lost power; only when mid-chunk.

        The slave's Blender runs in its own session, so killing the slave alone
        would leave an orphan Blender rendering and writing into the slave's
        folder. The slave is frozen first (SIGSTOP), so it can neither start
        nor end a Blender while its tree is listed; ``still_mid_chunk`` is then
        asked, with the Blender pids found, whether this is still the middle of
        a chunk. If not, the slave is resumed and ``None`` returned (try again);
        else everything is killed and the Blender pids returned, once gone.
        """
        os.kill(proc.pid, signal.SIGSTOP)
        blenders = blenders_under(proc.pid)
        if not still_mid_chunk(blenders):
            os.kill(proc.pid, signal.SIGCONT)
            return None
        tree = descendants(proc.pid)
        proc.kill()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_gone(tree)
        return blenders

    def kill_master(self) -> None:
        assert self.master is not None
        self.master.kill()
        self.master.wait(timeout=10)

    def close(self) -> None:
        """Stop every process still running (SIGTERM: slaves stop their Blender), then kill what is left."""
        alive = [p for p in self.procs if p.poll() is None]
        for proc in alive:
            proc.terminate()
        for proc in alive:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        leftovers = processes_mentioning(str(self.folder))  # a Blender whose slave was killed, say
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_gone(leftovers)
        for close in self.closing:
            close()


class Link:
    """A TCP relay to the master for one slave: a network link the test can cut and mend.

    Cut, it resets every open connection (a request in flight fails at once)
    and resets each new one as soon as it arrives: the slave sees the master as
    unreachable while the master itself runs on and sees the slave fall silent.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.up = True
        self.closed = False
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, name="chaos-link", daemon=True).start()

    def cut(self) -> None:
        with self.lock:
            self.up = False
            for sock in list(self.open):
                _reset(sock)
            self.open.clear()

    def mend(self) -> None:
        with self.lock:
            self.up = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            try:
                far = socket.create_connection(self.target, timeout=5) if self.up else None
            except OSError:
                far = None
            with self.lock:
                if far is None or not self.up:
                    _reset(near)
                    if far is not None:
                        _reset(far)
                    continue
                far.settimeout(None)
                self.open.update((near, far))
            for src, dst in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Copy one direction; when either side ends, end both (HTTP needs no half-closed connections)."""
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                dst.sendall(data)
        with self.lock:
            for sock in (src, dst):
                if sock in self.open:
                    self.open.discard(sock)
                    _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Abort a connection: RST instead of FIN, and wake a thread blocked reading it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def slave_entries(conn: Connection) -> list[dict[str, Any]]:
    return conn.get("/api/slaves")["slaves"]  # type: ignore[no-any-return]


def held_by(conn: Connection, slave_id: str) -> list[int]:
    """The frames the master has dispatched to ``slave_id`` right now."""
    for slave in slave_entries(conn):
        if slave["id"] == slave_id:
            return list(slave["current_frames"])
    raise AssertionError(f"the master does not know slave {slave_id}")


def render_counts(log_text: str) -> tuple[Counter[int], Counter[int]]:
    """From a slave's log: how often each frame was started (chunk starts) and saved by Blender."""
    started: Counter[int] = Counter()
    for match in RENDERING_RE.finditer(log_text):
        first = int(match["first"])
        last = int(match["last"] or first)
        started.update(range(first, last + 1))
    saved = Counter(int(m["number"]) for m in SAVED_RE.finditer(log_text))
    return started, saved


def reachable(conn: Connection) -> bool:
    try:
        conn.get("/api/version")
    except MasterUnreachable:
        return False
    return True
