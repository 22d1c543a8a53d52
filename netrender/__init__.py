# SPDX-License-Identifier: GPL-3.0-or-later
"""netrender: a network render farm for Blender.

The core (``master``, ``slave``, ``client``, ``balancing`` and what they use)
imports without Blender; only the add-on layer imports ``bpy``.
"""

__version__ = "0.1.0"

bl_info = {
    "name": "Network Render",
    "author": "netrender developers",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Render > Engine > Network Render",
    "description": "Distributed rendering for Blender: master, slaves and client",
    "category": "Render",
}
