# SPDX-License-Identifier: GPL-3.0-or-later
"""A .blend file's dependencies, found with blender-asset-tracer (BAT), and their layout.

BAT reads the file's blocks without Blender and lists images, linked libraries
(recursively), caches and sequences. :func:`layout` then names every file
relative to the deepest folder that holds them all, so paths like
``//textures/a.png`` or ``//../shared/lib.blend`` resolve the same way on a
slave as on the artist's machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from blender_asset_tracer import blendfile, trace

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
        for usage in trace.deps(blend):
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
