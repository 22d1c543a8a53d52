# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's state in SQLite.

One connection, used under the farm's lock; WAL mode so a crash between two
writes loses at most the write in flight. The store only reads and writes rows:
what a change *means* is decided by the farm.

SQLite is the source of truth. What the store also keeps in memory for speed
(the frame :class:`~.tally.Tally`, the rows of open jobs) is read from SQLite
when it opens and changed only after the write it mirrors succeeded; when a
transaction that changed it rolls back, it is read again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .frames import FrameRows, Stored
from .jobs import JobRows, OpenJob
from .nodes import NodeRows
from .schema import migrate
from .slaves import SlaveGate, SlaveRows
from .tally import Tally

__all__ = ["Store"]

AUTOCHECKPOINT_PAGES = 10_000  # about 40 MB of log


class Store(JobRows, FrameRows, SlaveRows, NodeRows):
    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.path = str(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # The master's housekeeping copies the log into the database every second (checkpoint()); a commit
        # does it only when that falls behind, so a request rarely holds the farm's lock through one.
        self.db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        self._checkpointer: sqlite3.Connection | None = None
        self.on_event: Callable[[int, float, str], None] = lambda job_id, at, event: None
        migrate(self.db)
        self.tally = Tally()
        self.open_jobs: dict[int, OpenJob] = {}
        self.gates: dict[str, SlaveGate] = {}
        self.read_states: dict[tuple[int, int], Stored] = {}
        self._dirty = False  # memory changed in the transaction in progress
        self.reload()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.db.close()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database, on a connection of its own: needs no lock.

        A passive checkpoint neither waits for nor blocks the farm's
        connection, which goes on reading and writing meanwhile; what is
        committed is in the log already, so this changes nothing a crash would
        lose. It keeps the log short and the commits free of the copying.
        """
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def reload(self) -> None:
        """Read what is kept in memory from SQLite again."""
        self.tally.load(self.db)
        self.open_jobs = {}
        self.gates = {}

    def _touched(self) -> None:
        if self.db.in_transaction:
            self._dirty = True

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group writes so a crash keeps all of them or none; memory follows a rollback too."""
        self.db.execute("BEGIN IMMEDIATE")
        self._dirty = False
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # a failed COMMIT may have rolled back already
                self.db.execute("ROLLBACK")
            if self._dirty:
                self.reload()
            raise
        finally:
            self._dirty = False
            self.read_states.clear()  # noted only inside a transaction: each starts with none
