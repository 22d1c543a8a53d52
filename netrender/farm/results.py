# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm's results: where each frame's files live, and storing what slaves send.

A result lands under a temporary name, is checked to be an EXR as it streams
in, and is renamed into ``job_<id>/frames/`` under the farm's lock, so a frame
delivered twice is stored once and a half upload never counts as done. The
answer to a result can carry the slave's next chunk (:meth:`Results.complete_and_next`),
in the same transaction. Logs, thumbnails and a job's frames as a zip are here too.
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import os
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.blobs import read_chunks, write_stream
from ..common.errors import Conflict, FrameNotReady, InvalidRequest, NotFound, StorageFull, TooLarge
from ..common.model import Frame, FrameEvent, FrameStatus, Job
from ..common.work import Assignment
from .housekeeping import Housekeeping

EXR_MAGIC = b"\x76\x2f\x31\x01"
ZIP_MAGIC = b"PK\x03\x04"  # a bake's result: the cache files it wrote
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PID = os.getpid()
_SERIAL = itertools.count()  # names uploads in progress; next() is atomic under the GIL


class Results(Housekeeping):
    """The result half of :class:`~netrender.farm.jobs.Farm`, which provides the rest."""

    root: Path
    max_upload: int | None

    if TYPE_CHECKING:
        def job(self, job_id: int) -> Job: ...

        def frame(self, job_id: int, number: int) -> Frame: ...

        def frames(self, job_id: int) -> list[Frame]: ...

    # -- paths ------------------------------------------------------------

    # Made by formatting, one Path each: joining parts was a tenth of a result's time in Python.

    def job_dir(self, job_id: int) -> Path:
        return Path(f"{self.root}/job_{job_id}")

    def frame_path(self, job_id: int, number: int) -> Path:
        return Path(self._frame_file(job_id, number))

    def _frames_dir(self, job_id: int) -> str:
        return f"{self.root}/job_{job_id}/frames"  # strings, not Paths, on a result's hot path

    def _frame_file(self, job_id: int, number: int) -> str:
        return f"{self._frames_dir(job_id)}/{number:06d}.exr"

    def log_path(self, job_id: int, number: int) -> Path:
        return Path(f"{self.root}/job_{job_id}/logs/{number:06d}.log")

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
        # An unknown slave or job is refused before the body is read (a frame number, after). Both are usually
        # in memory already, and a look there needs no lock: the lock is what a busy master's threads queue for.
        if slave_id not in self.store.gates or job_id not in self.store.open_jobs:
            with self.lock:
                self.store.slave_gate(slave_id)
                self.store.job(job_id)
        final = self._frame_file(job_id, number)
        incoming = f"{self._frames_dir(job_id)}/.incoming-{_PID}-{next(_SERIAL)}.exr"  # unique, without a syscall
        placed = False
        try:
            head = self._receive_result(chunks, incoming)
            with self.lock, self.store.transaction():
                plan = self.store.plan(job_id)
                if (head == ZIP_MAGIC) != (plan.kind == "bake"):
                    raise InvalidRequest("a bake's result must be a zip of its cache files" if head == EXR_MAGIC
                                         else "a frame result must be an OpenEXR file")
                frame = self.store.frame(job_id, number)
                if frame.status is FrameStatus.DONE:  # stored once; a move to done notes the slave itself (step 6)
                    self.store.touch_slave(slave_id, now)
                else:
                    os.replace(incoming, final)
                    placed = True
                    frame.slave_id, frame.render_time, frame.finished_at = slave_id, render_time, now
                    frame.message = ""
                    self._move([frame], FrameEvent.COMPLETE)
                    detail = plan.detail(number)
                    self.speeds.note(slave_id, detail, render_time)
                    if detail is not None:  # a tile done may free its frame's stitch: idle slaves may want it
                        self._wake()
                    self._note_finish(job_id, now)
                work = self._hand_out(slave_id, now, ahead=True) if then_work else None
                if work is None and slave_id in self.waiting_slaves:
                    self._wake()  # the slave waits for work in another request: let that one look
                return frame, work
        finally:
            if not placed:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(incoming)

    def _receive_result(self, chunks: Iterable[bytes], path: str) -> bytes:
        """Stream a frame result into the new file ``path``; it must be an EXR (or a bake's zip); its magic.

        :func:`blobs.write_stream` with less around it, for the many small
        files of a busy farm: the file is created under the name it will be
        renamed from, its first bytes are checked as they pass instead of
        being read back, and blocks go straight to ``os.write`` (a Python file
        object costs three more system calls to open). There is no fsync: it
        cost more than the rest of the request (the start-up check,
        :meth:`_done_without_result`, covers a power cut instead).

        :raise TooLarge: more than ``max_upload`` bytes arrived.
        :raise InvalidRequest: the bytes are not an OpenEXR file.
        :raise StorageFull: the disk is full.
        """
        limit, size, head = self.max_upload, 0, b""
        try:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:  # the job's first frame: no frames folder yet
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                for block in chunks:
                    size += len(block)
                    if limit is not None and size > limit:
                        raise TooLarge(f"upload is larger than the limit of {limit} bytes")
                    if len(head) < len(EXR_MAGIC):
                        head += bytes(block[: len(EXR_MAGIC) - len(head)])
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd, view):]
                if head not in (EXR_MAGIC, ZIP_MAGIC):
                    raise InvalidRequest("a frame result must be an OpenEXR file")
            finally:
                os.close(fd)
            return head
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left to store {os.path.basename(path)}") from exc
            raise

    def thumbnail_path(self, job_id: int, number: int) -> Path:
        return Path(f"{self.root}/job_{job_id}/thumbs/{number:06d}.png")

    def store_thumbnail(self, job_id: int, number: int, slave_id: str, chunks: Iterable[bytes], now: float) -> None:
        """Keep the thumbnail the slave that rendered a finished frame made; a PNG of at most 4 MiB.

        Only a done frame has a thumbnail: the frame is checked again under the
        lock when the file lands, so a reset during the upload wins, and a
        result needs no clean-up of an older render's preview.
        """
        with self.lock:
            self.store.touch_slave(slave_id, now)
            self._check_thumbnail_owner(job_id, number, slave_id)
        path = self.thumbnail_path(job_id, number)
        incoming = path.with_name(f".incoming-{uuid.uuid4().hex}.png")
        write_stream(chunks, incoming, limit=4 << 20)
        try:
            with open(incoming, "rb") as fh:
                if fh.read(8) != PNG_MAGIC:
                    raise InvalidRequest("a thumbnail must be a PNG file")
            with self.lock:
                self._check_thumbnail_owner(job_id, number, slave_id)
                os.replace(incoming, path)
        finally:
            incoming.unlink(missing_ok=True)

    def _move(self, frames: list[Frame], event: FrameEvent) -> None:
        """:meth:`Dispatch._move`; a frame reset also loses its preview, as only a done frame has one."""
        if event is FrameEvent.RESET:
            for frame in frames:
                self.thumbnail_path(frame.job_id, frame.number).unlink(missing_ok=True)
        super()._move(frames, event)

    def _check_thumbnail_owner(self, job_id: int, number: int, slave_id: str) -> None:
        frame = self.store.frame(job_id, number)
        if frame.status is not FrameStatus.DONE or frame.slave_id != slave_id:
            raise Conflict(f"frame {number} of job {job_id} is not a finished frame of slave {slave_id}")

    def thumbnail(self, job_id: int, number: int) -> Path:
        """The frame's thumbnail: the slave's, or one made now from the EXR."""
        frame = self.frame(job_id, number)
        if frame.status is not FrameStatus.DONE:
            raise FrameNotReady(f"frame {number} of job {job_id} is {frame.status.value}: no thumbnail yet",
                                details={"status": frame.status.value})
        if self.store.plan(job_id).kind == "bake":
            raise NotFound(f"task {number} of job {job_id} baked a cache: it has no picture")
        path = self.thumbnail_path(job_id, number)
        if path.is_file():
            return path
        from .thumbnail import from_exr  # numpy and OpenEXR load only when a thumbnail is made

        return from_exr(self.frame_path(job_id, number), path)

    def results_zip(self, job_id: int) -> Iterator[bytes]:
        """Every finished frame of the job as one zip (a tiled frame once stitched), made while it is sent.

        No temporary file and no whole file in memory: zipfile writes to a
        sink the generator empties after each block, so the download starts
        at once and costs no disk. EXRs are compressed already, so they are
        stored, not deflated.
        """
        status = {f.number: f.status for f in self.frames(job_id)}
        plan = self.store.plan(job_id)  # a frame's image: its own task, or the stitch of its tiles
        if plan.kind == "bake":
            yield from self._caches_zip(job_id, [n for n, s in status.items() if s is FrameStatus.DONE])
            return
        outputs = [(frame, task) for frame, task in plan.outputs(list(status)) if status[task] is FrameStatus.DONE]
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            for frame, task in outputs:
                path = self.frame_path(job_id, task)
                if not path.is_file():
                    continue
                with open(path, "rb") as src, archive.open(f"job_{job_id}/{frame:06d}.exr", "w") as dst:
                    for block in read_chunks(src):
                        dst.write(block)
                        yield sink.take()
            yield sink.take()
        yield sink.take()

    def _caches_zip(self, job_id: int, done: list[int]) -> Iterator[bytes]:
        """A bake job's cache files, laid out as beside the .blend (``blendcache_<file>/…``), to unpack there."""
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for number in done:
                with zipfile.ZipFile(self.frame_path(job_id, number)) as baked:
                    for member in baked.infolist():
                        with baked.open(member) as src, archive.open(member.filename, "w") as dst:
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
