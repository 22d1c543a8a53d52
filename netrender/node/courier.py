# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's outbox delivered in the background, so uploading a frame overlaps rendering the next.

The render loop puts a finished frame into the outbox and goes on at once;
the courier's thread sends what the outbox holds, oldest first, whenever it is
kicked. When the master cannot take an item, the courier waits as its
:class:`~netrender.common.retry.Backoff` says and tries again; the items stay in the
outbox meanwhile (and on disk, so a slave that dies delivers them at its next
start). :meth:`Courier.run_once` is one delivery pass, so tests drive the
courier without a thread.
"""

from __future__ import annotations

import logging
import random as _random
import threading
import time
from collections.abc import Callable

from ..common.errors import ApiError, MasterUnreachable
from ..common.retry import Attempts, Backoff

log = logging.getLogger(__name__)


class Courier:
    def __init__(
        self,
        deliver: Callable[[], int],
        backoff: Backoff,
        *,
        on_status: Callable[[str], None] = lambda text: None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        """``deliver`` sends the outbox and returns how many items left it (``Slave.deliver``)."""
        self.deliver = deliver
        self.on_status = on_status
        self.clock = clock
        self.failures = Attempts(backoff, random)
        self.backoff = backoff
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()  # set while nothing is being sent
        self._idle.set()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="netrender-courier", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def kick(self) -> None:
        """Something new is in the outbox: send it now (a wait after a failure is cut short too)."""
        self._idle.clear()
        self._kick.set()

    def run_once(self) -> float:
        """One delivery pass; return the seconds to wait before the next one unless kicked (0: none)."""
        try:
            self.deliver()
        except MasterUnreachable as exc:
            self.last_error = str(exc)
            return self._failed()
        except ApiError as exc:
            self.last_error = exc.message
            return self._failed()
        except Exception as exc:  # a farm node runs for days: log, wait, try again
            log.exception("delivering the outbox failed")
            self.last_error = str(exc)
            return self._failed()
        self.failures.succeeded()
        self.last_error = None
        return 0.0

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread after the pass in progress; what is left stays in the outbox."""
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until a pass found nothing more to send, or failed; ``False`` on timeout."""
        return self._idle.wait(timeout)

    def _failed(self) -> float:
        delay = self.failures.failed(self.clock())
        return self.backoff.max_delay if delay is None else delay

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            if delay > 0 or not self._kick.is_set():
                self._idle.set()
                self._kick.wait(delay if delay > 0 else None)
            if self._stop.is_set():
                break
            self._kick.clear()
            self._idle.clear()
            delay = self.run_once()
            if delay > 0 and self.last_error:
                self.on_status(f"results wait in the outbox, next try in {delay:.0f} s: {self.last_error}")
        self._idle.set()
