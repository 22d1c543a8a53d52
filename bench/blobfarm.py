# SPDX-License-Identifier: GPL-3.0-or-later
"""A master's farm in a folder, holding one small file that the benchmarks' jobs all name."""

from __future__ import annotations

import hashlib
from pathlib import Path

from netrender.farm.jobs import Farm, open_root

BLOB = b"blend"


def farm_with_blob(folder: Path) -> tuple[Farm, dict[str, object]]:
    """The farm, and a job file entry for its one file (``path`` to be set by the caller)."""
    farm = Farm(open_root(folder))
    sha = hashlib.sha256(BLOB).hexdigest()
    farm.blobs.put(sha, [BLOB])
    return farm, {"sha256": sha, "size": len(BLOB)}
