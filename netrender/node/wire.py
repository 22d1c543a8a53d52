# SPDX-License-Identifier: GPL-3.0-or-later
"""The slave's two lines to a session's Blender: the driver's socket, and what Blender prints.

:mod:`netrender.node.session` builds on these; the protocol itself is described in
``netrender/node/in_blender/driver.py``.
"""

from __future__ import annotations

import collections
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from . import blender

logger = logging.getLogger(__name__)

#: The driver's line once a request is done (``driver.DONE``; a test keeps the two equal).
DONE = "netrender session: done"
#: How many of Blender's lines one outcome keeps; the log file has them all.
LOG_LINES = 10_000
#: Before the token is checked, a caller gets this few bytes to say hello in.
HELLO_LIMIT = 4096
MESSAGE_LIMIT = 1 << 20


class SessionError(Exception):
    """The session cannot go on; the message says why, in the slave's words."""


class Channel:
    """JSON lines over the driver's socket; :meth:`receive` gives up after a timeout so the caller can poll."""

    def __init__(self, sock: socket.socket, limit: int = MESSAGE_LIMIT) -> None:
        self.sock, self.limit, self._buffer = sock, limit, b""

    def send(self, message: dict[str, Any]) -> None:
        self.sock.settimeout(None)
        self.sock.sendall((json.dumps(message) + "\n").encode("utf-8"))

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, ``None`` after ``timeout`` without one; EOFError once the driver is gone."""
        while b"\n" not in self._buffer:
            if len(self._buffer) > self.limit:
                raise SessionError("Blender's session driver sent an overlong message")
            self.sock.settimeout(timeout)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                raise EOFError("Blender's session driver hung up")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise SessionError(f"Blender's session driver sent {line[:200]!r}")
        return message

    def close(self) -> None:
        self.sock.close()


class BlenderOutput:
    """Blender's stdout, read on a thread: every line to the log, each request's share to its outcome.

    Reading on a thread means a chatty Blender never blocks on a full pipe. The
    driver prints :data:`DONE` and the request's id before it answers, so the
    lines up to that marker belong to that request (and the start-up lines to
    the first one).
    """

    def __init__(self, log_path: Path, on_line: Callable[[str], None]) -> None:
        self.log_path, self.on_line = log_path, on_line
        self.load_error: str | None = None
        self._cond = threading.Condition()
        self._pending: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._dropped = 0
        self._done_lines: list[str] = []
        self._done = 0
        self._eof = False
        self._thread: threading.Thread | None = None

    def start(self, stdout: Iterable[str], log: TextIO) -> None:
        """Read ``stdout`` until it ends, writing it to ``log``, which is then closed."""
        self._thread = threading.Thread(target=self._read, args=(stdout, log), name="blender-session", daemon=True)
        self._thread.start()

    def _read(self, stdout: Iterable[str], log: TextIO) -> None:
        failed = False
        with log:
            for line in stdout:
                try:
                    log.write(line)
                    log.flush()
                    self.on_line(line)
                except Exception:  # a full disk or a closed console must not stop the reading: Blender would block
                    if not failed:
                        logger.exception("cannot log Blender's output (%s)", self.log_path)
                    failed = True
                request = marker(line)
                with self._cond:
                    if request is None:
                        if len(self._pending) == self._pending.maxlen:
                            self._dropped += 1
                        self._pending.append(line.rstrip("\r\n"))
                        self.load_error = self.load_error or blender.load_error(line)
                    else:
                        self._done_lines, self._done = self._take(), request
                        self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _take(self) -> list[str]:
        lines = list(self._pending)
        if self._dropped:
            lines.insert(0, f"[{self._dropped} earlier lines are in {self.log_path}]")
        self._pending.clear()
        self._dropped = 0
        return lines

    def take(self) -> list[str]:
        """The lines not handed out yet (Blender ended, or the request was cancelled)."""
        with self._cond:
            return self._take()

    def lines_of(self, request: int, timeout: float = 10.0) -> list[str]:
        """The lines up to ``request``'s marker.

        The wait is only a safeguard: the driver prints the marker before it
        answers, so by the time the answer is in, the marker is in the pipe.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._done >= request or self._eof, timeout=timeout)
            return self._done_lines if self._done >= request else self._take()

    def join(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def marker(line: str) -> int | None:
    """The request id in a :data:`DONE` line; ``None`` for any other line."""
    if not line.startswith(DONE):
        return None
    try:
        return int(line[len(DONE):])
    except ValueError:
        return None


def exit_text(code: int) -> str:
    """How a process ended, as a slave would tell it: "exited with code 1", "was killed by SIGKILL"."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
