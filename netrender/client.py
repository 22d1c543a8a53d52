# SPDX-License-Identifier: GPL-3.0-or-later
"""The client's core, without Blender: send a .blend and its dependencies, follow, fetch.

The steps are separate so the add-on and the CLI can drive them and show
progress: :meth:`Client.submit` packs the .blend with its dependencies
(:mod:`netrender.pack.packer`: blender-asset-tracer decides where each file goes in
the job and rewrites the .blend files that must change), uploads only what the
master lacks and creates the job; :meth:`Client.wait` follows it, and
:meth:`Client.download` fetches the finished frames. Progress goes to a
:class:`Progress` whose methods do nothing by default.

A file the .blend names but that is not on the artist's machine does not stop
the job: it renders as Blender would render it there (a missing image comes
out magenta), and the job lists the missing files. ``strict`` refuses instead.

A master may restart while a client waits on it: :meth:`Client.wait` keeps
polling through a master that cannot be reached, waiting longer each time
(``polling``, see :mod:`netrender.common.retry`) until it answers or the policy's
deadline passes; an upload broken by a lost connection starts again from its
first byte (``uploads``, a few tries), which is safe because the master
writes each upload under a temporary name and keeps it only when complete.
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import retry
from .common.connection import Access, Connection
from .common.errors import ApiError, InvalidRequest, NetrenderError
from .common.framestate import FrameProgress, frame_progress
from .common.retry import POLL_BACKOFF, UPLOAD_BACKOFF, Attempts, Backoff
from .pack import packer
from .pack.hashes import HashCache
from .pack.options import JobOptions, job_request
from .pack.packer import LocalFile
from .pack.vcs import Repository

__all__ = ["FINAL_STATUSES", "Client", "JobOptions", "LocalFile", "Progress", "Submission"]

log = logging.getLogger(__name__)

FINAL_STATUSES = ("finished", "failed", "cancelled")


class Progress:
    """Hooks for a progress display; override what you show."""

    def missing_dependency(self, path: Path) -> None:
        """The .blend names ``path``, which does not exist here: the job renders without it."""

    def upload_started(self, files: int, total_bytes: int) -> None: ...

    def uploaded(self, nbytes: int) -> None:
        """``nbytes`` more were sent; negative when a broken upload starts again from the beginning."""

    def retrying(self, what: str, error: NetrenderError, delay: float) -> None:
        """``what`` failed with ``error`` and is tried again in ``delay`` seconds."""
        log.warning("%s: %s; trying again in %.1f s", what, error, delay)

    def job_update(self, job: dict[str, Any]) -> None: ...

    def downloaded(self, frame: int, path: Path) -> None: ...


@dataclass
class Submission:
    job: dict[str, Any]
    files: list[LocalFile]
    uploaded_files: int = 0
    uploaded_bytes: int = 0
    missing: list[Path] = field(default_factory=list)  # named by the .blend, not found on this machine


class Client:
    def __init__(self, master: str | Connection, progress: Progress | None = None, *,
                 access: Access | None = None, polling: Backoff = POLL_BACKOFF, uploads: Backoff = UPLOAD_BACKOFF,
                 sleep: Callable[[float], object] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 random: Callable[[], float] = _random.random, hashes: HashCache | None = None) -> None:
        """``access``: the token and trust for a master given by address (default: the environment's token).

        ``polling`` and ``uploads`` are the retry policies of :meth:`wait` and
        of each upload; ``sleep``, ``clock`` and ``random`` drive their waits (tests pass fakes).
        ``hashes`` remembers file hashes between submits (default: the user's cache folder).
        """
        self.conn = master if isinstance(master, Connection) else Connection(master, access=access)
        self.progress = progress or Progress()
        self.polling, self.uploads = polling, uploads
        self.sleep, self.clock, self.random = sleep, clock, random
        self.hashes = hashes

    def submit(self, blend: Path, options: JobOptions, files: list[LocalFile] | None = None) -> Submission:
        """Pack ``blend``, upload what the master lacks and create the job.

        ``files`` skips the packing: they are sent as they are, the first one
        being the .blend (tests send files that are not real .blend files).

        :raise MissingDependencies: ``options.strict`` and the .blend names
            files that are not there; nothing was sent.
        """
        if options.shared:
            return self._submit_in_place(Path(blend), options)
        sent = Submission({}, [])
        if files is None:
            hashes = self.hashes or HashCache.default()
            try:
                packed = packer.pack(Path(blend), lambda found: self._send(found, sent), hashes=hashes,
                                     on_missing=self.progress.missing_dependency,
                                     allow_missing=not options.strict)
            finally:
                if self.hashes is None:
                    hashes.close()
            files, sent.missing = packed.files, packed.missing
        else:
            self._send(files, sent)
        sent.files = files
        sent.job = self._create(Path(blend), options, {
            "blend": files[0].path, "files": [f.ref() for f in files], "missing": [str(p) for p in sent.missing],
        })
        return sent

    def submit_versioned(self, blend: Path, repository: Repository, options: JobOptions) -> Submission:
        """A job whose slaves check ``repository`` out at its revision: nothing is uploaded."""
        job = self._create(Path(blend), options, {
            "vcs": repository.system, "remote": repository.remote, "revision": repository.revision,
            "blend": repository.path, "files": []})
        return Submission(job, [])

    def _submit_in_place(self, blend: Path, options: JobOptions) -> Submission:
        """A job whose slaves read its files where they are, on shared storage: listed, not uploaded."""
        found, missing = packer.survey(blend, on_missing=self.progress.missing_dependency,
                                       allow_missing=not options.strict)
        job = self._create(blend, options, {
            "shared": True, "blend": str(packer.absolute(blend)), "files": [],
            "found": [str(p) for p in found], "missing": [str(p) for p in missing],
        })
        return Submission(job, [], missing=missing)

    def _create(self, blend: Path, options: JobOptions, files: dict[str, Any]) -> dict[str, Any]:
        return self.conn.post("/api/jobs", job_request(blend, options, files))  # type: ignore[no-any-return]

    def _send(self, files: list[LocalFile], sent: Submission) -> None:
        """Upload, by SHA-256, the files the master does not have yet (each once, however many names it has)."""
        # The paths let a master on the same storage copy what it can see, instead of receiving it.
        sources = [{"sha256": f.sha256, "size": f.size, "path": str(f.abspath)} for f in files]
        answer = self.conn.post("/api/files/missing", {"hashes": [f.sha256 for f in files], "sources": sources})
        lacking = set(answer["missing"])
        to_send = list({f.sha256: f for f in files if f.sha256 in lacking}.values())
        sent.uploaded_files, sent.uploaded_bytes = len(to_send), sum(f.size for f in to_send)
        self.progress.upload_started(sent.uploaded_files, sent.uploaded_bytes)
        for local in to_send:
            self.upload(local)

    def speedtest(self, blend: Path | None, *, frame: int = 1, scale: int = 25) -> Submission:
        """Have every slave render the fixed test scene, and ``blend`` (if given) at ``scale`` % of its size.

        A job of its own, at the highest priority, a task pinned to each slave
        alive now; the master keeps each slave's times in its speed profile.
        """
        options = JobOptions(frames=[frame], name="speed test", priority=100, speedtest=scale)
        if blend is not None:
            return self.submit(blend, options)
        job = self.conn.post("/api/jobs", {"name": options.name, "kind": "speedtest", "frames": [frame],
                                           "files": [], "priority": options.priority, "scale": scale})
        return Submission(job, [])

    def fetch_bakes(self, job_id: int, folder: Path) -> list[tuple[str, str, Path]]:
        """A finished bake job's caches: (object, cache, zip of its files) each, downloaded into ``folder``."""
        job = self.job(job_id)
        if job.get("kind") != "bake":
            raise InvalidRequest(f"job {job_id} is a job of {job.get('kind', 'frames')}, not a bake")
        out = []
        for number, (obj, cache) in enumerate(job["caches"], start=1):
            path = Path(folder) / f"{number:06d}.zip"
            self.conn.download(f"/api/jobs/{job_id}/frames/{number}/result", path)
            out.append((obj, cache, path))
        return out

    def slaves(self) -> list[dict[str, Any]]:
        return self.conn.get("/api/slaves")["slaves"]  # type: ignore[no-any-return]

    def job(self, job_id: int) -> dict[str, Any]:
        return self.conn.get(f"/api/jobs/{job_id}")  # type: ignore[no-any-return]

    def frame_progress(self, job_id: int, frame: int) -> tuple[dict[str, Any], FrameProgress | None]:
        """The job (its summary) and where its Blender frame ``frame`` stands (``None``: the job does not render it).

        A frames job answers from two small requests; a tiled job's detail
        lists its tasks, which say which tiles are done and where they go.
        """
        job = self.conn.get(f"/api/jobs/{job_id}", params={"frames": "false"})
        if job.get("kind", "frames") != "frames":
            job = self.job(job_id)
            return job, frame_progress(job, frame)
        try:
            task = self.conn.get(f"/api/jobs/{job_id}/frames/{frame}")
        except ApiError as exc:
            if exc.status == 404:
                return job, None
            raise
        counts = job["frame_count"]
        return job, FrameProgress(task["status"], task["message"], [], counts["done"], counts["total"])

    def cancel(self, job_id: int) -> dict[str, Any]:
        return self.conn.post(f"/api/jobs/{job_id}/cancel")  # type: ignore[no-any-return]

    def jobs(self) -> list[dict[str, Any]]:
        return self.conn.get("/api/jobs")["jobs"]  # type: ignore[no-any-return]

    def upload(self, local: LocalFile) -> None:
        """Send one file; after a lost connection send it again from the start, as ``uploads`` allows.

        The bytes of a broken try are taken back from the progress, so it
        counts each byte once however many tries the file takes.
        """
        sent = 0

        def count(nbytes: int) -> None:
            nonlocal sent
            sent += nbytes
            self.progress.uploaded(nbytes)

        def attempt() -> None:
            nonlocal sent
            if sent:
                self.progress.uploaded(-sent)
                sent = 0
            self.conn.put_file(f"/api/files/{local.sha256}", local.abspath, on_bytes=count)

        retry.call(attempt, self.uploads, sleep=self.sleep, clock=self.clock, random=self.random,
                   on_retry=lambda exc, delay: self.progress.retrying(f"upload of {local.path}", exc, delay))

    def wait(self, job_id: int, poll: float = 1.0, sleep: Callable[[float], object] | None = None) -> dict[str, Any]:
        """Follow a job until it finishes, fails or is cancelled; return its last state.

        It polls every ``poll`` seconds. A master that cannot be reached is
        asked again after the waits of ``polling``; once that policy gives up,
        the last :class:`MasterUnreachable` is raised.
        """
        sleep = sleep or self.sleep
        failures = Attempts(self.polling, self.random)
        while True:
            try:
                job = self.job(job_id)
            except NetrenderError as exc:
                delay = failures.failed(self.clock()) if retry.transient(exc) else None
                if delay is None:
                    raise
                self.progress.retrying(f"following job {job_id}", exc, delay)
                sleep(delay)
                continue
            failures.succeeded()
            self.progress.job_update(job)
            if job["status"] in FINAL_STATUSES:
                return job
            sleep(poll)

    def download(self, job_id: int, folder: Path) -> list[Path]:
        """Fetch every finished frame of a job into ``folder`` as ``000001.exr``… (a tiled frame once stitched)."""
        job = self.job(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        outputs = job.get("outputs") or [{"frame": f["number"], "status": f["status"]} for f in job["frames"]]
        saved = []
        for output in outputs:
            if output["status"] != "done":
                continue
            frame = output["frame"]
            dest = folder / f"{frame:06d}.exr"
            self.conn.download(f"/api/jobs/{job_id}/outputs/{frame}", dest)
            self.progress.downloaded(frame, dest)
            saved.append(dest)
        return saved
