# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender queue`` (FIFO or balanced, autostart) and the queue's actions ``start``, ``stop``, ``enqueue``.

As RenderController has them; ``netrender.farm.queue`` says how they map onto
netrender's job states.
"""

from __future__ import annotations

import argparse
import sys

from ..client import Client
from .connect import access, master
from .options import master_option

ACTIONS = {"start": "render it now, by hand, alongside what the queue started",
           "stop": "stop it (paused): no new frames, frames out finish",
           "enqueue": "put it back in the queue, at the end, to wait for its turn"}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("queue", help="show or set the queue: fifo (one job at a time, in order) or balanced")
    master_option(p)
    p.add_argument("--mode", choices=("fifo", "balanced"))
    p.add_argument("--autostart", choices=("on", "off"), help="fifo: start the next job when none renders")
    for name, text in ACTIONS.items():
        q = sub.add_parser(name, help=f"a job: {text}")
        master_option(q)
        q.add_argument("job", type=int)


def show_or_set(args: argparse.Namespace) -> int:
    client = Client(master(args), access=access(args))
    changes = {**({"mode": args.mode} if args.mode else {}),
               **({"autostart": args.autostart == "on"} if args.autostart else {})}
    queue = client.conn.request("PUT", "/api/queue", json=changes).json() if changes else \
        client.conn.get("/api/queue")
    print(f"mode {queue['mode']}, autostart {'on' if queue['autostart'] else 'off'}")
    for job in client.jobs():
        print(f"{job['id']:>5}  {job['queue_state']:<10} {job['started_by'] or '-':<5} {job['name']}")
    return 0


def act(args: argparse.Namespace) -> int:
    job = Client(master(args), access=access(args)).conn.post(f"/api/jobs/{args.job}/{args.command}")
    print(f"job {job['id']}: {job['queue_state']}", file=sys.stderr)
    return 0
