# SPDX-License-Identifier: GPL-3.0-or-later
"""The client's core, without Blender: send a .blend and its dependencies, follow, fetch.

The steps are separate so the add-on and the CLI can drive them and show
progress: :meth:`Client.prepare` decides what the job needs (BAT tracing and
hashing), :meth:`Client.submit` uploads only what the master lacks and creates
the job, :meth:`Client.wait` follows it, and :meth:`Client.download` fetches
the finished frames. Progress goes to a :class:`Progress` whose methods do
nothing by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import deps
from .blobs import file_sha256
from .connection import Access, Connection
from .errors import InvalidRequest

FINAL_STATUSES = ("finished", "failed", "cancelled")


class Progress:
    """Hooks for a progress display; override what you show."""

    def missing_dependency(self, path: Path) -> None: ...

    def upload_started(self, files: int, total_bytes: int) -> None: ...

    def uploaded(self, nbytes: int) -> None: ...

    def job_update(self, job: dict[str, Any]) -> None: ...

    def downloaded(self, frame: int, path: Path) -> None: ...


@dataclass(frozen=True)
class LocalFile:
    abspath: Path
    path: str
    sha256: str
    size: int

    def ref(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass
class Submission:
    job: dict[str, Any]
    files: list[LocalFile]
    uploaded_files: int = 0
    uploaded_bytes: int = 0


@dataclass
class JobOptions:
    frames: Sequence[int]
    name: str = ""
    category: str = ""
    tags: Sequence[str] = ()
    priority: int = 1
    chunks: int = 1
    engine: str = "CYCLES"
    allow_scripts: bool = False


def parse_frames(text: str) -> list[int]:
    """``"1-12,20,30-32"`` → the frames, in order, each once."""
    frames: dict[int, None] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            low, high = int(first), int(last) if sep else int(first)
        except ValueError:
            raise InvalidRequest(f"{part!r} is not a frame or a range like 1-12") from None
        if high < low:
            raise InvalidRequest(f"frame range {part!r} ends before it starts")
        frames.update(dict.fromkeys(range(low, high + 1)))
    if not frames:
        raise InvalidRequest("no frames given")
    return list(frames)


class Client:
    def __init__(self, master: str | Connection, progress: Progress | None = None, *,
                 access: Access | None = None) -> None:
        """``access``: the token and trust for a master given by address (default: the environment's token)."""
        self.conn = master if isinstance(master, Connection) else Connection(master, access=access)
        self.progress = progress or Progress()

    def prepare(self, blend: Path) -> list[LocalFile]:
        """Trace and hash the files a job of ``blend`` needs; the .blend comes first."""
        return self.trace(blend)[0]

    def trace(self, blend: Path) -> tuple[list[LocalFile], dict[str, str]]:
        """The files (hashed) and the paths the slave must repoint, for a job of ``blend``."""
        traced = deps.trace(Path(blend), on_missing=self.progress.missing_dependency)
        files = [LocalFile(p, name, file_sha256(p), p.stat().st_size) for p, name in traced.files.items()]
        return files, traced.remap

    def submit(self, blend: Path, options: JobOptions, files: list[LocalFile] | None = None,
               remap: dict[str, str] | None = None) -> Submission:
        """Upload what the master lacks and create the job (``files``/``remap``: traced if not given)."""
        if files is None:
            files, remap = self.trace(blend)
        answer = self.conn.post("/api/files/missing", {"hashes": [f.sha256 for f in files]})
        missing = set(answer["missing"])
        to_send = list({f.sha256: f for f in files if f.sha256 in missing}.values())
        total = sum(f.size for f in to_send)
        self.progress.upload_started(len(to_send), total)
        for local in to_send:
            self.conn.put_file(f"/api/files/{local.sha256}", local.abspath, on_bytes=self.progress.uploaded)
        job = self.conn.post("/api/jobs", {
            "name": options.name or Path(blend).stem,
            "blend": files[0].path,
            "files": [f.ref() for f in files],
            "frames": list(options.frames),
            "category": options.category,
            "tags": list(options.tags),
            "priority": options.priority,
            "chunks": options.chunks,
            "engine": options.engine,
            "allow_scripts": options.allow_scripts,
            "remap": remap or {},
        })
        return Submission(job, files, len(to_send), total)

    def job(self, job_id: int) -> dict[str, Any]:
        return self.conn.get(f"/api/jobs/{job_id}")  # type: ignore[no-any-return]

    def jobs(self) -> list[dict[str, Any]]:
        return self.conn.get("/api/jobs")["jobs"]  # type: ignore[no-any-return]

    def wait(self, job_id: int, poll: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        """Follow a job until it finishes, fails or is cancelled; return its last state."""
        while True:
            job = self.job(job_id)
            self.progress.job_update(job)
            if job["status"] in FINAL_STATUSES:
                return job
            sleep(poll)

    def download(self, job_id: int, folder: Path) -> list[Path]:
        """Fetch every finished frame of a job into ``folder`` as ``000001.exr``…"""
        job = self.job(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for frame in job["frames"]:
            if frame["status"] != "done":
                continue
            dest = folder / f"{frame['number']:06d}.exr"
            self.conn.download(f"/api/jobs/{job_id}/frames/{frame['number']}/result", dest)
            self.progress.downloaded(frame["number"], dest)
            saved.append(dest)
        return saved
