# SPDX-License-Identifier: GPL-3.0-or-later
"""What every room shares: errors, the data model and its checks, retries, HTTP to the master, files by hash,
path maps, TLS and the farm token.

It imports nothing else of netrender: master, slaves, clients and the add-on
all stand on it. (Contracts: ``[tool.importlinter]`` in ``pyproject.toml``.)
"""
