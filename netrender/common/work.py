# SPDX-License-Identifier: GPL-3.0-or-later
"""What a slave is handed: a chunk of a job's tasks, what to fetch for them, and what each task is.

A job becomes tasks by its kind (:mod:`netrender.farm.jobtypes`). For a job
of frames a task is a frame and needs no more words: its number is the frame
to render. Any other task comes with a :class:`TaskDetail` saying what to do:
render a region of a frame, or stitch regions into the frame (and denoise it
whole).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from . import validation as v
from . import vcs
from .errors import InvalidRequest
from .model import FileRef
from .tiling import Rect


@dataclass(frozen=True)
class TaskDetail:
    """One task that is not simply "render frame N"."""

    number: int  # the task's number in its job
    kind: str  # "tile": render ``rect`` of ``frame``; "stitch": put ``inputs`` together into ``frame``;
    # "machine" and "file": the speed tests (``netrender speedtest``)
    frame: int  # the Blender frame
    size: tuple[int, int] = (0, 0)  # the whole frame's pixels
    rect: Rect = (0, 0, 0, 0)
    denoise: bool = False  # tile: keep the passes the denoiser needs; stitch: denoise the frame whole
    inputs: tuple[tuple[int, Rect], ...] = ()  # stitch: each tile's task number and region
    scale: int = 100  # "file" speed test: the scene's resolution in percent ("machine": the fixed test scene)
    cache: tuple[str, str] = ("", "")  # "bake": the point cache to bake, as its object and cache name

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "kind": self.kind, "frame": self.frame, "size": list(self.size),
                "rect": list(self.rect), "denoise": self.denoise,
                "inputs": [[number, list(rect)] for number, rect in self.inputs], "scale": self.scale,
                "cache": list(self.cache)}

    @classmethod
    def from_json(cls, data: Any) -> TaskDetail:
        data = v.json_object(data, "task")
        return cls(number=int(data["number"]), kind=str(data["kind"]), frame=int(data["frame"]),
                   size=_pair(data.get("size", (0, 0))), rect=_rect(data.get("rect", (0, 0, 0, 0))),
                   denoise=bool(data.get("denoise", False)),
                   inputs=tuple((int(n), _rect(r)) for n, r in data.get("inputs") or ()),
                   scale=int(data.get("scale", 100)), cache=_names(data.get("cache", ("", ""))))


def _pair(value: Any) -> tuple[int, int]:
    width, height = (int(x) for x in value)
    return width, height


def _rect(value: Any) -> Rect:
    x0, y0, x1, y1 = (int(x) for x in value)
    return x0, y0, x1, y1


@dataclass(frozen=True)
class Assignment:
    """A chunk handed to a slave: which job, which tasks (frames, for a job of frames), and what to fetch."""

    job_id: int
    frames: tuple[int, ...]
    blend: str
    engine: str
    files: tuple[FileRef, ...]
    allow_scripts: bool = False
    persistent: bool = True
    persistent_data: bool = False
    shared: bool = False  # ``blend`` is the client's path on shared storage (see JobSpec)
    found: tuple[str, ...] = ()
    output_dir: str = ""
    tasks: tuple[TaskDetail, ...] = ()  # what each of ``frames`` is, when it is not a frame to render
    #: A job rendered after a bake: that job, and each of its tasks (number, object, cache) whose baked files
    #: the slave puts beside the .blend before it renders.
    bake_job: int = 0
    bakes: tuple[tuple[int, str, str], ...] = ()
    #: Files from version control instead (``blend`` is then the path in the repository): see JobSpec.
    vcs: str = ""
    remote: str = ""
    revision: str = ""
    #: ``files`` and ``found`` are not in this answer: the slave reads them once per job from
    #: ``GET /api/jobs/{job_id}/files`` (a project of thousands of files would make every answer large).
    listed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "frames": list(self.frames),
            "blend": self.blend,
            "engine": self.engine,
            "files": [f.to_json() for f in self.files],
            "allow_scripts": self.allow_scripts,
            "persistent": self.persistent,
            "persistent_data": self.persistent_data,
            "shared": self.shared,
            "found": list(self.found),
            "output_dir": self.output_dir,
            "tasks": [t.to_json() for t in self.tasks],
            "bake_job": self.bake_job,
            "bakes": [list(b) for b in self.bakes],
            "vcs": self.vcs,
            "remote": self.remote,
            "revision": self.revision,
            "listed": self.listed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Assignment:
        shared = bool(data.get("shared", False))
        files, found = listing_from_json(data)
        return cls(
            job_id=int(data["job_id"]),
            frames=tuple(int(f) for f in data["frames"]),
            blend=v.client_path(data["blend"], "blend") if shared else v.safe_relpath(data["blend"]),
            engine=str(data["engine"]),
            files=files,
            allow_scripts=bool(data.get("allow_scripts", False)),
            persistent=bool(data.get("persistent", True)),
            persistent_data=bool(data.get("persistent_data", False)),
            shared=shared,
            found=found,
            output_dir=str(data.get("output_dir") or ""),
            tasks=tuple(TaskDetail.from_json(t) for t in data.get("tasks") or ()),
            bake_job=int(data.get("bake_job") or 0),
            bakes=tuple((int(n), str(o), str(c)) for n, o, c in data.get("bakes") or ()),
            **_vcs(data),
            listed=bool(data.get("listed", False)),
        )

    def with_listing(self, files: tuple[FileRef, ...], found: tuple[str, ...]) -> Assignment:
        """This assignment with the job's file list it was sent without."""
        return replace(self, files=files, found=found, listed=False)

    def detail(self, number: int) -> TaskDetail | None:
        """What task ``number`` is; ``None`` for a frame to render."""
        return next((t for t in self.tasks if t.number == number), None)


def listing_json(files: tuple[FileRef, ...], found: tuple[str, ...]) -> dict[str, Any]:
    """A job's file list as ``GET /api/jobs/{job_id}/files`` answers it."""
    return {"files": [f.to_json() for f in files], "found": list(found)}


def listing_from_json(data: Any) -> tuple[tuple[FileRef, ...], tuple[str, ...]]:
    """The files and found paths of a listing; checked as they would be in an assignment."""
    data = v.json_object(data, "file listing")
    return (tuple(FileRef.from_json(f) for f in data.get("files") or ()),
            tuple(str(p) for p in data.get("found") or ()))


def _vcs(data: dict[str, Any]) -> dict[str, str]:
    """Checked again on the slave: it runs git or svn with them."""
    if not data.get("vcs"):
        return {}
    system, remote, revision = vcs.check(str(data["vcs"]), str(data.get("remote", "")), str(data.get("revision", "")))
    return {"vcs": system, "remote": remote, "revision": revision}


def _names(value: Any) -> tuple[str, str]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidRequest(f"a task's 'cache' is [object, cache name], not {value!r}")
    return str(value[0]), str(value[1])
