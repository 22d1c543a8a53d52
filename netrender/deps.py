# SPDX-License-Identifier: GPL-3.0-or-later
"""A .blend file's dependencies, found with blender-asset-tracer (BAT), and their names in a job.

BAT reads the file's blocks without Blender and lists images, linked libraries
(recursively), caches and sequences. :func:`trace` names each file in the job:
files in the .blend's folder keep their place (so ``//textures/a.png`` resolves
on a slave as on the artist's machine); files elsewhere (``//../shared/``,
``/srv/textures/``, ``D:\\assets\\``) go under ``_outside/<folder hash>/`` with
their own name, and the path the .blend wrote for them is remapped on the
slave by a script inside its Blender.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from blender_asset_tracer import blendfile
from blender_asset_tracer import trace as bat_trace

from .errors import NetrenderError

log = logging.getLogger(__name__)


class DependencyError(NetrenderError):
    code = "dependency_error"
    status = 400


def trace_files(blend: Path, on_missing: Callable[[Path], None] = lambda p: None) -> list[Path]:
    """The .blend itself first, then every existing file it depends on, each once."""
    blend = blend.resolve()
    if not blend.is_file():
        raise DependencyError(f"{blend} does not exist")
    found: dict[Path, None] = {blend: None}
    try:
        for usage in bat_trace.deps(blend):
            for path in usage.files():
                path = Path(os.path.abspath(path))
                if path.is_file():
                    found.setdefault(path, None)
                else:
                    on_missing(path)
    except blendfile.exceptions.BlendFileError as exc:
        raise DependencyError(f"cannot read {blend.name}: {exc}") from exc
    finally:
        blendfile.close_all_cached()
    return list(found)


OUTSIDE = "_outside"


@dataclass(frozen=True)
class Traced:
    """What a job of one .blend must carry."""

    files: dict[Path, str]  # every file, the .blend first: its absolute path -> its name in the job
    remap: dict[str, str]  # a path as a .blend wrote it -> the name of that file in the job


def job_name(path: Path, root: Path) -> str:
    """The name of ``path`` in a job rooted at ``root`` (the .blend's folder).

    Files outside the root share a folder per original folder, so image
    sequences and UDIM sets stay together, and names never climb out of the job.
    """
    try:
        return PurePosixPath(*path.relative_to(root).parts).as_posix()
    except ValueError:
        folder = hashlib.sha256(str(path.parent).encode("utf-8", "surrogateescape")).hexdigest()[:12]
        return f"{OUTSIDE}/{folder}/{path.name}"


def trace(blend: Path, on_missing: Callable[[Path], None] = lambda p: None) -> Traced:
    """The files a job of ``blend`` needs, and the paths the slave must remap to find them."""
    blend = Path(os.path.abspath(blend))
    if not blend.is_file():
        raise DependencyError(f"{blend} does not exist")
    root = blend.parent
    files: dict[Path, str] = {blend: blend.name}
    remap: dict[str, str] = {}
    try:
        for usage in bat_trace.deps(blend):
            for path in usage.files():
                path = Path(os.path.abspath(path))
                if path.is_file():
                    files.setdefault(path, job_name(path, root))
                else:
                    on_missing(path)
            written = bytes(usage.asset_path).decode("utf-8", "surrogateescape")
            target = Path(os.path.abspath(usage.abspath))
            name = job_name(target, root)
            # Relative paths inside the folder resolve by themselves; everything else is remapped.
            if not written.startswith("//") or name.startswith(OUTSIDE + "/"):
                remap[written] = name
    except blendfile.exceptions.BlendFileError as exc:
        raise DependencyError(f"cannot read {blend.name}: {exc}") from exc
    finally:
        blendfile.close_all_cached()
    return Traced(files, remap)


def layout(files: Iterable[Path]) -> dict[Path, str]:
    """Map each absolute path to a relative POSIX name under their common folder."""
    paths = list(files)
    if not paths:
        return {}
    root = Path(os.path.commonpath([p.parent for p in paths]))
    return {p: PurePosixPath(*p.relative_to(root).parts).as_posix() for p in paths}


def frame_range(blend: Path) -> list[int]:
    """The frames the file's current scene renders (start..end by step), read without Blender."""
    try:
        bfile = blendfile.open_cached(Path(blend))
        globs = bfile.find_blocks_from_code(b"GLOB")
        scene = globs[0].get_pointer(b"curscene") if globs else None
        scene = scene or bfile.find_blocks_from_code(b"SC")[0]
        start, end, step = (int(scene.get((b"r", key))) for key in (b"sfra", b"efra", b"frame_step"))
    except (blendfile.exceptions.BlendFileError, IndexError, KeyError, OSError) as exc:
        raise DependencyError(f"cannot read the frame range of {Path(blend).name}: {exc}") from exc
    finally:
        blendfile.close_all_cached()
    return list(range(start, end + 1, max(step, 1)))
