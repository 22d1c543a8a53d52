# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's state in SQLite.

One connection, used under the farm's lock; WAL mode so a crash between two
writes loses at most the write in flight. The store only reads and writes rows:
what a change *means* is decided by the farm.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .jobs import JobRows
from .schema import migrate
from .slaves import SlaveRows

__all__ = ["Store"]


class Store(JobRows, SlaveRows):
    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group writes so a crash keeps all of them or none."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
