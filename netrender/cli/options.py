# SPDX-License-Identifier: GPL-3.0-or-later
"""The options several ``netrender`` commands share: which master, the token, a job's settings, SSH nodes.

One definition each, so that ``submit``, ``bake``, ``slave`` and the rest
spell and explain them alike.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..common.token import ENV_VAR as TOKEN_ENV


def job_options(p: argparse.ArgumentParser) -> None:
    """What every job is given: its frames, name, category, tags, priority, chunks and scripts."""
    p.add_argument("--frames", help="e.g. 1-24 or 1,5,10-12 (default: the scene's range)")
    p.add_argument("--name", default="")
    p.add_argument("--category", default="")
    p.add_argument("--tags", default="", help="semicolon-separated tags a slave must have")
    p.add_argument("--priority", type=int, default=1)
    p.add_argument("--chunks", type=int, default=1, help="frames per dispatch")
    p.add_argument("--allow-scripts", action="store_true",
                   help="let the file's auto-run scripts run on slaves that allow scripts too")


def master_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--master", default="[default]",
                   help="master URL or host[:port] (default: this machine's master, else one found on the network)")
    p.add_argument("--discover", action="store_true",
                   help="find the master on the network (UDP broadcast or zeroconf), whatever --master says")
    p.add_argument("--ca-file", type=Path, help="trust the master's certificate if it chains to this PEM CA "
                                                "(or is this self-signed certificate); implies https")
    p.add_argument("--fingerprint", help="trust only the master certificate with this SHA-256 fingerprint "
                                         "(hex; the master prints it); implies https")
    token_option(p)


def node_options(p: argparse.ArgumentParser, prefix: str) -> None:
    """How to log in to SSH nodes and render there; ``prefix`` for the master's options (``--ssh-key``…)."""
    p.add_argument(f"--{prefix}key", metavar="FILE", help="private key (default: the SSH agent's and ~/.ssh's)")
    p.add_argument(f"--{prefix}known-hosts", metavar="FILE", help="known_hosts file (default: ~/.ssh/known_hosts)")
    p.add_argument(f"--{prefix}blender", metavar="PATH", help="Blender on the node (default: blender)")
    p.add_argument(f"--{prefix}threads", type=int, metavar="N", help="render threads on the node (default: all)")
    p.add_argument(f"--{prefix}tags", metavar="TAGS", help="semicolon-separated tags of the node")
    p.add_argument(f"--{prefix}work-dir", metavar="DIR",
                   help="on the node: the file cache and outputs (default: ~/.cache/netrender)")


def sessions_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sessions", type=Path, default=Path("netrender-sessions"), metavar="DIR",
                   help="where session folders are kept (default: ./netrender-sessions)")


def path_map_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path-map", action="append", default=[], metavar="CLIENT=LOCAL",
                   help="a client's path prefix on shared storage and where it is on this machine, "
                        "e.g. 'P:\\projects=/mnt/projects' (repeatable)")


def token_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token-file", type=Path,
                   help=f"read the farm token from this file (default: ${TOKEN_ENV}, if set)")
