# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender's GUI: steps that wait in vain, so the test sees how a failing GUI script is reported."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gui import Steps, run, wait_for  # noqa: E402


def steps() -> Steps:
    yield None
    yield from wait_for(lambda: False, timeout=0.5, what="a window that never opens")
    return {"never": "reached"}


run(steps)
