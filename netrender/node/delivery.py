# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's results on their way to the master: the outbox delivered, and the next chunk asked for with them.

Everything a render produces waits in the outbox (:mod:`.outbox`) until the
master takes it; results come before new work. While the loop runs, the
courier (:mod:`.courier`) delivers in the background, and a result sent with
no chunk waiting ahead brings the next one in its answer, so the render loop
neither waits nor asks on its own. A stopping slave gives those chunks back.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from ..common.errors import ApiError, MasterUnreachable
from ..common.work import Assignment
from .courier import Courier
from .identity import Identity
from .outbox import Item, Outbox, send

log = logging.getLogger(__name__)


class Delivery(Identity):
    """The delivering part of :class:`~netrender.slave.Slave`, which provides what is declared here."""

    outbox: Outbox
    courier: Courier | None
    stopping: threading.Event
    ahead: deque[Assignment]
    _ahead_lock: threading.Lock

    def deliver(self) -> int:
        """Send what the outbox holds, oldest first; return how many items left it.

        :raise MasterUnreachable: the master cannot take them now; they stay.
        """
        if not len(self.outbox):
            return 0
        return self.outbox.deliver(self._send)

    def _send(self, item: Item) -> None:
        """Deliver one item as this slave.

        A thumbnail is a nicety: its frame is delivered already and the master
        can make one from the EXR, so whatever stops it only warrants a warning
        and never holds up the frames behind it.

        A result sent in the background while no chunk waits ahead asks for
        the next chunk in the same answer: the render loop finds it there
        when its chunk ends, so it neither waits nor sends a request of its own.
        """
        ahead = item.kind == "result" and self._wants_ahead()
        try:
            answer = self._as_registered(lambda slave_id: send(self.conn, item, slave_id, next_chunk=ahead))
            if ahead and isinstance(answer, dict) and answer.get("work"):
                with self._ahead_lock:
                    self.ahead.append(Assignment.from_json(answer["work"]))
        except (ApiError, MasterUnreachable) as exc:
            if item.kind != "thumbnail":
                raise
            log.warning("thumbnail of job %s frame %s not sent: %s", item.job_id, item.frame, exc)

    def _hand_over_delivery(self) -> None:
        """Stopping: chunks held ahead go back, and the loop itself delivers what is left, with its backoff."""
        self._give_back_ahead()
        if self.courier is not None:
            self.courier.stop()
            self.courier = None

    def _wants_ahead(self) -> bool:
        """Whether a result sent now should bring the next chunk: in the background, with none waiting."""
        if self.courier is None or self.stopping.is_set():
            return False
        with self._ahead_lock:
            return not self.ahead

    def _give_back_ahead(self) -> None:
        """A stopping slave will not render the chunks it holds ahead: they go back to the queue."""
        with self._ahead_lock:
            chunks, self.ahead = list(self.ahead), deque()
        for work in chunks:
            self.outbox.put("release", work.job_id, work.frames, slave_id=self.id)
        if chunks and self.courier is not None:
            self.courier.kick()
