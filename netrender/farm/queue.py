# SPDX-License-Identifier: GPL-3.0-or-later
"""The master as a queue, like RenderController's: jobs render one at a time, in order.

With the ``fifo`` rule on, only *started* jobs get work. A job is started by
hand (``start``), or by ``autostart``: when no started job is left rendering,
the first waiting job in queue order starts. A job started by hand renders
alongside the one autostart chose, and while it renders autostart starts no
other. RenderController's states and actions map onto netrender's:

=============  =========================================================
RenderController  netrender
=============  =========================================================
Waiting        queued, not started (``queue_state`` ``waiting``)
Rendering      started by hand or by autostart (``rendering``)
Stopped        paused (``stopped``); its started mark is taken off
Finished       finished, failed or cancelled (``finished``)
start          resume, started by hand: renders now, whatever the order
stop           pause: no new frames; frames out finish
enqueue        resume as waiting, at the end of the queue
=============  =========================================================

Without ``fifo`` the balancer runs every active job as before; the three
actions still pause, resume and reorder. Pure: :func:`pick` decides, the
dispatcher acts.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..common.model import Job, JobControl, JobStatus

ACTIONS = ("start", "stop", "enqueue")


def pick(jobs: Iterable[Job], autostart: bool) -> tuple[set[int], int | None]:
    """The jobs that may render now, and the one autostart starts now (if any)."""
    active = [j for j in jobs if j.control is JobControl.ACTIVE and j.status in (JobStatus.QUEUED, JobStatus.RUNNING)]
    started = {j.id for j in active if j.started_by}
    if started or not autostart:
        return started, None
    waiting = sorted(active, key=lambda j: (j.queued_at or j.submitted_at, j.id))
    if not waiting:
        return set(), None
    return {waiting[0].id}, waiting[0].id
