# SPDX-License-Identifier: GPL-3.0-or-later
"""Each slave's measured speed: seconds per whole frame, per megapixel of tiles, and its last speed tests.

"Blender Network Render" split a still by speed profiles that a person had to
measure; here every finished task measures its slave: a frame's render time,
or a tile's time per megapixel (tiles differ in size), each an exponential
average that follows a machine whose load changes. ``netrender speedtest``
adds a fixed machine test and a small render of a chosen file, comparable
between slaves. The profiles live in memory, where every result updates them,
and reach SQLite from the master's housekeeping, not from the result's request.
"""

from __future__ import annotations

import json
from typing import Any

from ..common.work import TaskDetail

#: How much of the average the newest measure makes.
WEIGHT = 0.3
FIELDS = ("frame_seconds", "tile_seconds_per_mpix", "machine_seconds", "file_seconds")


def empty() -> dict[str, Any]:
    return {**dict.fromkeys(FIELDS), "samples": 0}


class Speeds:
    """The profiles of all slaves, by id; :meth:`dirty` says which changed since they were last saved."""

    def __init__(self, stored: dict[str, str]) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        for slave_id, text in stored.items():
            try:
                saved = json.loads(text or "{}")
            except ValueError:
                saved = {}
            self.profiles[slave_id] = {**empty(), **{k: saved.get(k) for k in (*FIELDS, "samples") if k in saved}}
        self._dirty: set[str] = set()

    def of(self, slave_id: str) -> dict[str, Any]:
        return dict(self.profiles.get(slave_id) or empty())

    def note(self, slave_id: str, detail: TaskDetail | None, seconds: float) -> None:
        """A task the slave finished in ``seconds``: a frame, a tile, or a speed test."""
        if seconds <= 0:
            return
        profile = self.profiles.setdefault(slave_id, empty())
        if detail is None:
            key, value = "frame_seconds", seconds
        elif detail.kind == "tile":
            x0, y0, x1, y1 = detail.rect
            key, value = "tile_seconds_per_mpix", seconds / max((x1 - x0) * (y1 - y0) / 1e6, 1e-9)
        elif detail.kind in ("machine", "file"):
            profile[f"{detail.kind}_seconds"] = seconds  # a test is its own measure, not an average
            self._dirty.add(slave_id)
            return
        else:
            return
        old = profile.get(key)
        profile[key] = value if old is None else old + WEIGHT * (value - old)
        profile["samples"] = int(profile.get("samples") or 0) + 1
        self._dirty.add(slave_id)

    def dirty(self) -> dict[str, str]:
        """The changed profiles as JSON, by slave id; forgotten as changed once asked."""
        changed, self._dirty = self._dirty, set()
        return {slave_id: json.dumps(self.profiles[slave_id]) for slave_id in changed if slave_id in self.profiles}
