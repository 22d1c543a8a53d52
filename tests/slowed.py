# SPDX-License-Identifier: GPL-3.0-or-later
"""A Blender that runs at half speed whatever the machine: a slave made slow on purpose.

Fewer threads do not make a slave slower on a machine whose CPU quota is one core
(as CI's may be), or when the two slaves' tests overlap. Stopping Blender half of
every tenth of a second does, on any machine: its own clock sees the pauses.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

WRAPPER = '''\
import ctypes, signal, subprocess, sys, time

def die_with_us():
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no Blender left stopped behind us

blender = subprocess.Popen([{blender!r}, *sys.argv[1:]], preexec_fn=die_with_us)
signal.signal(signal.SIGTERM, lambda *_: blender.kill())
while blender.poll() is None:
    time.sleep(0.05)
    blender.send_signal(signal.SIGSTOP)
    time.sleep(0.05)
    blender.send_signal(signal.SIGCONT)
sys.exit(blender.returncode)
'''


def slowed_blender(folder: Path, blender: str = "blender") -> Path:
    """An executable in ``folder`` that runs ``blender`` with its arguments at half speed."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "slowed-blender"
    script.write_text(f"#!{sys.executable}\n" + WRAPPER.format(blender=blender), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script
