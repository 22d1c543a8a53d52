# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a client's path on shared storage is on this machine: ``P:\\projects`` is ``/mnt/projects`` here.

A farm whose machines mount the same storage renders files in place, by path;
but each machine may mount it elsewhere, and a Windows client writes drive
letters and backslashes. Each master and slave is told its own mount points as
pairs ``CLIENT=LOCAL`` (``--path-map 'P:\\projects=/mnt/projects'``); a path
starting with a pair's client prefix gets the local prefix instead, the
longest prefix winning, and a path no pair matches is taken as it is (the
storage is mounted at the same place here). Windows prefixes match whatever
the case and either slash, as Windows does. Pure functions: nothing here
touches the disk.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
from dataclasses import dataclass

from .errors import InvalidConfig

_WINDOWS = re.compile(r"^([A-Za-z]:|\\\\|//)")


def _is_windows(path: str) -> bool:
    return bool(_WINDOWS.match(path)) or "\\" in path


def _norm(path: str) -> str:
    """Forward slashes, ``..`` resolved, no trailing slash: the form prefixes are compared in."""
    norm = ntpath.normpath(path).replace("\\", "/") if _is_windows(path) else posixpath.normpath(path)
    return norm if norm == "/" else norm.rstrip("/")


@dataclass(frozen=True)
class PathMap:
    """Client prefixes and the local folders they are on this machine."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...] | None) -> PathMap:
        """From ``CLIENT=LOCAL`` strings (the command line's ``--path-map``)."""
        pairs = []
        for spec in specs or ():
            client, sep, local = spec.partition("=")
            if not sep or not client.strip() or not local.strip():
                raise InvalidConfig(f"a path map is CLIENT=LOCAL, e.g. 'P:\\projects=/mnt/projects', not {spec!r}")
            pairs.append((client.strip(), local.strip()))
        return cls(tuple(pairs))

    def local(self, path: str) -> str:
        """``path`` (a client's, any OS) as this machine sees it."""
        windows = _is_windows(path)
        norm = _norm(path)
        seen = norm.lower() if windows else norm
        best: tuple[str, str] | None = None  # the longest matching prefix, as compared, and its local folder
        for client, local in self.pairs:
            if _is_windows(client) != windows:
                continue
            prefix = _norm(client).lower() if windows else _norm(client)
            inside = seen == prefix or seen.startswith(prefix if prefix.endswith("/") else prefix + "/")
            if inside and (best is None or len(prefix) > len(best[0])):
                best = (prefix, local)
        if best is None:
            return path
        rest = norm[len(best[0]):].strip("/")
        return os.path.join(best[1], *rest.split("/")) if rest else best[1]

    def to_json(self) -> list[str]:
        return [f"{client}={local}" for client, local in self.pairs]
