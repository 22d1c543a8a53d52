# SPDX-License-Identifier: GPL-3.0-or-later
"""When a slave's open Blender serves the next frame, and when a fresh one must start.

:func:`decide` is the policy, pure; :class:`Sessions` keeps at most one
:class:`~.session.BlenderSession` (the job being rendered) and follows it.
All a slave needs::

    spec = SessionSpec(job_id, blender, blend, output_dir, engine, threads,
                       allow_scripts=..., sent=frozenset(...), env={...}, thumbnails=..., persistent_data=...)
    sessions = Sessions(max_frames=None)            # None: a Blender lives as long as its job
    outcome = sessions.render(spec, log_path, frame, should_stop, options)
    outcome.path or outcome.error; outcome.seconds; outcome.cancelled; outcome.log
    sessions.close()                                 # the job is over, or the slave stops
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from .session import BlenderSession, FrameOutcome, SessionSpec, SessionState, never

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    action: Literal["start", "reuse", "replace"]
    reason: str


def decide(current: SessionState | None, wanted: SessionSpec, max_frames: int | None) -> Decision:
    """Whether the running Blender can render for ``wanted``, or a fresh one must start.

    ``max_frames`` bounds how long one Blender lives, for files that leak
    memory frame after frame (``None``: as long as its job).
    """
    if current is None:
        return Decision("start", "no Blender is running")
    if not current.alive:
        return Decision("replace", "the running Blender has ended")
    if current.spec.job_id != wanted.job_id:
        return Decision("replace", f"job {wanted.job_id} follows job {current.spec.job_id}")
    changed = [f.name for f in fields(SessionSpec) if getattr(current.spec, f.name) != getattr(wanted, f.name)]
    if changed:
        return Decision("replace", f"job {wanted.job_id}'s settings changed: {', '.join(changed)}")
    if max_frames is not None and current.frames >= max_frames:
        return Decision("replace", f"the running Blender rendered {current.frames} frames (at most {max_frames})")
    return Decision("reuse", "same job, same settings")


class Sessions:
    """At most one running Blender, for the job being rendered; see :func:`decide` for when it is replaced."""

    def __init__(self, *, max_frames: int | None = None,
                 factory: Callable[[SessionSpec, Path], BlenderSession] = BlenderSession) -> None:
        self.max_frames = max_frames
        self.current: BlenderSession | None = None
        self.last_decision: Decision | None = None
        self._factory = factory

    def session(self, spec: SessionSpec, log_path: Path) -> BlenderSession:
        """The session to render ``spec`` with; ``log_path`` is used only when a new one starts."""
        decision = decide(self.current.state() if self.current else None, spec, self.max_frames)
        self.last_decision = decision
        if decision.action == "reuse" and self.current is not None:
            return self.current
        log.info("starting Blender for job %s: %s", spec.job_id, decision.reason)
        self.close()
        self.current = self._factory(spec, log_path)
        return self.current

    def render(self, spec: SessionSpec, log_path: Path, frame: int, should_stop: Callable[[], bool] = never,
               options: Mapping[str, Any] | None = None, *, later: bool = False) -> FrameOutcome:
        return self.session(spec, log_path).render(frame, should_stop, options, later=later)

    def close(self) -> None:
        """End the running Blender, if any (the job is over, or the slave stops)."""
        if self.current is not None:
            self.current.close()
            self.current = None
