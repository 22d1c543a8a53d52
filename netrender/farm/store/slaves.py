# SPDX-License-Identifier: GPL-3.0-or-later
"""Rows of slaves, the farm-wide blacklist, and the master's settings.

What decides whether a slave may get work and which (:class:`SlaveGate`) is
kept in memory once read, as every work request and result asks it: it
changes only when an admin disables or blacklists a slave.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ...common.errors import UnknownSlave
from ...common.model import SlaveInfo


@dataclass(frozen=True)
class SlaveGate:
    """A registered slave's tags, whether it may get work at all, and what its Blender can do."""

    tags: frozenset[str]
    blacklisted: bool
    disabled: bool
    capabilities: frozenset[str] = frozenset()


def capabilities(facts: Any) -> frozenset[str]:
    """What a slave said its Blender can do (``facts["capabilities"]``); nothing, if it said nothing sensible."""
    said = facts.get("capabilities") if isinstance(facts, dict) else None
    return frozenset(c for c in said if isinstance(c, str)) if isinstance(said, list) else frozenset()


class SlaveRows:
    db: sqlite3.Connection
    gates: dict[str, SlaveGate]

    def _touched(self) -> None:
        raise NotImplementedError

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

    def slave_gate(self, slave_id: str) -> SlaveGate:
        """The slave's tags and flags; :class:`UnknownSlave` if it never registered (or the master forgot it)."""
        gate = self.gates.get(slave_id)
        if gate is None:
            row = self.db.execute(
                "SELECT tags, blacklisted, disabled, facts FROM slaves WHERE id = ?", (slave_id,)
            ).fetchone()
            if row is None:
                raise UnknownSlave(f"there is no slave {slave_id!r}; register first")
            self._touched()  # read inside a transaction that may roll back: forgotten with it
            gate = self.gates[slave_id] = SlaveGate(frozenset(json.loads(row[0])), bool(row[1]), bool(row[2]),
                                                    capabilities(json.loads(row[3])))
        return gate

    @staticmethod
    def _slave(row: sqlite3.Row) -> SlaveInfo:
        return SlaveInfo(
            id=row["id"], name=row["name"], address=row["address"], facts=json.loads(row["facts"]),
            tags=tuple(json.loads(row["tags"])), registered_at=row["registered_at"],
            last_seen=row["last_seen"], frames_done=row["frames_done"], frames_failed=row["frames_failed"],
            blacklisted=bool(row["blacklisted"]), disabled=bool(row["disabled"]),
        )

    def speeds(self) -> dict[str, str]:
        """Every slave's saved speed profile (JSON), by id."""
        return {row[0]: row[1] for row in self.db.execute("SELECT id, speed FROM slaves")}

    def save_speeds(self, profiles: dict[str, str]) -> None:
        self.db.executemany("UPDATE slaves SET speed = ? WHERE id = ?", [(p, i) for i, p in profiles.items()])

    def touch_slave(self, slave_id: str, now: float) -> None:
        """Note the slave was heard from at ``now`` (a frame it finished notes it too: schema step 6)."""
        cur = self.db.execute("UPDATE slaves SET last_seen = ? WHERE id = ?", (now, slave_id))
        if cur.rowcount == 0:
            raise UnknownSlave(f"there is no slave {slave_id!r}; register first")

    def count_failed_frame(self, slave_id: str) -> None:
        self.db.execute("UPDATE slaves SET frames_failed = frames_failed + 1 WHERE id = ?", (slave_id,))

    def set_blacklisted(self, slave_id: str, blacklisted: bool) -> None:
        cur = self.db.execute("UPDATE slaves SET blacklisted = ? WHERE id = ?", (int(blacklisted), slave_id))
        self._forget_gate(slave_id)
        if cur.rowcount == 0:
            raise UnknownSlave(f"there is no slave {slave_id!r}")

    def set_disabled(self, slave_id: str, disabled: bool) -> None:
        cur = self.db.execute("UPDATE slaves SET disabled = ? WHERE id = ?", (int(disabled), slave_id))
        self._forget_gate(slave_id)
        if cur.rowcount == 0:
            raise UnknownSlave(f"there is no slave {slave_id!r}")

    def _forget_gate(self, slave_id: str) -> None:
        self.gates.pop(slave_id, None)  # read again when next asked, committed or rolled back

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
