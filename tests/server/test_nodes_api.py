# SPDX-License-Identifier: GPL-3.0-or-later
"""/api/nodes: SSH nodes added, listed and removed while the master runs; bad input gets a 4xx and changes nothing."""

from __future__ import annotations

from api_calls import error_of
from flask.testing import FlaskClient


def test_a_node_added_is_listed_stopped_until_a_pool_runs_it_and_removed_by_name(client: FlaskClient) -> None:
    added = client.post("/api/nodes", json={"target": "anna@render-01:2222", "threads": 2, "tags": ["gpu"]})
    assert added.status_code == 201 and added.json["name"] == "anna@render-01:2222"
    client.post("/api/nodes", json={"host": "render-02", "user": "bob"})
    listed = client.get("/api/nodes").json["nodes"]
    assert [(n["name"], n["state"], n["threads"], n["tags"]) for n in listed] == [
        ("anna@render-01:2222", "stopped", 2, ["gpu"]), ("bob@render-02", "stopped", 0, [])]
    again = client.post("/api/nodes", json={"target": "anna@render-01:2222", "threads": 4})
    assert again.status_code == 201  # the same name: its settings are replaced, not a second node
    assert [n["threads"] for n in client.get("/api/nodes").json["nodes"]] == [4, 0]
    assert client.delete("/api/nodes/anna@render-01:2222").json == {"removed": "anna@render-01:2222"}
    assert [n["name"] for n in client.get("/api/nodes").json["nodes"]] == ["bob@render-02"]


def test_bad_nodes_are_refused_and_nothing_changes(client: FlaskClient) -> None:
    for body in ({}, {"host": ""}, {"target": "a b"}, {"host": "x", "port": 0}, {"host": "x", "colour": "red"},
                 {"host": "x", "tags": 3}, ["x"]):
        assert "node" in error_of(client.post("/api/nodes", json=body), 400)["message"].lower() or body == ["x"]
    assert error_of(client.post("/api/nodes", data="{", content_type="application/json"), 400)
    assert client.get("/api/nodes").json == {"nodes": []}
    assert "no SSH node 'nobody@nowhere'" in error_of(client.delete("/api/nodes/nobody@nowhere"), 404)["message"]


def test_cleaning_nodes_needs_nodes_and_says_what_it_may_clean(client: FlaskClient) -> None:
    assert "one of outputs, all" in error_of(client.post("/api/nodes/clean", json={"what": "home"}), 400)["message"]
    assert "drives no SSH node" in error_of(client.post("/api/nodes/clean", json={}), 409)["message"]
