# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender disable JOB SLAVE`` and ``enable``: a slave switched off for one job renders the others.

The slave is named by its name or id. Not a blacklisting: nothing failed,
and the job's blacklist is left as it is.
"""

from __future__ import annotations

import argparse
import sys

from ..client import Client
from ..common.errors import InvalidConfig
from .connect import access, master
from .options import master_option


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, text in (("disable", "switch a slave off for one job: it renders the others"),
                       ("enable", "switch a slave on again for a job")):
        p = sub.add_parser(name, help=text)
        master_option(p)
        p.add_argument("job", type=int)
        p.add_argument("slave", help="its name or id")


def switch(args: argparse.Namespace) -> int:
    client = Client(master(args), access=access(args))
    slaves = client.slaves()
    chosen = [s for s in slaves if args.slave in (s["id"], s["name"])]
    if len(chosen) != 1:
        raise InvalidConfig(f"{'no' if not chosen else 'more than one'} slave is called {args.slave!r}: "
                            f"give its id ({', '.join(s['id'] + ' ' + s['name'] for s in slaves) or 'none'})")
    slave = chosen[0]
    path = f"/api/jobs/{args.job}/switched-off/{slave['id']}"
    off = client.conn.request("PUT" if args.command == "disable" else "DELETE", path).json()["switched_off"]
    print(f"{slave['name']} is {'off' if args.command == 'disable' else 'on'} for job {args.job}; switched off "
          f"for it: {', '.join(s['name'] for s in slaves if s['id'] in off) or 'none'}", file=sys.stderr)
    return 0
