# SPDX-License-Identifier: GPL-3.0-or-later
"""The client's memory of file hashes, so an unchanged project is not read again to be resubmitted.

A studio project can hold thousands of files and gigabytes; hashing them all
again for every submit would cost more than the submit itself. A file whose
path, size, modification time and inode are what they were when it was last
hashed is taken to hold the same bytes, as ``make`` and ``rsync`` assume too.
The table lives in SQLite under the user's cache folder (``$XDG_CACHE_HOME``
or ``~/.cache``, ``netrender/hashes.sqlite``; ``NETRENDER_HASH_CACHE`` names
another file), and a cache that cannot be opened only costs speed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path

from ..common.blobs import file_sha256

log = logging.getLogger(__name__)

ENV_VAR = "NETRENDER_HASH_CACHE"
SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)
"""


def default_path() -> Path:
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netrender" / "hashes.sqlite"


class HashCache:
    """SHA-256 of files by path, size, modification time and inode; thread-safe.

    ``path=None`` keeps nothing on disk (every file is hashed once per cache object).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, int, int, int, str]] = []
        self._memory: dict[tuple[str, int, int, int], str] = {}
        self._stored: dict[tuple[str, int, int, int], str] | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=10, check_same_thread=False)
                self._db.execute(SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                log.warning("hash cache %s unavailable, every file is hashed: %s", path, exc)
                self._db = None

    @classmethod
    def default(cls) -> HashCache:
        return cls(default_path())

    def sha256(self, path: Path) -> str:
        """The file's SHA-256, read from disk only when the file changed since it was last hashed."""
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        with self._lock:
            known = self._memory.get(key) or self._lookup(key)
        if known is not None:
            self.hits += 1
            return known
        self.misses += 1
        digest = file_sha256(path)
        with self._lock:
            self._memory[key] = digest
            self._pending.append((*key, digest))
        return digest

    def _lookup(self, key: tuple[str, int, int, int]) -> str | None:
        """What the table says, read whole on first use: one query, not one per file of a big project."""
        if self._stored is None:
            self._stored = {}
            if self._db is not None:
                try:
                    rows = self._db.execute("SELECT path, size, mtime_ns, inode, sha256 FROM hashes").fetchall()
                except sqlite3.Error:
                    rows = []
                self._stored = {(path, size, mtime, inode): sha for path, size, mtime, inode, sha in rows}
        return self._stored.get(key)

    def save(self) -> None:
        """Write what was hashed since the last save, in one transaction."""
        with self._lock:
            pending, self._pending = self._pending, []
            if self._db is None or not pending:
                return
            try:
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", pending)
            except sqlite3.Error as exc:
                log.warning("hash cache %s not updated: %s", self.path, exc)

    def close(self) -> None:
        self.save()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
