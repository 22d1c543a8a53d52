# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's state machine: jobs, frames and slaves, and what each request does to them.

The HTTP layer (``api``) parses requests and calls one method here; every state
change goes through :func:`model.next_frame_status` under one lock, so the
threads of the WSGI server never see half a change. Time is passed in as
``now``, so tests drive the farm without sleeping. What slaves ask for is
:mod:`~netrender.farm.dispatch`; what they send back, :mod:`~netrender.farm.results`.

On disk, under ``<path>/master_<pid>/``::

    netrender.sqlite         jobs, frames, slaves
    store/ab/abcd…           every uploaded file once, by SHA-256
    job_<id>/files/…         the job's files, laid out as on the client
    job_<id>/frames/000001.exr
    job_<id>/logs/000001.log
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..common.blobs import BlobStore
from ..common.errors import Conflict, InvalidRequest, MissingFiles, NotFound
from ..common.model import Frame, FrameEvent, FrameStatus, Job, JobControl, JobSpec
from . import after, queue
from .eventlog import EventLog
from .jobtypes import Plan
from .nodes import NodeList
from .results import EXR_MAGIC, Results
from .storage import Offer, SharedStorage
from .store import Store

POINTER = "blender_master.data"


def open_root(path: Path, pid: int | None = None) -> Path:
    """The master's folder under ``path``: the one the pointer names, or a new ``master_<pid>``.

    Reusing the folder the pointer names is what lets a restarted master resume
    its jobs even though its process id changed. The folder is absolute: a
    relative ``--path`` means the working folder the master started in, and
    Flask would read a relative file name against its own package folder.
    """
    path = Path(os.path.abspath(path))
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


class Farm(Results, NodeList):
    """Jobs and their results; the slave-facing half is :class:`Dispatch`."""

    def __init__(self, root: Path, *, max_upload: int | None = None, storage: SharedStorage | None = None) -> None:
        self.root = root
        self.max_upload = max_upload
        self.storage = storage or SharedStorage()
        self.store = Store(root / "netrender.sqlite")
        self.events = EventLog(root / "events.log")
        self.store.on_event = self.events.job
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
        for job_id in sorted(j for j, tally in self.store.tally.jobs.items() if tally.done):
            for frame in self.store.frames(job_id):
                if frame.status is FrameStatus.DONE:
                    try:
                        whole = self.frame_path(job_id, frame.number).stat().st_size >= len(EXR_MAGIC)
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
        self.events.close()

    # -- jobs -------------------------------------------------------------

    def submit(self, spec: JobSpec, now: float) -> Job:
        """Create a job from files already uploaded; lay them out in the job's folder.

        A job rendered in place names a .blend on shared storage instead, which must be there.
        """
        with self.lock:
            after.check(self.store, spec)
        self.storage.check_job(spec.blend, spec.output_dir, spec.shared)
        missing = self.blobs.missing(f.sha256 for f in spec.files)
        if missing:
            raise MissingFiles(f"{len(missing)} file(s) must be uploaded first", details={"missing": missing})
        with self.lock:
            plan = Plan.of(spec, self._testable(now)) if spec.kind == "speedtest" else None
            if plan is not None and not plan.slaves:
                raise Conflict("no slave is there to test: start some, then ask again")
            job_id = self.store.add_job(spec, now, plan)
            self.store.add_event(job_id, now, f"submitted: {len(spec.frames)} frame(s)")
        files = self.job_dir(job_id) / "files"
        for ref in spec.files:
            self.blobs.link(ref.sha256, files / ref.path)
        with self.lock:
            self._wake()
        return self.job(job_id)

    def _testable(self, now: float) -> tuple[str, ...]:
        """The slaves a speed test can measure now: alive and let to work."""
        return tuple(s.id for s in self.store.slaves() if not s.disabled and not s.blacklisted
                     and now - s.last_seen <= self.rules.lost_timeout)

    def missing_files(self, hashes: list[str], offers: list[Offer]) -> tuple[list[str], list[str]]:
        """Which files the master lacks, after taking those it can copy from shared storage; and those."""
        asked = set(hashes)
        adopted = self.storage.adopt(self.blobs, [o for o in offers if o.sha256 in asked], self.max_upload)
        return self.blobs.missing(hashes), adopted

    def plan(self, job_id: int) -> Plan:
        with self.lock:
            return self.store.plan(job_id)

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

    def switched_off(self, job_id: int) -> list[str]:
        """The slaves switched off for the job by hand (see :meth:`switch_for_job`)."""
        with self.lock:
            return [e["slave_id"] for e in self.store.job_blacklist(job_id, switched_off=True)]

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
                plan = self.store.plan(job_id)  # a stitch again needs its failed tiles; a tile again, its stitch
                failed = {f.number for f in frames if f.status is FrameStatus.ERROR}
                wanted |= {n for w in wanted for n in plan.prerequisites(w) if n in failed}
                wanted |= {n for w in wanted for n in plan.dependents(w)}
                targets = [f for f in frames if f.number in wanted]
            else:
                targets = [f for f in frames if every_frame or f.status is FrameStatus.ERROR]
            for frame in targets:
                frame.failures, frame.message, frame.render_time, frame.finished_at = 0, "", None, None
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

    def queue_action(self, job_id: int, action: str, now: float) -> Job:
        """``start``, ``stop`` or ``enqueue`` a job, as :mod:`netrender.farm.queue` says."""
        if action not in queue.ACTIONS:
            raise InvalidRequest(f"unknown queue action {action!r}; use one of {', '.join(queue.ACTIONS)}")
        with self.lock, self.store.transaction():
            job = self.store.job(job_id)
            if job.control is JobControl.CANCELLED:
                raise Conflict(f"job {job_id} was cancelled; submit it again instead")
            if action == "stop":
                self.store.update_job(job_id, control=JobControl.PAUSED.value, started_by="")
            elif action == "start":
                self.store.update_job(job_id, control=JobControl.ACTIVE.value, started_by="hand")
            else:
                self.store.update_job(job_id, control=JobControl.ACTIVE.value, started_by="", queued_at=now)
            self.store.add_event(job_id, now, {"start": "started by hand", "stop": "stopped",
                                               "enqueue": "enqueued: waits for its turn"}[action])
            self._wake()
            return self.store.job(job_id)

    def remove(self, job_id: int, delete_files: bool, now: float) -> None:
        with self.lock:
            job = self.store.job(job_id)
            self.store.delete_job(job_id)
        self.events.write(now, "job.removed", job=job_id, name=job.spec.name, files_deleted=delete_files)
        if delete_files:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
