# SPDX-License-Identifier: GPL-3.0-or-later
"""Who a slave is to its master: its id, kept across restarts, and registering again when the master forgot it.

Keeping the id matters: releases and error reports waiting in the outbox name
frames the master holds under it. A master that answers ``unknown_slave`` (it
was started afresh, or dropped the slave) gets a new registration, and the
request is made again under the new id.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..common.connection import Connection
from ..common.errors import ApiError
from .config import SlaveConfig, machine_facts
from .facts import blender_facts

T = TypeVar("T")


class Identity:
    """The registration part of :class:`~netrender.slave.Slave`, which provides what is declared here."""

    config: SlaveConfig
    conn: Connection
    id: str | None
    on_status: Callable[[str], None]

    @property
    def folder(self) -> Path:
        return Path(self.config.path) / f"slave_{self.id}"

    def register(self) -> str:
        """Take back the id this slave's folder had, while the master knows it; else register anew.

        Keeping the id across restarts matters: releases and error reports left
        in the outbox name frames the master holds under that id.
        """
        kept = self._kept_id()
        if kept is not None and self.id is None:
            try:
                self.conn.post(f"/api/slaves/{kept}/heartbeat", {})
                self.id = kept
                self.on_status(f"back with {self.conn.url} as {self.id}")
                return self.id
            except ApiError as exc:
                if exc.code != "unknown_slave":
                    raise
        answer = self.conn.post("/api/slaves", {
            "name": self.config.name, "facts": self._facts(), "tags": list(self.config.tags),
        })
        self.id = str(answer["id"])
        self.folder.mkdir(parents=True, exist_ok=True)
        self._id_file.write_text(self.id + "\n", encoding="utf-8")
        self.on_status(f"registered with {self.conn.url} as {self.id}")
        return self.id

    def _facts(self) -> dict[str, Any]:
        """The machine, and what its Blender is and can do, less what the slave was told not to offer."""
        facts = {**machine_facts(), **blender_facts(self.config.blender)}
        if not self.config.denoise:
            facts["capabilities"] = [c for c in facts.get("capabilities", []) if c != "denoise"]
        return facts

    @property
    def _id_file(self) -> Path:
        return Path(self.config.path) / "slave_id"

    def _kept_id(self) -> str | None:
        try:
            text = self._id_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text if text.isalnum() and len(text) <= 64 else None

    def _as_registered(self, request: Callable[[str], T]) -> T:
        """Make ``request`` as this slave: register first if needed, and again if the master forgot us."""
        try:
            return request(self.id or self.register())
        except ApiError as exc:
            if exc.code != "unknown_slave":
                raise
        self.on_status("the master does not know this slave any more: registering again")
        return request(self.register())
