# SPDX-License-Identifier: GPL-3.0-or-later
"""What a kept-open Blender is started with and answers, and what it needs of its process and its port.

Apart from :mod:`.session` so that other ways of running Blender (over SSH,
:mod:`netrender.ssh.session`) and the tests name these without the session's
machinery.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from . import blender
from .in_blender.device import DEVICE_ENV


def never() -> bool:
    return False


@dataclass(frozen=True)
class SessionSpec:
    """What a Blender is started with: it serves only requests with an equal spec (same job, same settings)."""

    job_id: int
    blender: str
    blend: Path
    output_dir: Path
    engine: str
    threads: int
    allow_scripts: bool = False
    #: The job's files as Blender will look for them (absolute, normalised): they must all be there.
    sent: frozenset[str] = frozenset()
    #: Added to Blender's environment.
    env: Mapping[str, str] = field(default_factory=dict)
    thumbnails: bool = False
    persistent_data: bool = False

    def argv(self, port: int) -> list[str]:
        return blender.session_argv(
            self.blender, self.blend, self.output_dir, self.engine, self.threads, port,
            thumbnails=self.thumbnails, allow_scripts=self.allow_scripts, persistent_data=self.persistent_data,
            device=DEVICE_ENV in self.env,
        )


@dataclass(frozen=True)
class SessionState:
    """What :func:`~.sessions.decide` needs to know of the running session."""

    spec: SessionSpec
    alive: bool
    frames: int


@dataclass
class FrameOutcome:
    """One frame's result: ``path`` of its EXR, or ``error``; ``cancelled`` when ``should_stop`` ended it."""

    frame: int
    path: Path | None = None
    error: str | None = None
    #: From request to answer; the first frame's start-up is the session's ``startup_seconds``.
    seconds: float = 0.0
    cancelled: bool = False
    #: Blender's lines (without newlines) since the previous outcome.
    log: list[str] = field(default_factory=list)
    #: A frame saved on another machine, not fetched yet (``render(..., later=True)``): brings it here.
    fetch: Callable[[], Path] | None = None

    @property
    def ok(self) -> bool:
        return self.path is not None


class Process(Protocol):
    """What a session needs of its process: :class:`subprocess.Popen` in life, anything alike in tests."""

    stdout: IO[str] | None
    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


#: Starts a process from an argv and the variables to add to the environment.
Launcher = Callable[[Sequence[str], Mapping[str, str]], Process]


class Listener(Protocol):
    """Where a session's driver calls back: ``port`` for its command line, connections as they come."""

    port: int

    def accept(self, timeout: float) -> Any:
        """The next connection (a socket, or alike), ``None`` after ``timeout`` seconds without one."""

    def close(self) -> None: ...


class LoopbackListener:
    """A listening socket on this machine's loopback, on a free port."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def accept(self, timeout: float) -> socket.socket | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.accept()[0]
        except TimeoutError:
            return None

    def close(self) -> None:
        self.sock.close()
