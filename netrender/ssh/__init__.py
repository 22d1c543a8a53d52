# SPDX-License-Identifier: GPL-3.0-or-later
"""Render nodes over SSH: machines with Blender and an SSH server, and nothing of netrender installed.

Which nodes there are is ``netrender.common.nodes`` (the API checks them
too); ``link`` is one SSH connection (paramiko: known hosts, keys, commands,
SFTP, the port Blender calls back on); ``hostkeys`` reads a host's key
before logging in and trusts it on purpose; ``mirror`` keeps a node's copy of the
job files, by content hash; ``session`` is a Blender kept open on the node;
``node`` is a slave whose Blender runs there; ``pool`` runs the master's nodes;
``checks`` finds machines and tests nodes.
"""
