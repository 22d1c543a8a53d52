# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on's task runner: work runs off the calling thread, callbacks run where flush() is called."""

from __future__ import annotations

import threading

from netrender.addon.tasks import Tasks


def test_run_returns_while_the_work_is_still_blocked() -> None:
    tasks = Tasks()
    release = threading.Event()
    seen: list[tuple[object, object]] = []
    tasks.run(lambda: release.wait(10) and "answer", lambda result, error: seen.append((result, error)))
    assert tasks.busy and tasks.flush() == 0 and seen == []  # the caller (Blender's UI) was not held up
    release.set()
    assert tasks.finish(timeout=10)
    assert seen == [("answer", None)]
    assert not tasks.busy


def test_errors_reach_the_callback_on_the_flushing_thread() -> None:
    tasks = Tasks()
    seen: list[tuple[str, str]] = []

    def fail() -> None:
        raise OSError("no route to host")

    tasks.run(fail, lambda result, error: seen.append((threading.current_thread().name, str(error))))
    tasks.finish(timeout=10)
    assert seen == [(threading.current_thread().name, "no route to host")]
