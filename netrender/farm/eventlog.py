# SPDX-License-Identifier: GPL-3.0-or-later
"""Every event of the farm as a JSON line in ``<master folder>/events.log``, for admins and their tools.

Jobs added, removed, started, finished, failed, cancelled, paused and
resumed; slaves joined, left and lost; frames failed. One object a line
(``{"at": …, "event": "job.started", "job": 3, …}``), appended as it
happens and rotated by size (``events.log.1`` … with the standard library's
rotating handler), so it can be followed with ``tail -f`` and read with any
JSON tool. The job history in the API stays the per-job view.
"""

from __future__ import annotations

import json
import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
#: The first word of a job's history entry, as the event it is.
JOB_EVENTS = {"submitted:": "added", "started": "started", "finished": "finished", "failed": "failed",
              "cancelled": "cancelled", "paused": "paused", "resumed": "resumed", "cannot": "failed",
              "removed": "removed"}


class EventLog:
    """Appends events to ``path``; ``None`` keeps none (a test's farm in memory)."""

    def __init__(self, path: Path | None, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.path = path
        self._log: logging.Logger | None = None
        if path is not None:
            self._log = logging.Logger(f"netrender.events.{path}")  # not in the global tree: never propagated
            handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._log.addHandler(handler)

    def write(self, at: float, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.info(json.dumps({"at": round(at, 3), "event": event, **fields}, ensure_ascii=False))

    def job(self, job_id: int, at: float, text: str) -> None:
        """A job's history entry, when it is an event of the log."""
        kind = JOB_EVENTS.get(text.split(" ", 1)[0])
        if kind is not None:
            self.write(at, f"job.{kind}", job=job_id, detail=text)

    def close(self) -> None:
        if self._log is not None:
            for handler in list(self._log.handlers):
                handler.close()
                self._log.removeHandler(handler)
