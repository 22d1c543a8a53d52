# SPDX-License-Identifier: GPL-3.0-or-later
"""What the master knows and decides: jobs, frames and slaves, dispatch, the roster, results, shared storage,
and the SQLite store with its in-memory tally.

It is the master without HTTP: each request of the server becomes one call
here, with the time passed in. It may import ``balancing`` and ``common``,
never the server, the node, the client's packing, the command line or the
add-on. (Contracts: ``[tool.importlinter]`` in ``pyproject.toml``.)
"""
