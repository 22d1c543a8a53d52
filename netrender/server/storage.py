# SPDX-License-Identifier: GPL-3.0-or-later
"""The API's view of shared storage: browse it (for shared-storage jobs), and check an output folder's frames.

Confined to the master's ``--storage-root`` folders (``netrender.farm.browse``).
The views join the API's blueprint when this module is imported, before the
blueprint is registered (``netrender.master`` sees to it).
"""

from __future__ import annotations

from typing import Any

from flask import request

from ..common.errors import InvalidRequest
from ..common.frames import parse_frames
from ..farm import browse
from .api import bp, farm


def _root() -> int:
    try:
        return int(request.args.get("root", "0"))
    except ValueError:
        raise InvalidRequest("'root' must be a number") from None


@bp.get("/storage")
def list_storage() -> Any:
    return browse.listing(farm().storage.roots, _root(), request.args.get("path", ""))


@bp.get("/storage/frames")
def storage_frames() -> Any:
    """Which of ``frames`` (``1-250``) a folder lacks, named by ``pattern`` (default the farm's ``######.exr``)."""
    numbers = parse_frames(request.args.get("frames", ""))
    found = browse.frames(farm().storage.roots, _root(), request.args.get("path", ""),
                          request.args.get("pattern", "######.exr"), numbers)
    return {"missing": found.missing, "empty": found.empty, "to_render": found.to_render}
