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

import os
import secrets
import shutil
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import balancing
from .blobs import BlobStore, write_stream
from .errors import Conflict, InvalidRequest, MissingFiles, NotFound
from .model import (
    Assignment,
    Frame,
    FrameEvent,
    FrameStatus,
    Job,
    JobControl,
    JobSpec,
    JobStatus,
    SlaveInfo,
    next_frame_status,
)
from .store import Store

POINTER = "blender_master.data"
EXR_MAGIC = b"\x76\x2f\x31\x01"


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


class Farm:
    def __init__(self, root: Path, *, max_upload: int | None = None) -> None:
        self.root = root
        self.max_upload = max_upload
        self.store = Store(root / "netrender.sqlite")
        self.blobs = BlobStore(root / "store")
        self.lock = threading.RLock()
        with self.lock, self.store.transaction():
            # Nobody is rendering for a master that just started: hand those frames out again.
            self._move(self.store.dispatched_frames(), FrameEvent.REQUEUE)

    def close(self) -> None:
        self.store.close()

    # -- paths ------------------------------------------------------------

    def job_dir(self, job_id: int) -> Path:
        return self.root / f"job_{job_id}"

    def frame_path(self, job_id: int, number: int) -> Path:
        return self.job_dir(job_id) / "frames" / f"{number:06d}.exr"

    def log_path(self, job_id: int, number: int) -> Path:
        return self.job_dir(job_id) / "logs" / f"{number:06d}.log"

    # -- slaves -----------------------------------------------------------

    def register_slave(
        self, name: str, address: str, facts: dict[str, Any], tags: Iterable[str], now: float
    ) -> SlaveInfo:
        slave = SlaveInfo(
            id=secrets.token_hex(8), name=name, address=address, facts=facts,
            tags=tuple(tags), registered_at=now, last_seen=now,
        )
        with self.lock:
            self.store.add_slave(slave)
        return slave

    def slaves(self) -> list[SlaveInfo]:
        with self.lock:
            return self.store.slaves()

    def request_work(self, slave_id: str, now: float) -> Assignment | None:
        """Hand ``slave_id`` its next chunk, or ``None`` when nothing suits it now."""
        with self.lock, self.store.transaction():
            self.store.touch_slave(slave_id, now)
            slave = self.store.slave(slave_id)
            view = balancing.SlaveView(slave.id, frozenset(slave.tags))
            job_id = balancing.choose_job(self.store.candidates(), view, now)
            if job_id is None:
                return None
            job = self.store.job(job_id)
            chunk = balancing.take_chunk(self.store.frame_layout(job_id), job.spec.chunks)
            frames = [self.store.frame(job_id, n) for n in chunk]
            for frame in frames:
                frame.slave_id, frame.dispatched_at = slave_id, now
            self._move(frames, FrameEvent.DISPATCH)
            self.store.update_job(job_id, last_dispatched=now, started_at=job.started_at or now)
            return Assignment(job_id, tuple(chunk), job.spec.blend, job.spec.engine, job.spec.files)

    def heartbeat(self, slave_id: str, job_id: int | None, frames: Iterable[int], now: float) -> bool:
        """Note the slave is alive; return whether it should stop rendering ``frames``.

        It should stop when the job was cancelled or removed, or when none of the
        frames is still dispatched to it.
        """
        with self.lock:
            self.store.touch_slave(slave_id, now)
            if job_id is None:
                return False
            try:
                job = self.store.job(job_id)
            except NotFound:
                return True
            if job.control is JobControl.CANCELLED:
                return True
            return not self.store.dispatched_to(slave_id, job_id, frames)

    def release(self, slave_id: str, job_id: int, frames: Iterable[int], now: float) -> list[int]:
        """Put back in the queue the frames a stopping slave will not finish; return them."""
        with self.lock, self.store.transaction():
            self.store.touch_slave(slave_id, now)
            self.store.job(job_id)
            mine = self.store.dispatched_to(slave_id, job_id, frames)
            self._move(mine, FrameEvent.REQUEUE)
            return [f.number for f in mine]

    # -- jobs -------------------------------------------------------------

    def submit(self, spec: JobSpec, now: float) -> Job:
        """Create a job from files already uploaded; lay them out in the job's folder."""
        missing = self.blobs.missing(f.sha256 for f in spec.files)
        if missing:
            raise MissingFiles(f"{len(missing)} file(s) must be uploaded first", details={"missing": missing})
        with self.lock:
            job_id = self.store.add_job(spec, now)
        files = self.job_dir(job_id) / "files"
        for ref in spec.files:
            self.blobs.link(ref.sha256, files / ref.path)
        return self.job(job_id)

    def job(self, job_id: int) -> Job:
        with self.lock:
            return self.store.job(job_id)

    def jobs(self) -> list[Job]:
        with self.lock:
            return self.store.jobs()

    def frames(self, job_id: int) -> list[Frame]:
        with self.lock:
            self.store.job(job_id)
            return self.store.frames(job_id)

    def frame(self, job_id: int, number: int) -> Frame:
        with self.lock:
            return self.store.frame(job_id, number)

    def set_control(self, job_id: int, control: JobControl) -> Job:
        """Pause, resume or cancel. A cancelled job's slaves stop at their next heartbeat."""
        with self.lock, self.store.transaction():
            job = self.store.job(job_id)
            if job.control is JobControl.CANCELLED and control is not JobControl.CANCELLED:
                raise Conflict(f"job {job_id} was cancelled; submit it again instead")
            self.store.update_job(job_id, control=control.value)
            if control is JobControl.CANCELLED:
                self._move(
                    [f for f in self.store.frames(job_id) if f.status is FrameStatus.DISPATCHED],
                    FrameEvent.REQUEUE,
                )
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

        The bytes land under a unique temporary name first and are renamed into
        place only under the lock, so two deliveries of one frame store it once.
        """
        with self.lock:  # unknown slave, job or frame: refuse before reading the body
            self.store.touch_slave(slave_id, now)
            self.store.frame(job_id, number)
        final = self.frame_path(job_id, number)
        incoming = final.with_name(f".incoming-{uuid.uuid4().hex}.exr")
        write_stream(chunks, incoming, limit=self.max_upload)
        try:
            with open(incoming, "rb") as fh:
                if fh.read(4) != EXR_MAGIC:
                    raise InvalidRequest("a frame result must be an OpenEXR file")
            with self.lock, self.store.transaction():
                frame = self.store.frame(job_id, number)
                if frame.status is FrameStatus.DONE:
                    return frame
                os.replace(incoming, final)
                frame.slave_id, frame.render_time, frame.finished_at = slave_id, render_time, now
                frame.message = ""
                self._move([frame], FrameEvent.COMPLETE)
                self.store.count_slave_frame(slave_id, done=True)
                self._note_finish(job_id, now)
                return frame
        finally:
            incoming.unlink(missing_ok=True)

    def fail_frame(self, job_id: int, number: int, slave_id: str, message: str, now: float) -> Frame:
        with self.lock, self.store.transaction():
            self.store.touch_slave(slave_id, now)
            frame = self.store.frame(job_id, number)
            if frame.status is not FrameStatus.DISPATCHED or frame.slave_id != slave_id:
                return frame  # a stale report: the frame moved on without this slave
            frame.message, frame.finished_at = message, now
            self._move([frame], FrameEvent.FAIL)
            self.store.count_slave_frame(slave_id, done=False)
            self._note_finish(job_id, now)
            return frame

    def store_log(self, job_id: int, number: int, chunks: Iterable[bytes]) -> None:
        self.frame(job_id, number)
        write_stream(chunks, self.log_path(job_id, number), limit=self.max_upload)

    # -- helpers (call with the lock held) --------------------------------

    def _move(self, frames: list[Frame], event: FrameEvent) -> None:
        for frame in frames:
            frame.status = next_frame_status(frame.status, event)
            if event is FrameEvent.REQUEUE:
                frame.slave_id, frame.dispatched_at = None, None
        self.store.save_frames(frames)

    def _note_finish(self, job_id: int, now: float) -> None:
        job = self.store.job(job_id)
        if job.status in (JobStatus.FINISHED, JobStatus.FAILED) and job.finished_at is None:
            self.store.update_job(job_id, finished_at=now)
