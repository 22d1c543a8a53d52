# SPDX-License-Identifier: GPL-3.0-or-later
"""A rendering slave's heartbeat: how the master keeps a render's frames, and how it asks for them back.

While Blender renders, the slave beats at most every ``config.heartbeat``
seconds; the answer says whether the master still wants these frames (it
may have cancelled the job or handed them to another slave) and how long to
wait before the next beat. A busy master spaces its slaves out that way,
but never beyond :data:`MAX_HEARTBEAT_GAP`, so a slave is not thought lost.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from ..common.errors import ApiError, MasterUnreachable
from ..common.work import Assignment
from .identity import Identity

log = logging.getLogger(__name__)
MAX_HEARTBEAT_GAP = 30.0  # seconds between heartbeats at most, whatever the master asks: it must not think us lost


class Heartbeats(Identity):
    """The heartbeat part of :class:`~netrender.slave.Slave`, which provides what is declared here."""

    aborting: threading.Event
    clock: Callable[[], float]

    def _stop_check(self, work: Assignment) -> Callable[[], bool]:
        """Heartbeat the master at most every ``config.heartbeat`` s, or as rarely as it asks; it says when to stop.

        A big farm's master spaces its slaves' beats out (``next_in``), up to
        :data:`MAX_HEARTBEAT_GAP`.

        A master that cannot be reached does not stop the render: its result
        waits in the outbox. One that forgot this slave gets a new registration.
        """
        last, interval = [-math.inf], [self.config.heartbeat]

        def should_stop() -> bool:
            if self.aborting.is_set():
                return True
            now = self.clock()
            if now - last[0] < interval[0]:
                return False
            last[0] = now
            payload = {"job_id": work.job_id, "frames": list(work.frames)}
            try:
                answer = self._as_registered(
                    lambda slave_id: self.conn.post(f"/api/slaves/{slave_id}/heartbeat", payload)
                )
            except (MasterUnreachable, ApiError) as exc:
                log.warning("heartbeat failed: %s", exc)
                return False
            interval[0] = max(self.config.heartbeat, min(_seconds(answer.get("next_in")), MAX_HEARTBEAT_GAP))
            return bool(answer.get("stop"))

        return should_stop


def _seconds(value: Any) -> float:
    """A number of seconds from the master; anything else (an older master sends none) is 0."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else 0.0
