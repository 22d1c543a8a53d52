# SPDX-License-Identifier: GPL-3.0-or-later
"""Path maps: a client's paths on shared storage, as each master and slave sees them."""

from __future__ import annotations

import pytest

from netrender.common.errors import InvalidConfig
from netrender.common.pathmap import PathMap

MAP = PathMap.parse(["P:\\projects=/mnt/projects", "/Volumes/projects=/mnt/projects",
                     "/Volumes/projects/show/cache=/fast/cache", "\\\\srv\\share=/mnt/share"])


@pytest.mark.parametrize(("client", "local"), [
    ("P:\\Projects\\Show\\shots\\a.blend", "/mnt/projects/Show/shots/a.blend"),  # Windows: any case, the rest kept
    ("p:/projects/x.png", "/mnt/projects/x.png"),  # either slash
    ("P:\\projects", "/mnt/projects"),
    ("/Volumes/projects/show/a.blend", "/mnt/projects/show/a.blend"),
    ("/Volumes/projects/show/cache/c.vdb", "/fast/cache/c.vdb"),  # the longest prefix wins
    ("/Volumes/projects/../projects/show/b.png", "/mnt/projects/show/b.png"),
    ("\\\\SRV\\share\\a b\\c.blend", "/mnt/share/a b/c.blend"),
    ("/Volumes/projectsX/a", "/Volumes/projectsX/a"),  # a prefix is whole folders, not letters
    ("/other/a.blend", "/other/a.blend"),  # no pair: the same path here
    ("/volumes/projects/a.blend", "/volumes/projects/a.blend"),  # POSIX paths keep their case
])
def test_a_client_path_as_this_machine_sees_it(client: str, local: str) -> None:
    assert MAP.local(client) == local


def test_an_empty_map_changes_nothing() -> None:
    assert PathMap().local("P:\\projects\\a.blend") == "P:\\projects\\a.blend"


@pytest.mark.parametrize("spec", ["/mnt/projects", "=/mnt/x", "P:\\x=", " = "])
def test_a_malformed_pair_is_refused(spec: str) -> None:
    with pytest.raises(InvalidConfig, match="CLIENT=LOCAL"):
        PathMap.parse([spec])


def test_pairs_read_back_as_given() -> None:
    assert PathMap.parse(["P:\\projects=/mnt/projects"]).to_json() == ["P:\\projects=/mnt/projects"]
