# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender nodes …`` (the master's SSH nodes, and machine tools) and ``netrender doctor``.

Listing, adding, removing and cleaning go through the master's API, so they
work from any machine; ``check``, ``find`` and ``trust`` log in from this
machine, so run them where the master runs (its keys, its ``known_hosts``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..client import Client
from ..common.errors import InvalidConfig
from ..common.nodes import NodeSpec, load_config, node
from ..node import devices
from ..node.facts import blender_facts
from ..ssh.checks import check, find
from ..ssh.hostkeys import trust
from .connect import access, master
from .options import master_option, node_options


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``netrender nodes ACTION``."""
    p = sub.add_parser("nodes", help="SSH nodes: list, add, remove, check, find, trust, clean")
    actions = p.add_subparsers(dest="nodes_command", required=True, metavar="ACTION")
    q = actions.add_parser("list", help="the master's SSH nodes and how each is doing")
    master_option(q)
    q = actions.add_parser("add", help="have the master render on this machine too")
    master_option(q)
    q.add_argument("target", metavar="USER@HOST[:PORT]")
    node_options(q, "")
    q = actions.add_parser("remove", help="stop rendering on a node (its frame in progress goes back to the queue)")
    master_option(q)
    q.add_argument("name", metavar="USER@HOST[:PORT]")
    q = actions.add_parser("check", help="test nodes from here: log-in, Blender, free disk, write access")
    master_option(q)
    q.add_argument("targets", nargs="*", metavar="USER@HOST[:PORT]", help="default: the master's nodes")
    q.add_argument("--config", type=Path, metavar="FILE", help="the nodes of a YAML file")
    node_options(q, "")
    q = actions.add_parser("find", help="machines on the LAN that announce SSH (mDNS), and their Blender")
    q.add_argument("--timeout", type=float, default=3.0, help="seconds to listen (default 3)")
    q.add_argument("--user", help="log in as this user to look for Blender")
    q.add_argument("--interface", action="append", metavar="ADDRESS", help="listen only there (repeatable)")
    node_options(q, "")
    q = actions.add_parser("trust", help="accept a node's host key, if its fingerprint is the one given")
    q.add_argument("target", metavar="USER@HOST[:PORT]")
    q.add_argument("--fingerprint", required=True, metavar="SHA256:…", help="as the refusal printed it")
    q.add_argument("--known-hosts", metavar="FILE", help="default: ~/.ssh/known_hosts")
    q = actions.add_parser("clean", help="remove the frames rendered on every SSH node (--all: every file kept)")
    master_option(q)
    q.add_argument("--all", action="store_true", help="the file cache too")


def node_settings(args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """The node options given (``--key`` or ``--ssh-key``…), as NodeSpec settings."""
    def given(name: str) -> Any:
        return getattr(args, prefix + name, None)

    tags = given("tags")
    return {"key_file": given("key"), "known_hosts": given("known_hosts"), "blender": given("blender"),
            "threads": given("threads"), "work_dir": given("work_dir"),
            "tags": [t for t in tags.split(";") if t] if tags else None}


def master_nodes(args: argparse.Namespace) -> list[NodeSpec]:
    """The master's nodes from ``--ssh-node`` and ``--ssh-config``."""
    settings = node_settings(args, "ssh_")
    nodes = load_config(args.ssh_config) if args.ssh_config else []
    nodes += [node(target, **settings) for target in args.ssh_node]
    return nodes


def nodes(args: argparse.Namespace) -> int:
    return int(ACTIONS[args.nodes_command](args) or 0)


def _client(args: argparse.Namespace) -> Client:
    return Client(master(args), access=access(args))


def list_nodes(args: argparse.Namespace) -> int:
    found = _client(args).conn.get("/api/nodes")["nodes"]
    if not found:
        print("the master drives no SSH node (add one: netrender nodes add user@host)", file=sys.stderr)
    print(f"{'node':<32} {'state':<12} {'Blender':<10} {'threads':>7}  {'sent':>10}  problem / status")
    for n in found:
        print(f"{n['name']:<32} {n['state']:<12} {n['blender']:<10} {n['threads'] or 'all':>7}  "
              f"{n['sent_bytes'] >> 20:>7} MiB  {n['problem'] or n['status']}")
    return 0


def add_node(args: argparse.Namespace) -> int:
    spec = node(args.target, **node_settings(args))
    _client(args).conn.post("/api/nodes", {k: v for k, v in spec.to_json().items() if k != "name"})
    print(f"{spec.name} added: the master logs in within a second (netrender nodes list shows how it goes)",
          file=sys.stderr)
    return 0


def remove_node(args: argparse.Namespace) -> int:
    _client(args).conn.request("DELETE", f"/api/nodes/{args.name}")
    print(f"{args.name} removed", file=sys.stderr)
    return 0


def check_nodes(args: argparse.Namespace) -> int:
    """Test each node from here and print a table with what to fix; exit 1 if any needs fixing."""
    settings = node_settings(args)
    specs = [node(target, **settings) for target in args.targets]
    if args.config:
        specs += load_config(args.config)
    if not specs:
        specs = [NodeSpec.from_json(n) for n in _client(args).conn.get("/api/nodes")["nodes"]]
    if not specs:
        print("no node to check: name some, give --config, or add nodes to the master", file=sys.stderr)
        return 2
    results = [check(spec) for spec in specs]
    print(f"{'node':<32} {'log-in':<18} {'Blender':<16} {'disk':<16} {'write':<8}")
    for r in results:
        print(f"{r.node:<32} {r.login:<18} {r.blender:<16} {r.disk:<16} {r.write:<8}")
    for r in results:
        for fix in r.fixes:
            print(f"  {r.node}: {fix}")
    print(f"{sum(r.ok for r in results)} of {len(results)} node(s) ready", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


def find_nodes(args: argparse.Namespace) -> int:
    login = None
    if args.user or args.key:
        login = NodeSpec.from_json({"host": "-", **({"user": args.user} if args.user else {}),
                                    **{k: v for k, v in node_settings(args).items() if v is not None}})
    machines = find(args.timeout, login=login, interfaces=args.interface)
    print(f"{'machine':<32} {'address':<16} {'port':>5}  {'SSH':<24} {'Blender':<16} note")
    for m in machines:
        print(f"{m.name:<32} {m.address:<16} {m.port:>5}  {m.ssh[:24] or '-':<24} {m.blender or '-':<16} {m.note}")
    print(f"{len(machines)} machine(s) announce SSH on this network", file=sys.stderr)
    return 0


def trust_node(args: argparse.Namespace) -> int:
    spec = node(args.target, known_hosts=args.known_hosts)
    path = trust(spec, args.fingerprint)
    print(f"{spec.name}'s key {args.fingerprint} added to {path}", file=sys.stderr)
    return 0


def clean_nodes(args: argparse.Namespace) -> int:
    said = _client(args).conn.post("/api/nodes/clean", {"what": "all" if args.all else "outputs"})["cleaned"]
    for name, text in said.items():
        print(f"{name}: {text}")
    return 0 if all(text == "cleaned" for text in said.values()) else 1


ACTIONS = {"list": list_nodes, "add": add_node, "remove": remove_node, "check": check_nodes, "find": find_nodes,
           "trust": trust_node, "clean": clean_nodes}

def doctor(args: argparse.Namespace) -> int:
    """What this machine has for netrender, and what is missing with how to get it; exit 1 if Blender is missing."""
    rows: list[tuple[str, str, str]] = []
    path = shutil.which(args.blender)
    if path is None:
        rows.append(("Blender", "missing", "install it (apt-get install blender), or give --blender PATH"))
    else:
        facts = blender_facts(path)
        rows.append(("Blender", f"{facts.get('blender', '?')} at {path}", ""))
        rows.append(("denoising (OpenImageDenoise)", "yes" if "denoise" in facts.get("capabilities", []) else "no",
                     "" if "denoise" in facts.get("capabilities", []) else
                     "this Blender cannot denoise tiled frames whole; others on the farm can"))
        rows.append(("GPU devices Cycles sees", _gpus(path) or "none (renders on the CPU)", ""))
    for tool, package in (("ssh", "openssh-client"), ("ssh-keygen", "openssh-client")):
        where = shutil.which(tool)
        rows.append((tool, where or "missing", "" if where else f"apt-get install {package}"))
    agent = os.environ.get("SSH_AUTH_SOCK")
    keys = [p for p in ("id_ed25519", "id_ecdsa", "id_rsa") if os.path.exists(os.path.expanduser(f"~/.ssh/{p}"))]
    rows.append(("SSH keys for nodes", ", ".join(([f"agent at {agent}"] if agent else []) + keys) or "none",
                 "" if agent or keys else "make one: ssh-keygen -t ed25519, then ssh-copy-id user@node"))
    free = shutil.disk_usage(tempfile.gettempdir()).free / (1 << 30)
    rows.append(("free disk in " + tempfile.gettempdir(), f"{free:.1f} GiB", "" if free >= 2 else "free some space"))
    width = max(len(r[0]) for r in rows)
    for what, found, fix in rows:
        print(f"{what:<{width}}  {found}" + (f"\n{'':<{width}}  → {fix}" if fix else ""))
    return 1 if path is None else 0


def _gpus(path: str) -> str:
    """The GPUs Cycles can render with, as ``slave --gpus`` would find them; empty if none or Blender will not say."""
    try:
        return ", ".join(f"{d.type}: {d.name}" for d in devices.list_gpus(path))
    except (InvalidConfig, ValueError):
        return ""
