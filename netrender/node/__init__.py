# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's parts: rendering chunks, the Blender kept open per job and its wire format, the outbox and its
courier, the slave's settings, Blender's command line, and ``in_blender/`` (what runs inside Blender).

``netrender.slave`` puts them together. They may import ``common``, never the
farm or the server: a slave knows the master only through its HTTP API.
``in_blender/`` imports nothing of netrender at all, as the slave's Blender
does not have the package.
"""
