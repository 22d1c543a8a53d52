# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's chunks rendered: in the job's open Blender frame by frame, or in a Blender of their own.

:class:`ChunkRendering` is the part of :class:`~netrender.slave.Slave` that
turns one chunk into outbox items. With a persistent Blender
(:mod:`netrender.node.session`) each frame goes into the outbox as soon as it is
saved, and the courier uploads it while the next one renders; with one Blender
per chunk (:func:`netrender.node.blender.run`) the chunk's frames go in together at
its end. Either way a heartbeat every ``config.heartbeat`` seconds tells
whether the master still wants the frames, and a stopping slave releases what
it will not render.

Blender lists what the loaded file names but cannot find; if that includes a
file the job carries (:func:`sent_paths`), the slave's copy is incomplete and
every frame would come out wrong, so they fail with Blender's words instead
(and are retried by the master's rules, with the files fetched again). The
files themselves are :mod:`.files`'.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..common.work import Assignment
from . import blender
from .files import FetchFailed, publish
from .heartbeat import Heartbeats
from .in_blender.device import DEVICE_ENV
from .outbox import Outbox
from .session import FrameOutcome, SessionSpec
from .sessions import Sessions
from .tasks import TaskRunning

if TYPE_CHECKING:
    from .courier import Courier

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ChunkReport:
    """What one render gave: the frames rendered (now in the outbox), those that failed."""

    job_id: int
    done: list[int]
    failed: list[int]
    cancelled: bool


class ChunkRendering(TaskRunning, Heartbeats):
    """Rendering one chunk, for :class:`~netrender.slave.Slave`, which provides what is declared here."""

    outbox: Outbox
    sessions: Sessions
    persistent: bool
    courier: Courier | None
    aborting: threading.Event
    id: str | None
    run_blender: Callable[..., blender.RunResult]
    banners: dict[int, str]  # job id -> the version line its open Blender printed when it started
    sessions_only: bool = False  # no Blender here to start per chunk (an SSH node): a session per chunk instead

    def render(self, work: Assignment) -> ChunkReport:
        """Render a chunk and put what it gave into the outbox; its frames are released if it cannot run.

        Tiles and stitches always go through an open Blender (each tile is a
        request with its own region); where the slave or the job keeps no
        Blender open, it is closed again after the chunk.
        """
        if (work.tasks or self.sessions_only) and not (self.persistent and work.persistent):
            try:
                return self._render_in_session(work)
            finally:
                self.sessions.close()
        if self.persistent and work.persistent:
            return self._render_in_session(work)
        job_dir = self.folder / f"job_{work.job_id}"
        output = job_dir / "output"
        log_path = job_dir / "logs" / f"{work.frames[0]:06d}.log"
        try:
            work = self.listed(work)  # the job's file list, which the assignment leaves out
            result = self._run_blender(work, output, log_path)
        except FetchFailed as exc:
            return self._unfetched(work, exc)
        except Exception:  # the frames are dispatched to us: give them back, or they wait for the lost timeout
            self.outbox.put("release", work.job_id, work.frames, slave_id=self.id)
            raise
        report = ChunkReport(work.job_id, [], [], result.cancelled)
        lacking = blender.missing_sent(result.missing, self._sent(work, job_dir))
        if lacking:
            result.error, report.cancelled = blender.missing_message(lacking), False
            self._enqueue(work, result, output, log_path, report)
        elif result.cancelled:
            self._cancelled(work, work.frames)
        else:
            self._enqueue(work, result, output, log_path, report)
        return report

    def _render_in_session(self, work: Assignment) -> ChunkReport:
        """Render a chunk frame by frame in the job's open Blender; each frame goes out as it is done."""
        job_dir = self.folder / f"job_{work.job_id}"
        try:
            work = self.listed(work)  # the job's file list, which the assignment leaves out
            blend = self.fetch(work)
            spec = SessionSpec(
                work.job_id, self.config.blender, blend, job_dir / "output", work.engine,
                self.config.threads, allow_scripts=self.config.allow_scripts and work.allow_scripts,
                sent=self._sent(work, job_dir), thumbnails=self.config.thumbnails,
                # A tile changes only the region from the last one: the scene's data can stay (same pixels).
                persistent_data=work.persistent_data or bool(work.tasks),
                env=self._device_env(),
            )
        except FetchFailed as exc:
            return self._unfetched(work, exc)
        except Exception:
            self.outbox.put("release", work.job_id, work.frames, slave_id=self.id)
            raise
        report = ChunkReport(work.job_id, [], [], False)
        should_stop = self._stop_check(work)
        for i, frame in enumerate(work.frames):
            self.on_status(f"rendering job {work.job_id} {_what(work, frame)}")
            outcome = self._run_task(work, frame, spec, job_dir / "logs" / "blender.log", should_stop)
            if outcome.cancelled:
                report.cancelled = True
                self._cancelled(work, work.frames[i:])
                break
            log_path = job_dir / "logs" / f"{frame:06d}.log"
            note = self.checkout_notes.get(work.job_id, "")
            text = _frame_log(work.job_id, frame, outcome.log, self.banners)
            log_path.write_text(f"{note}\n{text}" if note else text, encoding="utf-8")
            self.outbox.put("log", work.job_id, (frame,), payload=log_path, slave_id=self.id)
            if outcome.fetch is not None:
                self._fetch_frame(work, frame, outcome, spec.output_dir, report)
                continue
            saved = outcome.path if outcome.path is not None and outcome.path.is_file() else None
            self._put_frame(work, frame, saved, outcome.seconds, spec.output_dir, report,
                            outcome.error or f"Blender did not save {_what(work, frame)}")
            if self.courier is not None:
                self.courier.kick()  # its upload overlaps the next frame's render
        return report

    def _fetch_frame(self, work: Assignment, frame: int, outcome: FrameOutcome, output: Path,
                     report: ChunkReport) -> None:
        """A frame saved on another machine: fetch it, then put it out (an SSH node does so in the background)."""
        assert outcome.fetch is not None
        try:
            saved: Path | None = outcome.fetch()
            failure = ""
        except OSError as exc:
            saved, failure = None, f"{_what(work, frame)} was rendered but could not be fetched: {exc}"
        self._put_frame(work, frame, saved, outcome.seconds, output, report, failure)
        if self.courier is not None:
            self.courier.kick()

    def _unfetched(self, work: Assignment, exc: FetchFailed) -> ChunkReport:
        """The job's files cannot be had: its frames fail with the reason, and the master's rules retry them."""
        self.on_status(str(exc))
        for frame in work.frames:
            self.outbox.put("error", work.job_id, (frame,), fields={"message": str(exc)}, slave_id=self.id)
        return ChunkReport(work.job_id, [], list(work.frames), False)

    def _cancelled(self, work: Assignment, frames: tuple[int, ...]) -> None:
        if self.aborting.is_set():
            self.outbox.put("release", work.job_id, frames, slave_id=self.id)
            self.on_status(f"stopped; frames {_span(frames)} of job {work.job_id} go back to the queue")
        else:
            self.on_status(f"the master took frames {_span(frames)} of job {work.job_id} back "
                           "(cancelled, or handed to another slave); Blender stopped")

    def _run_blender(self, work: Assignment, output: Path, log_path: Path) -> blender.RunResult:
        blend_path = self.fetch(work)
        job_dir = output.parent
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir(parents=True)
        argv = blender.render_argv(
            self.config.blender, blend_path, output, work.engine, self.config.threads, work.frames,
            thumbnails=self.config.thumbnails, allow_scripts=self.config.allow_scripts and work.allow_scripts,
            device=bool(self.config.device),
        )
        sent = self._sent(work, job_dir)
        stop, echo = self._stop_check(work), self.config.console_log
        seen: list[str] = []  # Blender's lines about missing files: one of the job's stops the render at once

        def on_line(line: str) -> None:
            if echo:
                print(line, end="")
            if blender.missing_path(line) is not None:
                seen.append(line)

        self.on_status(f"rendering job {work.job_id} frames {_span(work.frames)}")
        device = {"env": self._device_env()} if self.config.device else {}  # a test's fake takes no env
        return self.run_blender(argv, log_path, should_stop=lambda: bool(blender.missing_sent(seen, sent)) or stop(),
                                on_line=on_line, **device)

    def _device_env(self) -> dict[str, str]:
        """What Blender's environment gets so it renders on this slave's device only (``slave --gpus``)."""
        return {DEVICE_ENV: self.config.device} if self.config.device else {}

    def _enqueue(self, work: Assignment, result: blender.RunResult, output: Path, log_path: Path,
                 report: ChunkReport) -> None:
        """Each frame's log, then its EXR (and thumbnail) or its error, into the outbox in that order."""
        per_frame = result.seconds / len(work.frames)
        rendered = result.returncode == 0 and result.error is None
        for frame in work.frames:
            if log_path.is_file():  # one log per chunk, copied for each frame: the next chunk may reuse its name
                self.outbox.put("log", work.job_id, (frame,), payload=log_path, copy=True, slave_id=self.id)
            path = blender.frame_file(output, frame)
            saved = path if rendered and path.is_file() else None
            self._put_frame(work, frame, saved, per_frame, output, report, _failure(result, frame))

    def _put_frame(self, work: Assignment, frame: int, saved: Path | None, render_time: float, output: Path,
                   report: ChunkReport, failure: str) -> None:
        """A frame's EXR (then its thumbnail, if Blender made one), or ``failure`` when none was saved.

        A job with a shared output folder gets the frame there too, straight from this slave; the master
        keeps its own copy for the monitor, the add-on and downloads.
        """
        job_id, detail = work.job_id, work.detail(frame)
        whole = frame if detail is None else detail.frame if detail.kind == "stitch" else None  # a finished frame
        if saved is not None and work.output_dir and whole is not None:
            folder = Path(self.config.path_map.local(work.output_dir))
            try:
                publish(saved, folder, whole)
            except OSError as exc:
                log.warning("frame %s of job %s not written to %s: %s", frame, job_id, folder, exc)
                self.on_status(f"frame {frame} of job {job_id} could not be written to {folder}: {exc}")
        if saved is None:
            self.outbox.put("error", job_id, (frame,), fields={"message": failure}, slave_id=self.id)
            report.failed.append(frame)
            return
        self.outbox.put("result", job_id, (frame,), payload=saved, fields={"render_time": render_time},
                        slave_id=self.id)
        report.done.append(frame)
        thumbnail = blender.thumbnail_file(output, frame if detail is None else detail.frame)
        if thumbnail.is_file():  # after its frame: the master takes it only for a finished frame
            self.outbox.put("thumbnail", job_id, (frame,), payload=thumbnail, slave_id=self.id)


def _failure(result: blender.RunResult, frame: int) -> str:
    if result.error:
        return result.error
    if result.returncode != 0:
        return f"Blender exited with code {result.returncode} before frame {frame} was saved"
    return f"Blender exited without saving frame {frame}"


def _frame_log(job_id: int, frame: int, lines: list[str], banners: dict[int, str]) -> str:
    """One frame's log: what Blender printed for it, after a line saying which Blender that was.

    Blender prints its version once, when it starts, so only the first frame
    of a session has it among its own lines; the others get it repeated here.
    """
    banner = next((line for line in lines if line.startswith("Blender ")), None)
    if banner is not None:
        banners[job_id] = banner.strip()
    head = f"netrender: frame {frame} of job {job_id}, rendered in the Blender kept open for the job"
    head += f" ({banners[job_id]})" if job_id in banners else ""
    return head + "\n" + "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _what(work: Assignment, number: int) -> str:
    """A task as a person would name it: "frame 12", "tile 3 of frame 12", "frame 12 (stitch)"."""
    detail = work.detail(number)
    if detail is None:
        return f"frame {number}"
    if detail.kind == "tile":
        return f"tile {number} of frame {detail.frame}"
    return f"frame {detail.frame} ({'stitch and denoise' if detail.denoise else 'stitch'})"


def _span(frames: tuple[int, ...]) -> str:
    return str(frames[0]) if len(frames) == 1 else f"{frames[0]}-{frames[-1]}"
