# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's state machine: jobs, frames and slaves, and what each request does to them.

The HTTP layer (``api``) parses requests and calls one method here; every state
change goes through :func:`model.next_frame_status` under one lock, so the
threads of the WSGI server never see half a change. Time is passed in as
``now``, so tests drive the farm without sleeping.

On disk, under ``<path>/master_<pid>/``::

    netrender.sqlite         jobs, frames, slaves
    store/ab/abcd…           every uploaded file once, by SHA-256
    job_<id>/files/…         the job's files, laid out as on the client
    job_<id>/frames/000001.exr
    job_<id>/logs/000001.log
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import threading
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .blobs import BlobStore, read_chunks, write_stream
from .dispatch import Dispatch
from .errors import Conflict, FrameNotReady, InvalidRequest, MissingFiles, NotFound, StorageFull, TooLarge
from .model import (
    Assignment,
    Frame,
    FrameEvent,
    FrameStatus,
    Job,
    JobControl,
    JobSpec,
)
from .store import Store

POINTER = "blender_master.data"
EXR_MAGIC = b"\x76\x2f\x31\x01"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def open_root(path: Path, pid: int | None = None) -> Path:
    """The master's folder under ``path``: the one the pointer names, or a new ``master_<pid>``.

    Reusing the folder the pointer names is what lets a restarted master resume
    its jobs even though its process id changed.
    """
    path.mkdir(parents=True, exist_ok=True)
    pointer = path / POINTER
    if pointer.is_file():
        named = path / pointer.read_text(encoding="utf-8").strip()
        if named.parent == path and named.is_dir():
            return named
    root = path / f"master_{os.getpid() if pid is None else pid}"
    root.mkdir(exist_ok=True)
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(root.name + "\n", encoding="utf-8")
    os.replace(tmp, pointer)
    return root


