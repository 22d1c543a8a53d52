# SPDX-License-Identifier: GPL-3.0-or-later
"""Which SSH render nodes a farm has: ``user@host[:port]`` on the command line, or a YAML file, as :class:`NodeSpec`.

Pure: nothing here connects. A node's ``name`` (``user@host``, with
``:port`` unless 22) is its identity on the farm, in the API and on the
monitor. A YAML file lists the nodes, with defaults for all of them::

    defaults:
      user: render
      key_file: ~/.ssh/farm_ed25519
      blender: /opt/blender/blender
      work_dir: /var/tmp/netrender
    nodes:
      - render-01
      - host: render-02
        port: 2222
        threads: 8
        tags: [gpu]
"""

from __future__ import annotations

import getpass
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import InvalidConfig, InvalidRequest

#: ``user@host``, ``host:port``, ``user@[::1]:port``.
TARGET_RE = re.compile(r"^(?:(?P<user>[^@\s:/]+)@)?(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^@\s:/\[\]]+))"
                       r"(?::(?P<port>\d{1,5}))?$")
DEFAULT_WORK_DIR = ".cache/netrender"  # under the user's home on the node


@dataclass(frozen=True)
class NodeSpec:
    """One machine the master renders on over SSH, and how."""

    host: str
    user: str = field(default_factory=getpass.getuser)
    port: int = 22
    key_file: str = ""  # a private key; empty: the SSH agent's keys and ~/.ssh's usual ones
    known_hosts: str = ""  # the known_hosts file to check the host's key against; empty: ~/.ssh/known_hosts
    blender: str = "blender"  # on the node
    threads: int = 0  # Blender's -t; 0: every core
    tags: tuple[str, ...] = ()
    work_dir: str = DEFAULT_WORK_DIR  # on the node: the file cache and the jobs' outputs; relative to home
    thumbnails: bool = False  # Blender there makes a PNG preview of each frame, fetched with it

    @property
    def name(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}" + ("" if self.port == 22 else f":{self.port}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self), "tags": list(self.tags)}

    @classmethod
    def from_json(cls, data: dict[str, Any], error: type[InvalidRequest | InvalidConfig] = InvalidRequest) -> NodeSpec:
        """A node from JSON (the API) or YAML; ``target`` (``user@host:port``) may stand for host, user and port."""
        if not isinstance(data, dict):
            raise error(f"an SSH node is an object with at least 'host' or 'target', not {data!r}")
        known = {f.name for f in fields(cls)} | {"target", "name"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise error(f"unknown SSH node setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {k: v for k, v in data.items() if k not in ("target", "name") and v is not None}
        if "target" in data:
            user, host, port = parse_target(str(data["target"]), error)
            # What the target spells out wins over the settings shared by all nodes.
            values = {**values, "host": host, **({"user": user} if user else {}), **({"port": port} if port else {})}
        if not isinstance(values.get("host"), str) or not values["host"]:
            raise error("an SSH node needs a 'host' (or a 'target' like user@host:port)")
        for name in ("user", "key_file", "known_hosts", "blender", "work_dir"):
            if name in values and not isinstance(values[name], str):
                raise error(f"SSH node setting '{name}' must be text, not {values[name]!r}")
        if "thumbnails" in values and not isinstance(values["thumbnails"], bool):
            raise error("SSH node setting 'thumbnails' must be true or false")
        for name, low, high in (("port", 1, 65535), ("threads", 0, 1024)):
            if name in values and (not isinstance(values[name], int) or isinstance(values[name], bool)
                                   or not low <= values[name] <= high):
                raise error(f"SSH node setting '{name}' must be a whole number from {low} to {high}")
        tags = values.get("tags", ())
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(";") if t.strip()]
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) and t for t in tags):
            raise error("SSH node setting 'tags' must be a list of names")
        values["tags"] = tuple(tags)
        return cls(**values)


def parse_target(text: str, error: type[InvalidRequest | InvalidConfig] = InvalidConfig) -> tuple[str, str, int]:
    """``user@host[:port]`` as (user or "", host, port or 0)."""
    match = TARGET_RE.match(text.strip())
    if match is None:
        raise error(f"{text!r} is not an SSH node: write it as user@host, host or user@host:port")
    port = int(match["port"]) if match["port"] else 0
    if match["port"] and not 1 <= port <= 65535:
        raise error(f"{text!r}: the port must be from 1 to 65535")
    return match["user"] or "", match["v6"] or match["host"], port


def node(target: str, **settings: Any) -> NodeSpec:
    """A node from the command line's ``user@host[:port]`` and settings shared by all such nodes."""
    return NodeSpec.from_json({"target": target, **{k: v for k, v in settings.items() if v is not None}},
                              InvalidConfig)


def load_config(path: Path) -> list[NodeSpec]:
    """The nodes of a YAML file (see the module's docstring); a bad file is an :class:`InvalidConfig`."""
    import yaml  # here: only a master given a nodes file needs it, not the add-on in Blender's Python

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidConfig(f"cannot read the SSH nodes file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InvalidConfig(f"the SSH nodes file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise InvalidConfig(f"the SSH nodes file {path} needs a 'nodes:' list (and may have 'defaults:')")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise InvalidConfig(f"'defaults' in {path} must be a mapping of settings")
    nodes = []
    for entry in data["nodes"]:
        item = {"target": entry} if isinstance(entry, str) else entry
        if not isinstance(item, dict):
            raise InvalidConfig(f"each node in {path} is a host name or a mapping, not {entry!r}")
        try:
            nodes.append(NodeSpec.from_json({**defaults, **item}, InvalidConfig))
        except InvalidConfig as exc:
            raise InvalidConfig(f"{path}: {exc}") from exc
    names = [n.name for n in nodes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidConfig(f"{path} names the same node twice: {', '.join(twice)}")
    return nodes


def with_defaults(spec: NodeSpec, **settings: Any) -> NodeSpec:
    return replace(spec, **{k: v for k, v in settings.items() if v is not None})
