# SPDX-License-Identifier: GPL-3.0-or-later
"""Browsing shared storage through the API: what is under the root, and nothing outside it, whatever the path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_calls import error_of
from flask.testing import FlaskClient

from netrender.master import MasterConfig, create_app


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[FlaskClient, Path]]:
    root = tmp_path / "projects"
    (root / "show" / "shots" / "renders").mkdir(parents=True)
    (root / "show" / "shots" / "sh010.blend").write_bytes(b"blend")
    for frame in (1, 2, 4):
        (root / "show" / "shots" / "renders" / f"shot_{frame:04d}.png").write_bytes(b"png" if frame != 4 else b"")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwords.txt").write_text("hunter2")
    os.symlink(outside, root / "show" / "escape")  # a link out of the storage
    os.symlink(root / "show" / "shots", root / "show" / "shots-link")  # a link that stays inside
    app = create_app(MasterConfig(path=tmp_path / "master", storage_roots=(root,)))
    yield app.test_client(), root
    app.extensions["netrender.farm"].close()


def test_folders_and_files_under_the_root_are_listed(shared: tuple[FlaskClient, Path]) -> None:
    client, root = shared
    top = client.get("/api/storage").json
    assert top["path"] == "" and top["roots"] == [str(root)] and [e["name"] for e in top["entries"]] == ["show"]
    show = client.get("/api/storage?path=show").json
    assert [(e["name"], e["kind"]) for e in show["entries"]] == [("shots", "folder"), ("shots-link", "folder")]
    shots = client.get("/api/storage", query_string={"path": "show/shots"}).json
    assert [(e["name"], e["kind"], e["size"]) for e in shots["entries"]] == [
        ("renders", "folder", None), ("sh010.blend", "file", 5)]
    assert client.get("/api/storage?path=show/shots-link").json["path"] == "show/shots"  # followed, inside


@pytest.mark.parametrize("path, status", [
    ("..", 400), ("show/../..", 400), ("/etc", 400), ("C:/Windows", 400), ("\\\\server\\share", 400),
    ("show/escape", 403), ("show/escape/", 403), ("show/nothing", 404),
])
def test_nothing_outside_the_root_is_shown(shared: tuple[FlaskClient, Path], path: str, status: int) -> None:
    client, _ = shared
    response = client.get("/api/storage", query_string={"path": path})
    error_of(response, status)
    assert b"hunter2" not in response.data and b"passwords" not in response.data


def test_an_output_folder_is_checked_for_missing_and_empty_frames(shared: tuple[FlaskClient, Path]) -> None:
    client, _ = shared
    found = client.get("/api/storage/frames", query_string={"path": "show/shots/renders", "frames": "1-5",
                                                            "pattern": "shot_####.png"}).json
    assert found == {"missing": [3, 5], "empty": [4], "to_render": [3, 4, 5]}
    assert error_of(client.get("/api/storage/frames", query_string={"path": "show/escape", "frames": "1"}), 403)
    assert error_of(client.get("/api/storage/frames", query_string={"path": "show", "frames": "1",
                                                                    "pattern": "../x####"}), 400)


def test_a_master_without_shared_storage_says_so(client: FlaskClient) -> None:
    assert "--storage-root" in error_of(client.get("/api/storage"), 404)["message"]
