# SPDX-License-Identifier: GPL-3.0-or-later
"""Jobs, frames and slaves as plain data, and the one place frame states change.

Nothing here does I/O. The store persists these records; the farm decides what
happens to them; the API turns them into JSON with ``to_json``.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from . import jobkinds, tiling, vcs
from . import validation as v
from .errors import InvalidRequest, InvalidTransition

#: Render engines a job may ask for; ``-E`` takes these names.
ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH")
MAX_FRAMES = 100_000
MAX_FRAME_NUMBER = 1_048_574  # Blender's MAXFRAME


class FrameStatus(enum.StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    DONE = "done"
    ERROR = "error"


class FrameEvent(enum.StrEnum):
    DISPATCH = "dispatch"
    COMPLETE = "complete"
    FAIL = "fail"
    REQUEUE = "requeue"
    RESET = "reset"


_Q, _D, _OK, _ERR = FrameStatus.QUEUED, FrameStatus.DISPATCHED, FrameStatus.DONE, FrameStatus.ERROR
_E = FrameEvent

#: Every legal frame move. A result arriving for a frame that went back to the
#: queue (its slave was thought lost, or the master restarted) is still a valid
#: render, so QUEUED/ERROR --complete--> DONE is allowed; a finished frame never moves
#: except by an explicit reset.
FRAME_TRANSITIONS: dict[tuple[FrameStatus, FrameEvent], FrameStatus] = {
    (_Q, _E.DISPATCH): _D,
    (_D, _E.COMPLETE): _OK,
    (_Q, _E.COMPLETE): _OK,
    (_ERR, _E.COMPLETE): _OK,
    (_D, _E.FAIL): _ERR,
    (_Q, _E.FAIL): _ERR,  # a task that can never start: a stitch whose tile failed for good
    (_D, _E.REQUEUE): _Q,
    (_ERR, _E.RESET): _Q,
    (_OK, _E.RESET): _Q,
    (_Q, _E.RESET): _Q,
    (_D, _E.RESET): _Q,
}


def next_frame_status(current: FrameStatus, event: FrameEvent) -> FrameStatus:
    """The frame state machine: the new status, or :class:`InvalidTransition`."""
    try:
        return FRAME_TRANSITIONS[(current, event)]
    except KeyError:
        raise InvalidTransition(f"a {current.value} frame cannot {event.value}") from None


class JobControl(enum.StrEnum):
    """What the user asked of a job; its status is derived from this and its frames."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass
class FrameCounts:
    total: int = 0
    queued: int = 0
    dispatched: int = 0
    done: int = 0
    error: int = 0


def job_status(control: JobControl, counts: FrameCounts) -> JobStatus:
    """Derive a job's status, so it can never disagree with its frames."""
    if control is JobControl.CANCELLED:
        return JobStatus.CANCELLED
    if counts.total and counts.done == counts.total:
        return JobStatus.FINISHED
    if counts.total and counts.done + counts.error == counts.total:
        return JobStatus.FAILED
    if control is JobControl.PAUSED:
        return JobStatus.PAUSED
    if counts.dispatched or counts.done or counts.error:
        return JobStatus.RUNNING
    return JobStatus.QUEUED


@dataclass(frozen=True)
class FileRef:
    """One job file: where it sits relative to the job root, and its content hash."""

    path: str
    sha256: str
    size: int

    @classmethod
    def from_json(cls, data: Any) -> FileRef:
        data = v.json_object(data, "file entry")
        return cls(
            path=v.safe_relpath(data.get("path")),
            sha256=v.sha256_hex(data.get("sha256")),
            size=v.int_in(data, "size", 0, 2**50),
        )

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}  # spelled out, as in Frame.to_json


