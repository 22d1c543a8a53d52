# SPDX-License-Identifier: GPL-3.0-or-later
"""One Blender kept open for a job on a slave: load the .blend once, then render frames on request.

Starting Blender and loading a file can cost as much as a short frame, so
rather than one process per chunk (:func:`netrender.node.blender.run`, still the
fallback) a slave can keep one Blender per job, driven over a loopback socket
by ``in_blender/driver.py`` (its docstring has the wire protocol). Frames come
out pixel-identical to ``blender -b FILE ... -f N``.

A :class:`BlenderSession` is one process, started by its first
:meth:`~BlenderSession.render`; :class:`~.sessions.Sessions` decides when to
reuse it. When ``should_stop()`` says so (asked every ``poll`` seconds), or
Blender dies, or the file does not load, the outcome says so and the session
is dead: the next render starts a fresh Blender. Use it from one thread.

A Blender that reports missing a file of ``spec.sent`` (the job's own files)
while it loads never renders: the session fails with Blender's words, as
every frame would come out wrong.

``log_path`` gets everything Blender prints, appended across restarts;
``outcome.log`` holds the lines printed since the previous outcome.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import blender
from .session_types import FrameOutcome, Launcher, Listener, LoopbackListener, Process, SessionSpec, SessionState, never
from .wire import HELLO_LIMIT, MESSAGE_LIMIT, BlenderOutput, Channel, SessionError, exit_text

# With the types re-exported from .session_types: where the session's users have always found them.
__all__ = ["BlenderSession", "FrameOutcome", "Launcher", "Listener", "LoopbackListener", "Process", "SessionSpec",
           "SessionState", "never"]

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


class BlenderSession:
    """One Blender process with one job's file loaded; started by the first :meth:`render`."""

    def __init__(self, spec: SessionSpec, log_path: Path, *, launch: Launcher = blender.popen, poll: float = 0.5,
                 start_timeout: float = 600.0, hello_timeout: float = 5.0, exit_grace: float = 5.0,
                 on_line: Callable[[str], None] = lambda line: None) -> None:
        """``start_timeout`` bounds loading the file: a big one can take minutes, while one that
        fails to load ends Blender, which is noticed within ``poll``. ``exit_grace`` is how long
        a Blender whose driver hung up may take to exit before it is killed.
        """
        self.spec, self.log_path = spec, log_path
        self.poll, self.start_timeout, self.hello_timeout = poll, start_timeout, hello_timeout
        self.exit_grace = exit_grace
        self.frames = 0
        self.startup_seconds: float | None = None
        self._launch = launch
        self._output = BlenderOutput(log_path, on_line)
        self._proc: Process | None = None
        self._channel: Channel | None = None
        self._dead = False
        self._requests = 0
        self._startup_log: list[str] = []  # Blender's lines until the file was loaded: the first frame's log has them
        self.hello: dict[str, Any] = {}  # what the driver said when it called back

    @property
    def alive(self) -> bool:
        """True until Blender has ended (or failed to start): it can take another frame."""
        return not self._dead and (self._proc is None or self._proc.poll() is None)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def state(self) -> SessionState:
        return SessionState(self.spec, self.alive, self.frames)

    #: Whether a frame Blender saved has to be fetched (it runs on another machine).
    fetches = False

    def render(self, frame: int, should_stop: Callable[[], bool] = never,
               options: Mapping[str, Any] | None = None, *, later: bool = False) -> FrameOutcome:
        """Render ``frame`` to ``blender.frame_file(spec.output_dir, frame)``; Blender's faults never raise.

        ``options`` go with the request: a tile's region, or a stitched frame to
        denoise instead of rendering (the driver's docstring has them). With
        ``later``, a frame on another machine is not fetched yet: the outcome's
        ``fetch`` does it, so the next frame can render meanwhile.
        """
        failed = self.start(frame, should_stop)
        if failed is not None:
            return failed
        started = time.monotonic()  # the frame's own time: start-up is in startup_seconds
        replies: list[dict[str, Any]] = []

        def ask() -> None:
            if self._dead or self._channel is None:
                raise SessionError("this Blender session has ended")
            self._requests += 1
            self._channel.send({**(options or {}), "frame": frame, "id": self._requests})
            replies.append(self._reply(should_stop))

        failed = self._guarded(frame, started, ask)
        if failed is not None:
            return failed
        reply = replies[0]
        lines = self._log(self._output.lines_of(self._requests))
        seconds = time.monotonic() - started
        if reply.get("frame") != frame or not isinstance(reply.get("path") or reply.get("error"), str):
            self._kill()
            return FrameOutcome(frame, error=f"Blender's session driver answered {reply!r} to frame {frame}",
                                seconds=seconds, log=lines)
        if "error" in reply:
            return FrameOutcome(frame, error=str(reply["error"]), seconds=seconds, log=lines)
        self.frames += 1
        if later and self.fetches:
            saved = str(reply["path"])
            return FrameOutcome(frame, seconds=seconds, log=lines, fetch=lambda: self._result(saved, frame))
        try:
            path = self._result(str(reply["path"]), frame)
        except OSError as exc:
            return FrameOutcome(frame, error=f"frame {frame} was rendered but could not be fetched: {exc}",
                                seconds=seconds, log=lines)
        return FrameOutcome(frame, path=path, seconds=seconds, log=lines)

    def start(self, frame: int, should_stop: Callable[[], bool] = never) -> FrameOutcome | None:
        """Start Blender if it has not started yet; ``frame``'s outcome only if that failed or was stopped."""
        if self._proc is not None or self._dead:
            return None
        return self._guarded(frame, time.monotonic(), lambda: self._start(should_stop))

    def _guarded(self, frame: int, started: float, action: Callable[[], None]) -> FrameOutcome | None:
        """Run ``action``; a stop or a Blender that died or misspoke becomes ``frame``'s outcome."""
        try:
            action()
        except _Cancelled:
            self._kill()
            return FrameOutcome(frame, cancelled=True, seconds=time.monotonic() - started, log=self._log())
        except (SessionError, EOFError, OSError) as exc:
            error = self._end(frame, exc)
            return FrameOutcome(frame, error=error, seconds=time.monotonic() - started, log=self._log())
        return None

    @property
    def adaptive_sampling(self) -> dict[str, Any] | None:
        """The loaded scene's Cycles adaptive sampling settings, as the driver said at hello (``None``: off)."""
        found = self.hello.get("adaptive_sampling")
        return found if isinstance(found, dict) else None

    @property
    def path_guiding(self) -> bool:
        """Whether the loaded scene renders with Cycles' path guiding (the driver said so at hello)."""
        return bool(self.hello.get("path_guiding"))

    def _log(self, lines: list[str] | None = None) -> list[str]:
        """This outcome's lines: those given (else all not handed out yet), after the start-up's if still held."""
        head, self._startup_log = self._startup_log, []
        return head + (self._output.take() if lines is None else lines)

    def close(self, timeout: float = 10.0) -> None:
        """Ask Blender to quit, kill it if it has not within ``timeout``; the session is dead after."""
        if self._channel is not None and self.alive and self._proc is not None:
            try:
                self._channel.send({"quit": True})
                self._proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self) -> BlenderSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- where Blender runs: here; a session on another machine overrides these (netrender.ssh) -----------

    def _listen(self) -> Listener:
        """Where the driver calls back: a loopback port of this machine."""
        return LoopbackListener()

    def _argv(self, port: int) -> list[str]:
        return self.spec.argv(port)

    def _is_blend(self, loaded: object) -> bool:
        """Whether the file the driver says Blender loaded is the spec's."""
        return _same_file(loaded, self.spec.blend)

    def _sent_paths(self) -> frozenset[str]:
        """The job's files as Blender names them in what it prints."""
        return self.spec.sent

    def _result(self, path: str, frame: int) -> Path:
        """The driver's answer for a frame as a file of this machine."""
        return Path(path)

    # ------------------------------------------------------------------------------------------------

    def _start(self, should_stop: Callable[[], bool]) -> None:
        """Launch Blender and wait for its driver to call back with the token; raise if it does not."""
        started = time.monotonic()
        token = secrets.token_urlsafe(32)
        listener = self._listen()
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(self.log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by _output
            try:
                self._proc = self._launch(self._argv(listener.port),
                                          {**self.spec.env, blender.SESSION_TOKEN_ENV: token})
            except OSError as exc:
                log_file.close()
                raise SessionError(f"cannot start Blender ({self.spec.blender}): {exc}") from exc
            assert self._proc.stdout is not None
            self._output.start(self._proc.stdout, log_file)
            hello = self._accept(listener, token, started, should_stop)
        finally:
            listener.close()
        self.hello = hello
        if not self._is_blend(hello.get("file")):
            raise SessionError(f"Blender loaded {hello.get('file')!r} rather than {str(self.spec.blend)!r}")
        self._check_loaded(should_stop)
        self.startup_seconds = time.monotonic() - started
        log.info("Blender %s (pid %s) has %s loaded after %.1f s", hello.get("version"), self.pid,
                 self.spec.blend, self.startup_seconds)

    def _accept(self, listener: Listener, token: str, started: float,
                should_stop: Callable[[], bool]) -> dict[str, Any]:
        """The driver's hello; anyone else who connects without the token is hung up on."""
        assert self._proc is not None
        while True:
            conn = listener.accept(self.poll)
            if conn is None:
                if self._proc.poll() is not None:
                    raise EOFError("Blender ended before its session started") from None
                if should_stop():
                    raise _Cancelled from None
                if time.monotonic() - started > self.start_timeout:
                    raise SessionError(f"Blender did not load the file within {self.start_timeout:g} s") from None
                continue
            channel = Channel(conn, limit=HELLO_LIMIT)
            try:
                hello = channel.receive(self.hello_timeout)
            except (SessionError, EOFError, OSError):
                hello = None
            if hello is not None and hmac.compare_digest(str(hello.get("hello")).encode(), token.encode()):
                channel.limit = MESSAGE_LIMIT
                self._channel = channel
                return hello
            channel.close()

    def _check_loaded(self, should_stop: Callable[[], bool]) -> None:
        """Collect what Blender printed while loading (a ping marks its end); refuse to go on without a job file."""
        assert self._channel is not None
        self._requests += 1
        self._channel.send({"ping": True, "id": self._requests})
        self._reply(should_stop)
        self._startup_log = self._output.lines_of(self._requests)
        lacking = blender.missing_sent(self._startup_log, self._sent_paths())
        if lacking:
            raise SessionError(blender.missing_message(lacking))

    def _reply(self, should_stop: Callable[[], bool]) -> dict[str, Any]:
        assert self._channel is not None and self._proc is not None
        while True:
            reply = self._channel.receive(self.poll)
            if reply is not None:
                return reply
            if should_stop():
                raise _Cancelled
            if self._proc.poll() is not None:
                raise EOFError("Blender ended")

    def _end(self, frame: int, exc: BaseException) -> str:
        """Make sure Blender is gone; why the session ended."""
        if self._proc is not None and not isinstance(exc, SessionError):
            with contextlib.suppress(subprocess.TimeoutExpired):  # the driver hung up: Blender is exiting
                self._proc.wait(self.exit_grace)
        code = self._proc.poll() if self._proc is not None else None
        self._kill()
        if self._output.load_error:
            return self._output.load_error
        if isinstance(exc, SessionError):
            return str(exc)
        if code is None:
            return f"Blender's session broke off before frame {frame} was done: {exc}"
        when = f"before frame {frame} was done" if self.startup_seconds is not None else "before its session started"
        return f"Blender {exit_text(code)} {when}"

    def _kill(self) -> None:
        """Blender is gone after this, and all it printed is read."""
        self._dead = True
        if self._channel is not None:
            self._channel.close()
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._output.join()


def _same_file(loaded: object, blend: Path) -> bool:
    try:
        return isinstance(loaded, str) and os.path.samefile(loaded, blend)
    except OSError:
        return False
