# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH nodes' rows: each node's settings, as JSON, in the order they were added."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


class NodeRows:
    db: sqlite3.Connection

    def nodes(self) -> list[dict[str, Any]]:
        return [json.loads(row[0]) for row in self.db.execute("SELECT spec FROM ssh_nodes ORDER BY added_at, name")]

    def put_node(self, name: str, spec: dict[str, Any], now: float) -> None:
        """Add a node, or change the settings of one already there (it keeps its place)."""
        self.db.execute("INSERT INTO ssh_nodes (name, spec, added_at) VALUES (?, ?, ?)"
                        " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec", (name, json.dumps(spec), now))

    def delete_node(self, name: str) -> bool:
        return self.db.execute("DELETE FROM ssh_nodes WHERE name = ?", (name,)).rowcount > 0