@dataclass(frozen=True)
class JobSpec:
    """What a client submits. ``blend`` is the path of the main file among ``files``."""

    name: str
    blend: str
    frames: tuple[int, ...]
    files: tuple[FileRef, ...]
    category: str = ""
    tags: tuple[str, ...] = ()
    priority: int = 1
    chunks: int = 1
    engine: str = "CYCLES"
    allow_scripts: bool = False  # run the file's auto-run scripts, where the slave allows it too
    persistent: bool = True  # slaves keep one Blender open for the job (else one per chunk)
    persistent_data: bool = False  # Cycles keeps scene data between frames (only with ``persistent``)
    #: Files the .blend names that the client could not find: the job renders without them, as Blender
    #: would on the artist's machine, and says so.
    missing: tuple[str, ...] = ()
    #: Rendered in place on shared storage: ``blend`` is the client's absolute path of the .blend, which
    #: each slave maps to its own mount (``--path-map``), and ``files`` is empty; ``found`` lists (by the
    #: client's paths) the dependencies the client found there.
    shared: bool = False
    found: tuple[str, ...] = ()
    #: A folder on shared storage (the client's path) where slaves also write the finished frames.
    output_dir: str = ""
    #: How the job becomes tasks (:mod:`netrender.farm.jobtypes`): a task per frame, or (``"tiles"``) each
    #: frame cut into about ``tiles`` regions of its ``size`` in pixels, stitched by a last task per frame,
    #: which denoises the frame whole when ``denoise`` (only on a slave whose Blender can).
    kind: str = "frames"
    tiles: int = 0
    size: tuple[int, int] = (0, 0)
    denoise: bool = False
    #: ``"speedtest"``: every slave renders a fixed test scene, and the job's .blend (if any) at ``scale`` %.
    scale: int = 100
    #: ``"bake"``: task *n* bakes the point cache ``caches[n-1]`` (object, cache name) to disk; ``frames`` are
    #: then the task numbers, 1 to the number of caches.
    caches: tuple[tuple[str, str], ...] = ()
    #: The job this one waits for: it gets no work until that one has finished, and fails if that one fails.
    #: A render after a bake renders with the baked caches.
    after: int = 0
    #: Files from version control (:mod:`netrender.common.vcs`) instead of uploads: ``vcs`` is ``git`` or
    #: ``svn``, ``blend`` the .blend's path in the repository at ``revision``; ``files`` is then empty.
    vcs: str = ""
    remote: str = ""
    revision: str = ""

    @classmethod
    def from_json(cls, data: Any) -> JobSpec:
        data = v.json_object(data)
        files = tuple(FileRef.from_json(f) for f in v.field(data, "files", list))
        shared = v.field(data, "shared", bool, False)
        if data.get("kind") == "speedtest" and not files and not data.get("blend"):
            blend = ""  # the machine test alone: nothing to send
        elif data.get("vcs"):
            blend = v.safe_relpath(data.get("blend"))
            if files or shared:
                raise InvalidRequest("a job from version control carries no 'files' and is not 'shared'")
        elif shared:
            blend = v.client_path(data.get("blend"), "blend")
            if files:
                raise InvalidRequest("a job rendered in place on shared storage carries no 'files'")
        else:
            blend = v.safe_relpath(data.get("blend"))
            if blend not in {f.path for f in files}:
                raise InvalidRequest(f"'blend' {blend!r} is not among the job's files")
        if len({f.path for f in files}) != len(files):
            raise InvalidRequest("two files of the job share one path")
        frames = v.field(data, "frames", list)
        if not frames or len(frames) > MAX_FRAMES:
            raise InvalidRequest(f"'frames' must list 1 to {MAX_FRAMES} frames")
        for frame in frames:
            if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame <= MAX_FRAME_NUMBER:
                raise InvalidRequest(f"'frames' must hold integers from 0 to {MAX_FRAME_NUMBER}")
        if len(set(frames)) != len(frames):
            raise InvalidRequest("'frames' must not repeat a frame")
        engine = v.text(data, "engine", "CYCLES")
        if engine not in ENGINES:
            raise InvalidRequest(f"'engine' must be one of {', '.join(ENGINES)}")
        kind, tiles, size, denoise = jobkinds.kind(data, engine, len(frames), MAX_FRAMES)
        return cls(
            name=v.text(data, "name", "") or blend.rsplit("/", 1)[-1],
            blend=blend,
            frames=tuple(frames),
            files=files,
            category=v.text(data, "category", ""),
            tags=v.string_list(data, "tags"),
            priority=v.int_in(data, "priority", 1, 100, 1),
            chunks=v.int_in(data, "chunks", 1, 1000, 1),
            engine=engine,
            allow_scripts=v.field(data, "allow_scripts", bool, False),
            persistent=v.field(data, "persistent", bool, True),
            persistent_data=v.field(data, "persistent_data", bool, False),
            missing=v.path_list(data, "missing"),
            shared=shared,
            found=v.path_list(data, "found") if shared else (),
            output_dir=v.client_path(data["output_dir"], "output_dir") if data.get("output_dir") else "",
            kind=kind,
            tiles=tiles,
            size=size,
            denoise=denoise,
            scale=v.int_in(data, "scale", 1, 100, 25) if kind == "speedtest" else 100,
            caches=jobkinds.caches(data, frames) if kind == "bake" else (),
            after=v.int_in(data, "after", 0, 2**53, 0),
            **jobkinds.versioned(data),
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["frames"] = list(self.frames)
        out["tags"] = list(self.tags)
        out["files"] = [asdict(f) for f in self.files]
        out["missing"] = list(self.missing)
        out["found"] = list(self.found)
        out["size"] = list(self.size)
        out["grid"] = list(tiling.grid(self.tiles, *self.size)) if self.kind == "tiles" else None  # as made
        out["remote"] = vcs.redact(self.remote)  # the slaves get the remote whole, in their assignments only
        return out


@dataclass
class Frame:
    job_id: int
    number: int
    status: FrameStatus = FrameStatus.QUEUED
    slave_id: str | None = None
    render_time: float | None = None
    message: str = ""
    dispatched_at: float | None = None
    finished_at: float | None = None
    failures: int = 0  # failed renders since submission or the last reset

    def to_json(self) -> dict[str, Any]:
        # Spelled out: ``asdict`` deep-copies field by field, and every result upload answers a frame.
        return {
            "job_id": self.job_id, "number": self.number, "status": self.status.value, "slave_id": self.slave_id,
            "render_time": self.render_time, "message": self.message, "dispatched_at": self.dispatched_at,
            "finished_at": self.finished_at, "failures": self.failures,
        }


@dataclass
class Job:
    id: int
    spec: JobSpec
    control: JobControl
    submitted_at: float
    counts: FrameCounts = field(default_factory=FrameCounts)
    started_at: float | None = None
    finished_at: float | None = None
    last_dispatched: float | None = None
    usage: float = 0.0  # share of the cluster, averaged over time; set by the farm
    busy: int = 0  # slaves rendering it now; set by the farm
    mean_render_time: float | None = None  # of its finished frames; set by the farm
    started_by: str = ""  # the queue's: "hand" (start), "auto" (autostart), or "" (waiting its turn)
    queued_at: float = 0.0  # its place in the queue: submitted, or enqueued again

    @property
    def queue_state(self) -> str:
        """RenderController's name for where the job stands: waiting, stopped, rendering or finished."""
        if self.status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED):
            return "finished"
        if self.control is JobControl.PAUSED:
            return "stopped"
        return "rendering" if self.started_by or self.status is JobStatus.RUNNING else "waiting"

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace of its finished frames, spread over the slaves on it now."""
        left = self.counts.queued + self.counts.dispatched
        if self.mean_render_time is None or not left or self.status is not JobStatus.RUNNING:
            return None
        return left * self.mean_render_time / max(self.busy, 1)

    @property
    def status(self) -> JobStatus:
        return job_status(self.control, self.counts)

    def to_json(self) -> dict[str, Any]:
        spec = self.spec.to_json()
        spec.pop("frames")
        return {
            "id": self.id,
            **spec,
            "status": self.status.value,
            "frame_count": asdict(self.counts),
            "usage": self.usage,
            "busy": self.busy,
            "mean_render_time": self.mean_render_time,
            "eta": self.eta,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "started_by": self.started_by,
            "queued_at": self.queued_at or self.submitted_at,
            "queue_state": self.queue_state,
        }


@dataclass
class SlaveInfo:
    id: str
    name: str
    address: str
    facts: dict[str, Any]
    tags: tuple[str, ...]
    registered_at: float
    last_seen: float
    frames_done: int = 0
    frames_failed: int = 0
    blacklisted: bool = False  # farm-wide: gets no new work; finishes what it has
    disabled: bool = False  # gets no work, and gives back what it had
    state: str = "idle"  # idle, rendering, lost or disabled; set by the farm, which knows the time
    current_job: int | None = None  # set by the farm, from the frames dispatched to it
    current_frames: list[int] = field(default_factory=list)
    speed: dict[str, Any] = field(default_factory=dict)  # measured, see netrender.farm.speeds; set by the farm

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"] = list(self.tags)
        return out
