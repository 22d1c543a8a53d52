# SPDX-License-Identifier: GPL-3.0-or-later
"""The API's SSH nodes: list them with their state, add, change and remove them while the master runs.

The farm keeps the list (``netrender.farm.nodes``); the master's node pool,
registered on the app as ``netrender.nodes``, follows it within a second and
says how each node is doing. A master without one (a test's app) lists the
nodes without state. The views join the API's blueprint when this module is
imported, before the blueprint is registered (``netrender.master`` sees to it).
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..common import validation as v
from ..common.errors import Conflict, InvalidRequest
from ..common.nodes import NodeSpec
from .api import body_json, bp, farm, now

CLEANABLE = ("outputs", "all")


def _pool() -> Any:
    return current_app.extensions.get("netrender.nodes")


def _with_state(node: NodeSpec, states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    state = states.get(node.name, {"state": "stopped", "problem": "", "slave_id": None, "status": "",
                                   "sent_files": 0, "sent_bytes": 0})
    return {**node.to_json(), **state}


@bp.get("/nodes")
def list_nodes() -> Any:
    pool = _pool()
    states = pool.states() if pool is not None else {}
    return {"nodes": [_with_state(node, states) for node in farm().nodes()]}


@bp.post("/nodes")
def add_node() -> Any:
    node = NodeSpec.from_json(body_json())
    farm().add_node(node, now())
    return _with_state(node, {}), 201


@bp.delete("/nodes/<path:name>")
def remove_node(name: str) -> Any:
    farm().remove_node(name)
    return {"removed": name}


@bp.post("/nodes/clean")
def clean_nodes() -> Any:
    """Remove the jobs' outputs on every node (``what``: ``outputs``), or all netrender keeps there (``all``)."""
    data = v.json_object(body_json(), allowed=("what",))
    what = data.get("what", "outputs")
    if what not in CLEANABLE:
        raise InvalidRequest(f"'what' must be one of {', '.join(CLEANABLE)}, not {what!r}")
    pool = _pool()
    if pool is None:
        raise Conflict("this master drives no SSH node")
    return {"cleaned": pool.clean(what)}
