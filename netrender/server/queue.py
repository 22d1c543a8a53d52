# SPDX-License-Identifier: GPL-3.0-or-later
"""The API's queue settings: the master as a FIFO queue with autostart, or balanced (``netrender.farm.queue``).

The job actions ``start``, ``stop`` and ``enqueue`` are job actions
(``POST /api/jobs/<id>/<action>``). The views join the API's blueprint when
this module is imported, before the blueprint is registered.
"""

from __future__ import annotations

from typing import Any

from ..common import validation as v
from ..common.errors import InvalidRequest
from ..common.rules import BalanceRules
from .api import body_json, bp, farm


@bp.get("/queue")
def get_queue() -> Any:
    """The queue's two settings (rules ``fifo`` and ``autostart``), as RenderController offers them."""
    return _shown(farm().rules)


@bp.put("/queue")
def put_queue() -> Any:
    data = v.json_object(body_json(), allowed=("mode", "autostart"))
    changes: dict[str, Any] = {}
    if "mode" in data:
        if data["mode"] not in ("fifo", "balanced"):
            raise InvalidRequest("'mode' must be fifo or balanced")
        changes["fifo"] = data["mode"] == "fifo"
    if "autostart" in data:
        changes["autostart"] = v.field(data, "autostart", bool)
    return _shown(farm().set_rules(changes))


def _shown(rules: BalanceRules) -> dict[str, Any]:
    return {"mode": "fifo" if rules.fifo else "balanced", "autostart": rules.autostart}
