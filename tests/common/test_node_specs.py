# SPDX-License-Identifier: GPL-3.0-or-later
"""SSH nodes as the command line, a YAML file and the API write them, and what each gets told when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrender.common.errors import InvalidConfig, InvalidRequest
from netrender.common.nodes import NodeSpec, load_config, node, parse_target


@pytest.mark.parametrize("text, expected", [
    ("render-01", ("", "render-01", 0)),
    ("anna@render-01", ("anna", "render-01", 0)),
    ("anna@10.0.0.7:2222", ("anna", "10.0.0.7", 2222)),
    ("[::1]:2200", ("", "::1", 2200)),
    ("anna@[fe80::1]", ("anna", "fe80::1", 0)),
])
def test_targets_read_as_user_host_and_port(text: str, expected: tuple[str, str, int]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "anna@", "a b@host", "host:99999", "host:port", "user@host/path", "@host"])
def test_a_target_that_is_no_node_is_refused_with_how_to_write_one(text: str) -> None:
    with pytest.raises(InvalidConfig, match="user@host|port"):
        parse_target(text)


def test_a_node_is_named_user_at_host_with_its_port_unless_22() -> None:
    assert node("anna@render-01").name == "anna@render-01"
    assert node("anna@render-01:2222").name == "anna@render-01:2222"
    assert node("anna@[::1]:2200").name == "anna@[::1]:2200"
    spec = node("render-01", user="bob", threads=4, tags=["gpu"])
    assert (spec.user, spec.threads, spec.tags, spec.work_dir) == ("bob", 4, ("gpu",), ".cache/netrender")
    assert node("anna@render-01:2222", user="bob", port=22).name == "anna@render-01:2222"  # the target wins


def test_a_yaml_file_gives_every_node_the_defaults_and_its_own_settings(tmp_path: Path) -> None:
    config = tmp_path / "nodes.yaml"
    config.write_text("defaults:\n  user: render\n  key_file: ~/.ssh/farm\n  blender: /opt/blender/blender\n"
                      "nodes:\n  - render-01\n  - host: render-02\n    port: 2222\n    threads: 8\n"
                      "    tags: [gpu, big]\n  - target: anna@render-03\n", encoding="utf-8")
    one, two, three = load_config(config)
    assert one == NodeSpec("render-01", user="render", key_file="~/.ssh/farm", blender="/opt/blender/blender")
    assert (two.name, two.threads, two.tags, two.blender) == ("render@render-02:2222", 8, ("gpu", "big"),
                                                              "/opt/blender/blender")
    assert three.name == "anna@render-03" and three.key_file == "~/.ssh/farm"


@pytest.mark.parametrize("text, message", [
    ("nodes: [", "not valid YAML"),
    ("- render-01\n", "needs a 'nodes:' list"),
    ("defaults: [1]\nnodes: [a]\n", "'defaults'.*mapping"),
    ("nodes:\n  - 7\n", "host name or a mapping"),
    ("nodes:\n  - host: a\n    colour: red\n", "unknown SSH node setting.*colour"),
    ("nodes:\n  - host: a\n    port: 70000\n", "'port' must be a whole number from 1 to 65535"),
    ("nodes:\n  - host: a\n    threads: many\n", "'threads' must be a whole number"),
    ("nodes:\n  - host: a\n    tags: 5\n", "'tags' must be a list"),
    ("nodes:\n  - host: a\n    thumbnails: sometimes\n", "'thumbnails' must be true or false"),
    ("nodes:\n  - {user: x}\n", "needs a 'host'"),
    ("defaults: {user: r}\nnodes: [a, r@a]\n", "the same node twice: r@a"),
])
def test_a_bad_yaml_file_says_what_is_wrong_and_where(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "nodes.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidConfig, match=message) as raised:
        load_config(config)
    assert str(config) in str(raised.value)


def test_a_missing_yaml_file_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="cannot read the SSH nodes file"):
        load_config(tmp_path / "none.yaml")


def test_the_api_form_round_trips_and_bad_json_is_an_invalid_request() -> None:
    spec = NodeSpec("render-01", user="anna", port=2222, tags=("gpu",), threads=2)
    assert NodeSpec.from_json(spec.to_json()) == spec
    assert NodeSpec.from_json({"target": "anna@render-01:2222", "tags": "gpu; big"}).tags == ("gpu", "big")
    for bad in ([], {"host": ""}, {"host": "a", "port": True}, {"host": "a", "user": 3}):
        with pytest.raises(InvalidRequest):
            NodeSpec.from_json(bad)  # type: ignore[arg-type]
