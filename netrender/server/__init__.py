# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's HTTP side: the JSON API written in ``openapi.yaml``, the WSGI server, the farm token's guard.

It turns requests into calls on the farm (``netrender.farm``) and answers
JSON, one error shape for everything. It may import the farm and ``common``,
never the node, the client's packing, the command line or the add-on.
"""
