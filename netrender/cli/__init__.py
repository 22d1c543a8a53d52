# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``netrender`` command: its options (``parser``), what each command does (``commands``), the demo, and
the progress bars.

It stands on the entry points (``master``, ``slave``, ``client``) and may
import any room but the add-on.
"""

from .commands import main

__all__ = ["main"]
