# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH nodes the master drives: which there are, kept in SQLite so a restarted master drives them again.

The farm only keeps the list; the master's :class:`netrender.ssh.pool.NodePool`
follows it, starting a slave for each node added and stopping the slave of
each node removed. Each such slave registers like any other, under the node's
name, and is balanced, retried and blacklisted as one.
"""

from __future__ import annotations

import threading

from ..common.errors import NotFound
from ..common.nodes import NodeSpec
from .store import Store


class NodeList:
    store: Store
    lock: threading.RLock

    def nodes(self) -> list[NodeSpec]:
        with self.lock:
            return [NodeSpec.from_json(data) for data in self.store.nodes()]

    def add_node(self, node: NodeSpec, now: float) -> NodeSpec:
        """Add ``node``, or take its new settings if one of that name is there."""
        with self.lock, self.store.transaction():
            self.store.put_node(node.name, node.to_json(), now)
        return node

    def remove_node(self, name: str) -> None:
        with self.lock, self.store.transaction():
            if not self.store.delete_node(name):
                raise NotFound(f"there is no SSH node {name!r}")
