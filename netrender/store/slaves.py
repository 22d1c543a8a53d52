# SPDX-License-Identifier: GPL-3.0-or-later
"""Rows of slaves, the farm-wide blacklist, and the master's settings."""

from __future__ import annotations

import json
import sqlite3

from ..errors import UnknownSlave
from ..model import SlaveInfo


class SlaveRows:
    db: sqlite3.Connection

    def add_slave(self, slave: SlaveInfo) -> None:
        self.db.execute(
            "INSERT INTO slaves (id, name, address, facts, tags, registered_at, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (slave.id, slave.name, slave.address, json.dumps(slave.facts), json.dumps(list(slave.tags)),
             slave.registered_at, slave.last_seen),
        )

    def slave(self, slave_id: str) -> SlaveInfo:
        row = self.db.execute("SELECT * FROM slaves WHERE id = ?", (slave_id,)).fetchone()
        if row is None:
            raise UnknownSlave(f"there is no slave {slave_id!r}; register first")
        return self._slave(row)

    def slaves(self) -> list[SlaveInfo]:
        return [self._slave(r) for r in self.db.execute("SELECT * FROM slaves ORDER BY registered_at")]

    @staticmethod
    def _slave(row: sqlite3.Row) -> SlaveInfo:
        return SlaveInfo(
            id=row["id"], name=row["name"], address=row["address"], facts=json.loads(row["facts"]),
            tags=tuple(json.loads(row["tags"])), registered_at=row["registered_at"],
            last_seen=row["last_seen"], frames_done=row["frames_done"], frames_failed=row["frames_failed"],
            blacklisted=bool(row["blacklisted"]), disabled=bool(row["disabled"]),
        )

    def touch_slave(self, slave_id: str, now: float) -> None:
        cur = self.db.execute("UPDATE slaves SET last_seen = ? WHERE id = ?", (now, slave_id))
        if cur.rowcount == 0:
            raise UnknownSlave(f"there is no slave {slave_id!r}; register first")

    def count_slave_frame(self, slave_id: str, done: bool) -> None:
        column = "frames_done" if done else "frames_failed"
        self.db.execute(f"UPDATE slaves SET {column} = {column} + 1 WHERE id = ?", (slave_id,))

    def set_blacklisted(self, slave_id: str, blacklisted: bool) -> None:
        cur = self.db.execute("UPDATE slaves SET blacklisted = ? WHERE id = ?", (int(blacklisted), slave_id))
        if cur.rowcount == 0:
            raise UnknownSlave(f"there is no slave {slave_id!r}")

    def set_disabled(self, slave_id: str, disabled: bool) -> None:
        cur = self.db.execute("UPDATE slaves SET disabled = ? WHERE id = ?", (int(disabled), slave_id))
        if cur.rowcount == 0:
            raise UnknownSlave(f"there is no slave {slave_id!r}")

    def farm_blacklist(self) -> set[str]:
        return {s for (s,) in self.db.execute("SELECT id FROM slaves WHERE blacklisted = 1")}

    def last_seen(self) -> dict[str, float]:
        return {s: t for s, t in self.db.execute("SELECT id, last_seen FROM slaves")}

    def setting(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def live_slaves(self, seen_since: float) -> int:
        """How many slaves were heard from since ``seen_since`` and may get work."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM slaves WHERE last_seen >= ? AND blacklisted = 0 AND disabled = 0", (seen_since,)
        ).fetchone()
        return int(row[0])
