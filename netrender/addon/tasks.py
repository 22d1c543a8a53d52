# SPDX-License-Identifier: GPL-3.0-or-later
"""Network calls off Blender's main thread, their results back on it.

An operator hands :data:`TASKS` a function that talks to the master; it runs
on a worker thread while the UI stays responsive, and its ``on_done`` callback
runs later on the main thread (from a ``bpy.app.timers`` pump, or from
:meth:`Tasks.finish` in background mode, where timers never fire). Nothing
here imports bpy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

Done = Callable[[Any, BaseException | None], None]


class Tasks:
    def __init__(self) -> None:
        self._results: queue.Queue[tuple[Done, Any, BaseException | None]] = queue.Queue()
        self._running = 0
        self._idle = threading.Condition()

    def run(self, work: Callable[[], Any], on_done: Done) -> None:
        """Start ``work()`` on a thread; ``on_done(result, error)`` is queued for the main thread."""

        def target() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = work()
            except BaseException as exc:  # handed to on_done, which reports it
                error = exc
            self._results.put((on_done, result, error))
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

        with self._idle:
            self._running += 1
        threading.Thread(target=target, name="netrender-task", daemon=True).start()

    @property
    def busy(self) -> bool:
        return self._running > 0 or not self._results.empty()

    def flush(self) -> int:
        """Run the callbacks of finished work (call on the main thread); return how many ran."""
        count = 0
        while True:
            try:
                on_done, result, error = self._results.get_nowait()
            except queue.Empty:
                return count
            on_done(result, error)
            count += 1

    def finish(self, timeout: float = 120.0) -> bool:
        """Wait for all work, then run its callbacks: for background mode and tests."""
        with self._idle:
            ended = self._idle.wait_for(lambda: self._running == 0, timeout)
        self.flush()
        return ended


TASKS = Tasks()
