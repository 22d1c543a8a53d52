# SPDX-License-Identifier: GPL-3.0-or-later
"""A master whose Python lacks paramiko (the add-on in Blender's own Python) runs, and its nodes say what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from netrender.common.nodes import node
from netrender.ssh.pool import NodePool


def test_without_paramiko_a_node_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "paramiko", None)  # import paramiko now fails, as it does there
    for name in [m for m in sys.modules if m.startswith("netrender.ssh.") and m != "netrender.ssh.pool"]:
        monkeypatch.delitem(sys.modules, name)
    pool = NodePool("http://127.0.0.1:9", tmp_path)
    pool.reconcile([node("anna@render-01")])
    state = pool.states()["anna@render-01"]
    assert state["state"] == "unreachable" and state["slave_id"] is None
    assert "'paramiko'" in state["problem"] and "pip install paramiko" in state["problem"]
    assert pool.clean() == {"anna@render-01": f"not cleaned: {state['problem']}"}
    pool.reconcile([])
    assert pool.states() == {}
    pool.close()
