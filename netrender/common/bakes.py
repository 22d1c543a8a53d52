# SPDX-License-Identifier: GPL-3.0-or-later
"""What the client and a slave share when they put a bake's caches beside a .blend.

Both hand ``node/in_blender/caches.py install`` a manifest: each cache's
object, name and a folder holding its baked files, unpacked from the zip the
bake job gave back. Both read what that script said when it stopped.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path

SAID = "netrender: "  # how the scripts inside Blender start a line meant for people


def unpack(baked: Iterable[tuple[str, str, Path]], folder: Path) -> Path:
    """Each (object, cache, zip of its files) unpacked flat into a folder of its own under ``folder``; the
    manifest ``caches.py install`` reads, in the order given."""
    manifest = []
    for i, (obj, cache, archive) in enumerate(baked):
        unpacked = folder / f"{i:06d}"
        unpacked.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():  # blendcache_<file>/<name>: each file flat in its folder
                if not member.is_dir():
                    with zf.open(member) as src, open(unpacked / Path(member.filename).name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        manifest.append({"object": obj, "cache": cache, "folder": str(unpacked)})
    listed = folder / "manifest.json"
    listed.write_text(json.dumps(manifest), encoding="utf-8")
    return listed


def last_said(lines: Iterable[str], also: tuple[str, ...] = ()) -> str | None:
    """The last line a script inside Blender said to people (or that starts with one of ``also``)."""
    said = [line.removeprefix(SAID) for line in lines if line.startswith((SAID, *also))]
    return said[-1] if said else None
