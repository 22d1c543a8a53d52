# SPDX-License-Identifier: GPL-3.0-or-later
"""A shared output folder that others write too: a frame found there is not rendered again.

A job with a shared output folder (``submit --shared-output``) may share it
with other farms, ``netrender render-local`` workers, or plain Blender
processes with *Placeholders* on and *Overwrite* off, as in DistributedBlend.
Before a slave renders a whole frame it claims the frame's file there, empty
and in one atomic step, as those do. If the file is there already:

- with bytes, the frame is done: that file is the frame's result, and the
  slave does not render it;
- empty, another process is rendering it: the slave waits for it (up to
  :data:`CLAIM_WAIT` seconds), then takes the file; a placeholder left longer
  than that (its process died) is rendered here after all.

The finished frame is then published over the claim (``files.publish``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..common.work import Assignment
from .config import SlaveConfig
from .session import FrameOutcome

CLAIM_WAIT = 600.0
POLL = 1.0


class SharedClaims:
    """The claiming part of :class:`~netrender.slave.Slave`."""

    config: SlaveConfig
    on_status: Callable[[str], None]
    clock: Callable[[], float]
    sleep: Callable[[float], object]

    def _claimed_elsewhere(self, work: Assignment, frame: int, output_dir: Path,
                           should_stop: Callable[[], bool]) -> FrameOutcome | None:
        """The frame's result if another process has it in the shared folder; ``None``: render it here."""
        if not work.output_dir:
            return None
        target = Path(self.config.path_map.local(work.output_dir)) / f"{frame:06d}.exr"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return None  # ours: render it
        except FileExistsError:
            pass
        except OSError:
            return None  # the folder cannot be written: publishing will say so; render as ever
        started = self.clock()
        while not _size(target):
            if should_stop():
                return FrameOutcome(frame, cancelled=True)
            if self.clock() - started > CLAIM_WAIT:
                return None  # a placeholder nobody finishes: its process is gone
            self.on_status(f"frame {frame} is being rendered by another process into {target.parent}: waiting")
            self.sleep(POLL)
        copy = output_dir / f"{frame:06d}.exr"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, copy)
        note = f"netrender: frame {frame} is in the shared output folder already ({target}): not rendered again"
        return FrameOutcome(frame, path=copy, seconds=0.0, log=[note])


    def _release_claim(self, work: Assignment, frame: int) -> None:
        """A frame that did not render here gives its claim back (an empty file), so no one waits for it."""
        if work.output_dir:
            target = Path(self.config.path_map.local(work.output_dir)) / f"{frame:06d}.exr"
            if target.is_file() and not _size(target):
                target.unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
