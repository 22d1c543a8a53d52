# SPDX-License-Identifier: GPL-3.0-or-later
"""Scripts netrender hands to a slave's Blender with ``--python``.

They run inside that Blender, which does not have the netrender package, so
each is a standalone file that imports only ``bpy`` and the standard library;
nothing here is imported by the farm itself, only located on disk (see
:data:`netrender.node.blender.THUMBNAIL_SCRIPT`).
"""
