# SPDX-License-Identifier: GPL-3.0-or-later
"""Storage the farm shares: jobs rendered in place through path maps, files copied instead of uploaded.

Each machine here sees one folder, ``storage/``, under a name of its own: the
client through ``client/`` (a symlink, removed once the job is sent, as the
slave's machine has no such path), the slave through ``mnt/``, the master as
``storage/`` itself. Path maps translate the client's paths for each of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pixels import differences
from projects import Project, build, render_local

from netrender.client import Client, JobOptions
from netrender.common.pathmap import PathMap
from netrender.master import MasterConfig, MasterServer, create_app
from netrender.pack.hashes import HashCache
from netrender.slave import Slave, SlaveConfig

SHOT = "proj/shots/sh010/shot.blend"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project, dict[int, Path]]:
    """A project on the shared storage, rendered locally from there."""
    top = tmp_path_factory.mktemp("shared")
    (top / "storage" / "proj").mkdir(parents=True)
    project = build("library_relative_outside", top / "storage" / "proj")
    return top, project, render_local(project, top / "local")


def views(top: Path) -> tuple[Path, Path]:
    """The client's and the slave's names for the storage, made afresh."""
    client, mounted = top / "client", top / "mnt"
    for link in (client, mounted):
        if link.is_symlink():
            link.unlink()
        link.symlink_to(top / "storage", target_is_directory=True)
    return client, mounted


def stored_files(master: MasterServer) -> list[Path]:
    return [p for p in (master.farm.root / "store").rglob("*") if p.is_file()]


@pytest.mark.blender
def test_a_job_renders_in_place_through_path_maps_with_nothing_uploaded(
    tmp_path: Path, start_master: Callable[..., MasterServer], shared: tuple[Path, Project, dict[int, Path]]
) -> None:
    top, _, local = shared
    client_view, slave_view = views(top)
    master = start_master(storage_roots=(top / "storage",),
                          path_map=PathMap.parse([f"{client_view}={top / 'storage'}"]))
    sent = Client(master.url, hashes=HashCache(None)).submit(
        client_view / SHOT, JobOptions(frames=[1], shared=True, output_dir=str(client_view / "renders" / "sh010")))
    assert (sent.uploaded_files, sent.uploaded_bytes, sent.files) == (0, 0, [])
    job = sent.job
    assert job["shared"] and job["blend"] == str(client_view / SHOT) and job["files"] == []
    assert str(client_view / "proj/assets/props/textures/skin.png") in job["found"]
    client_view.unlink()  # the slave's machine knows the storage only as mnt/

    slave = Slave(SlaveConfig(master=master.url, path=tmp_path / "node", threads=1,
                              path_map=PathMap.parse([f"{client_view}={slave_view}"])))
    slave.register()  # there to take the frame once the other fails it
    lost = Slave(SlaveConfig(master=master.url, path=tmp_path / "unmapped", threads=1))
    assert lost.run_once()  # no map: it cannot see the file, and says so rather than loop
    frame = Client(master.url).job(job["id"])["frames"][0]
    assert frame["status"] == "queued" and "cannot see the job's file" in frame["message"]
    assert "--path-map" in frame["message"]
    try:
        assert slave.run_once()
    finally:
        slave.sessions.close()
    done = Client(master.url).job(job["id"])
    assert done["status"] == "finished", done["frames"]
    frames = Client(master.url).download(job["id"], tmp_path / "frames")
    assert differences(frames[0], local[1]) == []
    written = top / "storage" / "renders" / "sh010" / "000001.exr"  # straight from the slave
    assert differences(written, local[1]) == []
    assert stored_files(master) == []  # the master never held a copy of the project


@pytest.mark.blender
@pytest.mark.parametrize("force", [False, True], ids=["copied", "forced-upload"])
def test_files_the_master_sees_on_shared_storage_are_not_uploaded(
    start_master: Callable[..., MasterServer], shared: tuple[Path, Project, dict[int, Path]], force: bool
) -> None:
    top, project, _ = shared
    client_view, _ = views(top)
    master = start_master(storage_roots=(top / "storage",), force_upload=force,
                          path_map=PathMap.parse([f"{client_view}={top / 'storage'}"]))
    sent = Client(master.url, hashes=HashCache(None)).submit(client_view / SHOT, JobOptions(frames=[1]))
    total = sum(f.size for f in sent.files)
    assert len(sent.files) == 3
    assert (sent.uploaded_files, sent.uploaded_bytes) == ((3, total) if force else (0, 0))
    assert len(stored_files(master)) == 3  # copied by the master itself, or uploaded


@pytest.fixture
def sharing_client(tmp_path: Path) -> Any:
    """The API of a master sharing ``tmp_path/storage``, where clients write ``/client/...`` for it."""
    storage = tmp_path / "storage"
    (storage / "proj").mkdir(parents=True)
    (storage / "proj" / "shot.blend").write_bytes(b"BLENDER stand-in")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret.blend").write_bytes(b"BLENDER secret")
    os.symlink(tmp_path / "private", storage / "escape")
    app = create_app(MasterConfig(path=tmp_path / "master", storage_roots=(storage,),
                                  path_map=PathMap.parse([f"/client={storage}"])))
    yield app.test_client()
    app.extensions["netrender.farm"].close()


def in_place(blend: str, **extra: Any) -> dict[str, Any]:
    return {"shared": True, "blend": blend, "files": [], "frames": [1], **extra}


def test_a_job_in_place_must_name_a_blend_the_master_sees_under_its_roots(sharing_client: FlaskClient) -> None:
    assert sharing_client.post("/api/jobs", json=in_place("/client/proj/shot.blend")).status_code == 201
    for blend, words in [("/client/proj/nothing.blend", "cannot see"),
                         ("/client/../private/secret.blend", "cannot see"),
                         ("/client/escape/secret.blend", "cannot see"),  # a symlink out of the storage
                         ("/etc/passwd", "cannot see")]:
        answer = sharing_client.post("/api/jobs", json=in_place(blend))
        assert answer.status_code == 400, blend
        assert words in answer.json["error"]["message"]
    outside = sharing_client.post("/api/jobs", json=in_place("/client/proj/shot.blend", output_dir="/tmp/renders"))
    assert outside.status_code == 400 and "not in the master's shared storage" in outside.json["error"]["message"]


def test_a_master_without_shared_storage_refuses_jobs_in_place(client: FlaskClient) -> None:
    answer = client.post("/api/jobs", json=in_place("/client/proj/shot.blend"))
    assert answer.status_code == 400 and "--storage-root" in answer.json["error"]["message"]


def test_the_master_copies_only_what_it_sees_under_its_roots_with_the_right_bytes(
    sharing_client: FlaskClient, tmp_path: Path
) -> None:
    good = tmp_path / "storage" / "proj" / "shot.blend"
    digest = HashCache(None).sha256(good)
    secret = tmp_path / "private" / "secret.blend"
    secret_digest = HashCache(None).sha256(secret)
    offers = [{"sha256": digest, "size": good.stat().st_size, "path": "/client/proj/shot.blend"},
              {"sha256": secret_digest, "size": secret.stat().st_size, "path": "/client/escape/secret.blend"},
              {"sha256": secret_digest, "size": secret.stat().st_size, "path": str(secret)}]
    answer = sharing_client.post("/api/files/missing", json={"hashes": [digest, secret_digest], "sources": offers})
    assert answer.status_code == 200
    assert answer.json == {"missing": [secret_digest], "adopted": [digest]}
    wrong = {"sha256": "0" * 64, "size": good.stat().st_size, "path": "/client/proj/shot.blend"}
    answer = sharing_client.post("/api/files/missing", json={"hashes": ["0" * 64], "sources": [wrong]})
    assert answer.json == {"missing": ["0" * 64], "adopted": []}  # other bytes than the client said: not taken
