# SPDX-License-Identifier: GPL-3.0-or-later
"""How a job becomes tasks, when a task may start, and which task gives a frame its result (a job type).

The farm keeps, dispatches, retries and reports *tasks*; balancing,
blacklists, the outbox, the monitor and the CLI all work on them. A job's
kind says what they are:

- **frames**: a task per frame, numbered by its frame; a task's result is the
  frame. This is every job netrender had before tiles, unchanged.
- **tiles**: each frame cut into a grid of regions (:mod:`~netrender.common.tiling`),
  each rendered by Cycles as a border render on whichever slave is free, then
  one more task per frame stitches them into the frame (and denoises it whole,
  when the job asks). The tiles of frame *i* (in the job's frame order) are
  tasks ``i*T + 1 … (i+1)*T``; its stitch is task ``F*T + i + 1``. A stitch
  waits for its tiles; one that denoises needs a slave whose Blender can.
- **speedtest**: tasks pinned to each slave alive: a fixed machine test, and
  the job's .blend at a small size.
- **bake**: task *n* bakes the scene's point cache ``caches[n-1]`` to disk;
  its result is a zip of the cache's files, not a picture.

Everything here is pure: a :class:`Plan` is built from the job's spec once,
kept with the job, and answers the farm's questions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..common import tiling
from ..common.model import JobSpec
from ..common.work import TaskDetail

#: What a slave must be able to do for a stitch that denoises: Blender built with OpenImageDenoise.
DENOISE = "denoise"


@dataclass(frozen=True)
class Plan:
    """A job's tasks, as far as its kind shapes them."""

    kind: str = "frames"
    frames: tuple[int, ...] = ()  # tiles: the Blender frames, in the job's order
    grid: tuple[int, int] = (1, 1)  # tiles: columns, rows
    size: tuple[int, int] = (0, 0)  # tiles: the frame's pixels
    denoise: bool = False
    slaves: tuple[str, ...] = ()  # speedtest: the slaves tested, each given its own tasks
    tests: tuple[str, ...] = ()  # speedtest: "machine", then "file" when the job has a .blend
    scale: int = 100  # speedtest: the file test's resolution, in percent
    caches: tuple[tuple[str, str], ...] = ()  # bake: each task's point cache (object, cache name)

    @classmethod
    def of(cls, spec: JobSpec, slaves: tuple[str, ...] = ()) -> Plan:
        """The plan of a job; ``slaves``: those a speed test tests (the farm picks them)."""
        if spec.kind == "frames":
            return cls()
        if spec.kind == "bake":
            return cls("bake", caches=spec.caches)
        if spec.kind == "speedtest":
            tests = ("machine", "file") if spec.blend else ("machine",)
            return cls("speedtest", tuple(spec.frames), slaves=slaves, tests=tests, scale=spec.scale)
        return cls("tiles", tuple(spec.frames), tiling.grid(spec.tiles, *spec.size), spec.size, spec.denoise)

    def to_json(self) -> str:
        if self.kind == "frames":
            return "{}"
        if self.kind == "bake":
            return json.dumps({"kind": "bake", "caches": [list(c) for c in self.caches]})
        return json.dumps({"kind": self.kind, "frames": list(self.frames), "grid": list(self.grid),
                           "size": list(self.size), "denoise": self.denoise, "slaves": list(self.slaves),
                           "tests": list(self.tests), "scale": self.scale})

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data: dict[str, Any] = json.loads(text or "{}")
        if data.get("kind", "frames") == "frames":
            return cls()
        if data["kind"] == "bake":
            return cls("bake", caches=tuple((o, c) for o, c in data["caches"]))
        columns, rows = data["grid"]
        width, height = data["size"]
        return cls(data["kind"], tuple(data["frames"]), (columns, rows), (width, height), bool(data["denoise"]),
                   tuple(data.get("slaves", ())), tuple(data.get("tests", ())), int(data.get("scale", 100)))

    @property
    def tiles(self) -> int:
        """Tiles per frame (0 for a job of frames)."""
        return self.grid[0] * self.grid[1] if self.kind == "tiles" else 0

    def task_numbers(self, frames: tuple[int, ...]) -> list[int]:
        """Every task of the job, in the order they are handed out; ``frames`` is the spec's."""
        if self.kind == "frames":
            return list(frames)
        if self.kind == "speedtest":
            return list(range(1, len(self.slaves) * len(self.tests) + 1))
        if self.kind == "bake":
            return list(range(1, len(self.caches) + 1))
        return list(range(1, len(self.frames) * (self.tiles + 1) + 1))

    def detail(self, number: int) -> TaskDetail | None:
        """What task ``number`` is; ``None`` for a frame of a job of frames."""
        if self.kind == "frames":
            return None
        if self.kind == "bake":
            return TaskDetail(number, "bake", number, cache=self.caches[number - 1])
        if self.kind == "speedtest":
            test = self.tests[(number - 1) % len(self.tests)]
            return TaskDetail(number, test, self.frames[0] if test == "file" else 1,
                              scale=self.scale if test == "file" else 100)
        tiles, frames = self.tiles, len(self.frames)
        if number <= frames * tiles:
            index, tile = divmod(number - 1, tiles)
            return TaskDetail(number, "tile", self.frames[index], self.size, self._rect(tile), self.denoise)
        index = number - frames * tiles - 1
        inputs = tuple((index * tiles + tile + 1, self._rect(tile)) for tile in range(tiles))
        return TaskDetail(number, "stitch", self.frames[index], self.size, (0, 0, *self.size), self.denoise, inputs)

    def _rect(self, tile: int) -> tiling.Rect:
        return tiling.rect(tile, *self.grid, *self.size)

    def waiting(self, queued: list[int], done: set[int]) -> set[int]:
        """The queued tasks that cannot start yet: stitches whose tiles are not all done."""
        blocked = set()
        for number in queued:
            detail = self.detail(number)
            if detail is not None and detail.kind == "stitch" and not {n for n, _ in detail.inputs} <= done:
                blocked.add(number)
        return blocked

    def dependents(self, number: int) -> list[int]:
        """The tasks that cannot run without task ``number``'s result: a tile's stitch."""
        if self.kind != "tiles" or number > len(self.frames) * self.tiles:
            return []
        return [len(self.frames) * self.tiles + (number - 1) // self.tiles + 1]

    def prerequisites(self, number: int) -> list[int]:
        """The tasks whose results task ``number`` needs: a stitch's tiles."""
        detail = self.detail(number)
        return [n for n, _ in detail.inputs] if detail is not None and detail.kind == "stitch" else []

    def pinned(self, number: int) -> str | None:
        """The only slave that may take task ``number`` (a speed test measures one slave), or ``None``."""
        if self.kind != "speedtest":
            return None
        return self.slaves[(number - 1) // len(self.tests)]

    def needs(self, number: int) -> frozenset[str]:
        """What a slave must be able to do to take task ``number``."""
        detail = self.detail(number)
        denoising = detail is not None and detail.kind == "stitch" and detail.denoise
        return frozenset({DENOISE}) if denoising else frozenset()

    def output(self, frame: int) -> int:
        """The task whose result is ``frame``'s: the frame itself, or its stitch."""
        if self.kind in ("frames", "speedtest", "bake"):
            return frame
        return len(self.frames) * self.tiles + self.frames.index(frame) + 1

    def outputs(self, frames: list[int]) -> list[tuple[int, int]]:
        """Each Blender frame and the task giving its result; ``frames``: a job of frames' task numbers."""
        if self.kind == "frames":
            return [(frame, frame) for frame in frames]
        if self.kind in ("speedtest", "bake"):
            return []  # measures or caches, not pictures
        return [(frame, self.output(frame)) for frame in self.frames]
