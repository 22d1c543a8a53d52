# SPDX-License-Identifier: GPL-3.0-or-later
"""Progress bars in a terminal, for the client's progress callbacks (:class:`~netrender.client.Progress`).

The command line and the demo show the same bars; the add-on shows progress in
Blender's render window instead.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from ..client import Progress


class BarProgress(Progress):
    """tqdm bars on stderr: bytes while uploading, frames while the job runs."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.upload: tqdm[Any] | None = None
        self.frames: tqdm[Any] | None = None

    def upload_started(self, files: int, total_bytes: int) -> None:
        if files:
            self.upload = tqdm(total=total_bytes, unit="B", unit_scale=True, desc=f"upload {files} file(s)",
                               disable=self.quiet, leave=False)

    def uploaded(self, nbytes: int) -> None:
        if self.upload is not None:
            self.upload.update(nbytes)

    def job_update(self, job: dict[str, Any]) -> None:
        counts = job["frame_count"]
        if self.frames is None:
            if self.upload is not None:
                self.upload.close()
            self.frames = tqdm(total=counts["total"], unit="frame", desc=f"job {job['id']}", disable=self.quiet)
        self.frames.update(counts["done"] - self.frames.n)
        self.frames.set_postfix_str(f"{counts['dispatched']} rendering, {counts['error']} failed", refresh=True)
        if job["status"] in ("finished", "failed", "cancelled"):
            self.frames.close()
