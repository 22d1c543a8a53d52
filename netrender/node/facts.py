# SPDX-License-Identifier: GPL-3.0-or-later
"""Which Blender a node has and what it can do, asked once per executable.

The slave reports these facts when it registers, so the master sends a task
that needs a capability (denoising) only to a node whose Blender has it. SSH
nodes ask the same question over their link, hence the argv and the parser
stand apart from the local call.
"""

from __future__ import annotations

import json
import logging
import subprocess
from typing import Any

#: Printed by :data:`FACTS_SCRIPT` before the JSON of what this Blender is and can do.
FACTS_MARK = "netrender facts:"
FACTS_SCRIPT = (
    "import json, bpy\n"
    "try:\n    import _cycles\n    denoise = bool(getattr(_cycles, 'with_openimagedenoise', False))\n"
    "except ImportError:\n    denoise = False\n"
    f"print({FACTS_MARK!r}, json.dumps({{'version': bpy.app.version_string, 'denoise': denoise}}), flush=True)\n"
)
_facts: dict[str, dict[str, Any]] = {}


def facts_argv(blender: str) -> list[str]:
    return [blender, "-b", "--factory-startup", "--python-expr", FACTS_SCRIPT]


def parse_facts(output: str) -> dict[str, Any]:
    """What :data:`FACTS_SCRIPT` printed: the version and the capabilities; ValueError if it printed nothing."""
    try:
        line = next(line for line in output.splitlines() if line.startswith(FACTS_MARK))
        said = json.loads(line[len(FACTS_MARK):])
        return {"blender": str(said["version"]), "capabilities": ["denoise"] if said.get("denoise") else []}
    except (StopIteration, KeyError, TypeError) as exc:
        raise ValueError(f"Blender did not say what it is: {output.strip()[-300:] or 'no output'}") from exc


def blender_facts(blender: str, timeout: float = 120.0) -> dict[str, Any]:
    """Which Blender ``blender`` is and what it can do, asked once per executable and kept.

    ``capabilities`` lists what some tasks need: ``denoise`` when Cycles has
    OpenImageDenoise (Debian's Blender 3.4 has not; the ``bpy`` 4.5 wheel has),
    so the master gives a frame to denoise only to a slave that can. A Blender
    that cannot be asked reports nothing, and gets no such task.
    """
    if blender not in _facts:
        found: dict[str, Any] = {"capabilities": []}
        try:
            proc = subprocess.run(facts_argv(blender), capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
            found = parse_facts(proc.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            logging.getLogger(__name__).warning("cannot ask %s what it can do: %s", blender, exc)
        _facts[blender] = found
    return dict(_facts[blender])
