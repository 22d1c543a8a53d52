# SPDX-License-Identifier: GPL-3.0-or-later
"""Jobs that wait for another: a render after its bake (``submit --after JOB``, ``bake --then-render``).

A job with ``after`` gets no work until that job has finished. If that job
fails, is cancelled or removed, the waiting job can never run as asked: its
queued tasks fail with the reason, so it ends instead of waiting forever. A
job after a bake carries the bake's tasks in each assignment, so the slave
puts the baked caches beside the .blend before it renders.

Pure questions about the store's jobs; the dispatcher acts on the answers.
"""

from __future__ import annotations

from ..common.errors import Conflict, InvalidRequest, UnknownJob
from ..common.model import FrameStatus, Job, JobSpec, JobStatus
from .store import Store

ENDED_BADLY = (JobStatus.FAILED, JobStatus.CANCELLED)


def check(store: Store, spec: JobSpec) -> None:
    """A new job may wait only for a job that is there and may still finish."""
    if not spec.after:
        return
    try:
        before = store.job(spec.after)
    except UnknownJob:
        raise InvalidRequest(f"'after' names job {spec.after}, which is not on this master") from None
    if before.status in ENDED_BADLY:
        raise Conflict(f"job {spec.after} has {before.status.value}: a job after it could never start")
    if before.spec.kind == "bake" and spec.shared:
        raise InvalidRequest("a render after a bake puts the caches beside its own copy of the .blend: "
                             "send its files (not --shared)")


def waiting(store: Store, job: Job) -> bool:
    """Whether ``job`` must wait: the job it comes after has not finished (yet)."""
    if not job.spec.after:
        return False
    try:
        return store.job(job.spec.after).status is not JobStatus.FINISHED
    except UnknownJob:
        return True  # removed: :func:`stranded` fails it


def stranded(store: Store) -> list[tuple[int, str]]:
    """Open jobs that can never start, as (job, why): what they come after failed, was cancelled or removed."""
    out = []
    for job_id in sorted(store.tally.open):
        job = store.job(job_id)
        if not job.spec.after or job.status in ENDED_BADLY:
            continue
        try:
            before = store.job(job.spec.after)
        except UnknownJob:
            out.append((job_id, f"job {job.spec.after}, which it was to run after, was removed"))
            continue
        if before.status in ENDED_BADLY:
            out.append((job_id, f"job {before.id} ({before.spec.name}), which it was to run after, "
                                f"{before.status.value}{_reason(store, before)}"))
    return out


def _reason(store: Store, job: Job) -> str:
    failed = [f for f in store.frames(job.id) if f.message and f.status is FrameStatus.ERROR]
    return f": task {failed[0].number}: {failed[0].message}" if failed else ""


def bakes(store: Store, job: Job) -> tuple[int, tuple[tuple[int, str, str], ...]]:
    """The bake ``job`` renders after (0 if none), and its tasks: (number, object, cache)."""
    if not job.spec.after:
        return 0, ()
    before = store.job(job.spec.after)
    if before.spec.kind != "bake":
        return 0, ()
    return before.id, tuple((n, obj, cache) for n, (obj, cache) in enumerate(before.spec.caches, start=1))