class Farm(Dispatch):
    """Jobs and their results; the slave-facing half is :class:`Dispatch`."""

    def __init__(self, root: Path, *, max_upload: int | None = None) -> None:
        self.root = root
        self.max_upload = max_upload
        self.store = Store(root / "netrender.sqlite")
        self.blobs = BlobStore(root / "store")
        self.lock = threading.RLock()
        super().__init__()
        # A master killed mid-upload leaves its temporary files: they were never accepted, so they go.
        for leftover in [*root.rglob(".part-*"), *root.rglob(".incoming-*")]:
            leftover.unlink(missing_ok=True)
        with self.lock, self.store.transaction():
            # Nobody is rendering for a master that just started: hand those frames out again.
            self._move(self.store.dispatched_frames(), FrameEvent.REQUEUE)
            lost = self._done_without_result()
            for frame in lost:
                frame.render_time = frame.finished_at = None
            self._move(lost, FrameEvent.RESET)
            for job_id in {f.job_id for f in lost}:
                self.store.update_job(job_id, finished_at=None)

    def _done_without_result(self) -> list[Frame]:
        """Done frames whose file is missing or empty: render them again.

        Results are not flushed to disk one by one (an fsync per frame cost
        more than the rest of the request, see docs/benchmarks.rst). A killed
        master loses nothing by it, as the kernel still holds the bytes; after
        a power cut, though, the database can say done for a frame whose file
        never reached the disk, which the file system leaves missing or empty.
        One ``stat`` per done frame at start finds those.
        """
        lost = []
        for job in self.store.jobs():
            if not job.counts.done:
                continue
            for frame in self.store.frames(job.id):
                if frame.status is FrameStatus.DONE:
                    try:
                        whole = self.frame_path(job.id, frame.number).stat().st_size >= len(EXR_MAGIC)
                    except FileNotFoundError:
                        whole = False
                    if not whole:
                        frame.message = "its result was lost (the master stopped before it reached the disk)"
                        lost.append(frame)
        return lost

    def close(self) -> None:
        with self.lock:
            self.closing = True
            self._wake()
        self.store.close()

    # -- paths ------------------------------------------------------------

    def job_dir(self, job_id: int) -> Path:
        return self.root / f"job_{job_id}"

    def frame_path(self, job_id: int, number: int) -> Path:
        return self.job_dir(job_id) / "frames" / f"{number:06d}.exr"

    def log_path(self, job_id: int, number: int) -> Path:
        return self.job_dir(job_id) / "logs" / f"{number:06d}.log"

    # -- jobs -------------------------------------------------------------

    def submit(self, spec: JobSpec, now: float) -> Job:
        """Create a job from files already uploaded; lay them out in the job's folder."""
        missing = self.blobs.missing(f.sha256 for f in spec.files)
        if missing:
            raise MissingFiles(f"{len(missing)} file(s) must be uploaded first", details={"missing": missing})
        with self.lock:
            job_id = self.store.add_job(spec, now)
            self.store.add_event(job_id, now, f"submitted: {len(spec.frames)} frame(s)")
        files = self.job_dir(job_id) / "files"
        for ref in spec.files:
            self.blobs.link(ref.sha256, files / ref.path)
        with self.lock:
            self._wake()
        return self.job(job_id)

    def job(self, job_id: int) -> Job:
        with self.lock:
            return self._live([self.store.job(job_id)], job_id)[0]

    def jobs(self) -> list[Job]:
        with self.lock:
            return self._live(self.store.jobs())

    def _live(self, jobs: list[Job], job_id: int | None = None) -> list[Job]:
        """Add what only the running farm knows: usage, slaves on it, pace."""
        busy = self.store.busy_by_job()
        pace = self.store.mean_render_times(job_id)
        for job in jobs:
            job.usage, job.busy = self.usage.get(job.id, 0.0), busy.get(job.id, 0)
            job.mean_render_time = pace.get(job.id)
        return jobs

    def history(self, job_id: int) -> list[dict[str, Any]]:
        with self.lock:
            self.store.job(job_id)
            return self.store.events(job_id)

    def blacklist_of(self, job_id: int) -> list[dict[str, Any]]:
        with self.lock:
            self.store.job(job_id)
            return self.store.job_blacklist(job_id)

    def edit(self, job_id: int, now: float, *, priority: int | None = None, chunks: int | None = None) -> Job:
        with self.lock:
            spec = self.store.job(job_id).spec
            changes = {k: v for k, v in (("priority", priority), ("chunks", chunks))
                       if v is not None and v != getattr(spec, k)}
            if changes:
                self.store.update_job(job_id, **changes)
                self.store.add_event(job_id, now, "changed " + ", ".join(f"{k} to {v}" for k, v in changes.items()))
            return self.job(job_id)

    def reset(
        self, job_id: int, now: float, numbers: Iterable[int] | None = None, *, every_frame: bool = False
    ) -> Job:
        """Queue frames again with a clean slate: the failed ones, the given ones, or every frame."""
        with self.lock, self.store.transaction():
            if self.store.job(job_id).control is JobControl.CANCELLED:
                raise Conflict(f"job {job_id} was cancelled; submit it again instead")
            frames = self.store.frames(job_id)
            if numbers is not None:
                wanted = set(numbers)
                unknown = wanted - {f.number for f in frames}
                if unknown:
                    raise NotFound(f"job {job_id} has no frame {min(unknown)}")
                targets = [f for f in frames if f.number in wanted]
            else:
                targets = [f for f in frames if every_frame or f.status is FrameStatus.ERROR]
            for frame in targets:
                frame.failures, frame.message, frame.render_time, frame.finished_at = 0, "", None, None
                self.thumbnail_path(job_id, frame.number).unlink(missing_ok=True)
            self._move(targets, FrameEvent.RESET)
            self.store.clear_failures(job_id, [f.number for f in targets])
            self.store.update_job(job_id, finished_at=None)
            if targets:
                what = "every frame" if every_frame else f"{len(targets)} frame(s)"
                self.store.add_event(job_id, now, f"{'requeued' if every_frame else 'reset'} {what}")
        return self.job(job_id)

    def frames(self, job_id: int) -> list[Frame]:
        with self.lock:
            self.store.job(job_id)
            return self.store.frames(job_id)

    def frame(self, job_id: int, number: int) -> Frame:
        with self.lock:
            return self.store.frame(job_id, number)

    def set_control(self, job_id: int, control: JobControl, now: float) -> Job:
        """Pause, resume or cancel. A cancelled job's slaves stop at their next heartbeat."""
        with self.lock, self.store.transaction():
            job = self.store.job(job_id)
            if job.control is JobControl.CANCELLED and control is not JobControl.CANCELLED:
                raise Conflict(f"job {job_id} was cancelled; submit it again instead")
            self.store.update_job(job_id, control=control.value)
            if control is not job.control:
                event = {JobControl.ACTIVE: "resumed", JobControl.PAUSED: "paused", JobControl.CANCELLED: "cancelled"}
                self.store.add_event(job_id, now, event[control])
            if control is JobControl.CANCELLED:
                self._move(
                    [f for f in self.store.frames(job_id) if f.status is FrameStatus.DISPATCHED],
                    FrameEvent.REQUEUE,
                )
            elif control is JobControl.ACTIVE:
                self._wake()
            return self.store.job(job_id)

    def remove(self, job_id: int, delete_files: bool) -> None:
        with self.lock:
            self.store.job(job_id)
            self.store.delete_job(job_id)
        if delete_files:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    # -- results ----------------------------------------------------------

    def complete_frame(
        self, job_id: int, number: int, slave_id: str, render_time: float, chunks: Iterable[bytes], now: float
    ) -> Frame:
        """Store a rendered frame; a frame already done keeps its first result.

        The bytes land under a unique temporary name first, on disk before the
        frame is marked done, and are renamed into place only under the lock,
        so two deliveries of one frame store it once.
        """
        return self._complete(job_id, number, slave_id, render_time, chunks, now, then_work=False)[0]

    def complete_and_next(
        self, job_id: int, number: int, slave_id: str, render_time: float, chunks: Iterable[bytes], now: float
    ) -> tuple[Frame, Assignment | None]:
        """:meth:`complete_frame`, then the slave's next chunk as :meth:`request_work` would give it.

        Both happen in one transaction: a busy slave's whole turn costs one
        request and one commit.
        """
        return self._complete(job_id, number, slave_id, render_time, chunks, now, then_work=True)

    def _complete(
        self, job_id: int, number: int, slave_id: str, render_time: float, chunks: Iterable[bytes], now: float,
        *, then_work: bool,
    ) -> tuple[Frame, Assignment | None]:
        with self.lock:  # unknown slave, job or frame: refuse before reading the body
            self.store.slave(slave_id)
            self.store.frame(job_id, number)
        final = self.frame_path(job_id, number)
        incoming = final.with_name(f".incoming-{uuid.uuid4().hex}.exr")
        placed = False
        try:
            self._receive_result(chunks, incoming)
            with self.lock, self.store.transaction():
                self.store.touch_slave(slave_id, now)
                frame = self.store.frame(job_id, number)
                if frame.status is not FrameStatus.DONE:
                    os.replace(incoming, final)
                    placed = True
                    self.thumbnail_path(job_id, number).unlink(missing_ok=True)  # an older render's preview
                    frame.slave_id, frame.render_time, frame.finished_at = slave_id, render_time, now
                    frame.message = ""
                    self._move([frame], FrameEvent.COMPLETE)
                    self.store.count_slave_frame(slave_id, done=True)
                    self._note_finish(job_id, now)
                return frame, self._hand_out(slave_id, now, ahead=True) if then_work else None
        finally:
            if not placed:
                incoming.unlink(missing_ok=True)

    def _receive_result(self, chunks: Iterable[bytes], path: Path) -> None:
        """Stream a frame result into the new file ``path`` and flush it to disk; it must be an EXR.

        :func:`blobs.write_stream` with less around it, for the many small
        files of a busy farm: the file is created under the name it will be
        renamed from, and its first bytes are checked as they pass instead of
        being read back. There is no fsync: it cost more than the rest of the
        request (the start-up check, :meth:`_done_without_result`, covers a
        power cut instead).

        :raise TooLarge: more than ``max_upload`` bytes arrived.
        :raise InvalidRequest: the bytes are not an OpenEXR file.
        :raise StorageFull: the disk is full.
        """
        limit, size, head = self.max_upload, 0, b""
        try:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:  # the job's first frame: no frames folder yet
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "wb") as out:
                for block in chunks:
                    size += len(block)
                    if limit is not None and size > limit:
                        raise TooLarge(f"upload is larger than the limit of {limit} bytes")
                    if len(head) < len(EXR_MAGIC):
                        head += bytes(block[: len(EXR_MAGIC) - len(head)])
                    out.write(block)
                if head != EXR_MAGIC:
                    raise InvalidRequest("a frame result must be an OpenEXR file")
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left to store {path.name}") from exc
            raise

    def thumbnail_path(self, job_id: int, number: int) -> Path:
        return self.job_dir(job_id) / "thumbs" / f"{number:06d}.png"

    def store_thumbnail(self, job_id: int, number: int, slave_id: str, chunks: Iterable[bytes], now: float) -> None:
        """Keep the thumbnail the slave that rendered a finished frame made; a PNG of at most 4 MiB."""
        with self.lock:
            self.store.touch_slave(slave_id, now)
            frame = self.store.frame(job_id, number)
            if frame.status is not FrameStatus.DONE or frame.slave_id != slave_id:
                raise Conflict(f"frame {number} of job {job_id} is not a finished frame of slave {slave_id}")
        path = self.thumbnail_path(job_id, number)
        incoming = path.with_name(f".incoming-{uuid.uuid4().hex}.png")
        write_stream(chunks, incoming, limit=4 << 20)
        try:
            with open(incoming, "rb") as fh:
                if fh.read(8) != PNG_MAGIC:
                    raise InvalidRequest("a thumbnail must be a PNG file")
            os.replace(incoming, path)
        finally:
            incoming.unlink(missing_ok=True)

    def thumbnail(self, job_id: int, number: int) -> Path:
        """The frame's thumbnail: the slave's, or one made now from the EXR."""
        frame = self.frame(job_id, number)
        if frame.status is not FrameStatus.DONE:
            raise FrameNotReady(f"frame {number} of job {job_id} is {frame.status.value}: no thumbnail yet",
                                details={"status": frame.status.value})
        path = self.thumbnail_path(job_id, number)
        if path.is_file():
            return path
        from .thumbnail import from_exr  # numpy and OpenEXR load only when a thumbnail is made

        return from_exr(self.frame_path(job_id, number), path)

    def results_zip(self, job_id: int) -> Iterator[bytes]:
        """Every finished frame of the job as one zip, made while it is sent.

        No temporary file and no whole file in memory: zipfile writes to a
        sink the generator empties after each block, so the download starts
        at once and costs no disk. EXRs are compressed already, so they are
        stored, not deflated.
        """
        done = [f.number for f in self.frames(job_id) if f.status is FrameStatus.DONE]
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            for number in done:
                path = self.frame_path(job_id, number)
                if not path.is_file():
                    continue
                with open(path, "rb") as src, archive.open(f"job_{job_id}/{number:06d}.exr", "w") as dst:
                    for block in read_chunks(src):
                        dst.write(block)
                        yield sink.take()
            yield sink.take()
        yield sink.take()

    def store_log(self, job_id: int, number: int, chunks: Iterable[bytes]) -> None:
        self.frame(job_id, number)
        write_stream(chunks, self.log_path(job_id, number), limit=self.max_upload)


class _Sink(io.RawIOBase):
    """A write-only stream that keeps what was written until :meth:`take`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out
