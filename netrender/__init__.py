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


def register() -> None:
    """Blender calls this when the add-on is enabled; the bpy layer is imported only now."""
    try:
        from . import addon
    except ImportError as exc:  # a 3.x Blender without the dependencies installed
        raise ImportError(
            f"netrender needs {exc.name!r}: install its dependencies into Blender's Python "
            "(see README.rst, 'Installing the add-on')"
        ) from exc
    addon.register()


def unregister() -> None:
    from . import addon

    addon.unregister()
