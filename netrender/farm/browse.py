# SPDX-License-Identifier: GPL-3.0-or-later
"""Browsing the master's shared storage: folders and files under a ``--storage-root``, never outside it.

A path is relative to the root it names (by index, in the order the master
was given them). ``..``, an absolute path or a drive is refused as it
stands (400); a path that reaches outside through a symlink is refused once
followed (403); a symlink inside a folder that leads out is not listed. The
same confinement serves the missing-frames check of a shared output folder.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from ..common.errors import Forbidden, InvalidRequest, NotFound
from ..common.framefiles import FrameCheck, check

MAX_ENTRIES = 5000


def folder(roots: tuple[Path, ...], root: int, path: str) -> Path:
    """The real folder ``path`` names under root number ``root``, confined to it."""
    if not roots:
        raise NotFound("this master shares no storage (start it with --storage-root DIR)")
    if not 0 <= root < len(roots):
        raise InvalidRequest(f"'root' must be from 0 to {len(roots) - 1}")
    if "\0" in path or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        raise InvalidRequest("'path' is relative to the storage root: no absolute path or drive")
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if ".." in parts:
        raise InvalidRequest("'path' must not go up ('..')")
    base = roots[root]
    real = Path(os.path.realpath(base.joinpath(*parts)))
    if not real.is_relative_to(base):
        raise Forbidden(f"{path!r} leads outside the shared storage")
    if not real.is_dir():
        raise NotFound(f"there is no folder {path!r} in the shared storage")
    return real


def listing(roots: tuple[Path, ...], root: int, path: str) -> dict[str, Any]:
    """The folders and files in a folder of the shared storage: name, kind, size, time."""
    here = folder(roots, root, path)
    base = roots[root]
    entries: list[dict[str, Any]] = []
    with os.scandir(here) as found:
        for entry in sorted(found, key=lambda e: e.name):
            try:
                target = Path(os.path.realpath(entry.path))
                if not target.is_relative_to(base):
                    continue  # a link out of the storage: not shown
                st = target.stat()
            except OSError:
                continue
            kind = "folder" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else None
            if kind is None:
                continue
            entries.append({"name": entry.name, "kind": kind, "size": st.st_size if kind == "file" else None,
                            "modified": st.st_mtime})
            if len(entries) >= MAX_ENTRIES:
                break
    entries.sort(key=lambda e: (e["kind"] != "folder", str(e["name"]).lower()))
    shown = here.relative_to(base).as_posix()
    return {"root": root, "roots": [str(r) for r in roots], "path": "" if shown == "." else shown,
            "entries": entries, "truncated": len(entries) >= MAX_ENTRIES}


def frames(roots: tuple[Path, ...], root: int, path: str, pattern: str, numbers: list[int]) -> FrameCheck:
    """:func:`netrender.common.framefiles.check` on a folder of the shared storage."""
    if "/" in pattern or "\\" in pattern:
        raise InvalidRequest("'pattern' is a file name, like shot_####.png")
    return check(folder(roots, root, path), pattern, numbers)
