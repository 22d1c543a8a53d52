# SPDX-License-Identifier: GPL-3.0-or-later
"""Missing files: those the artist lacks render as at home and are listed; those a slave lacks fail loudly.

A .blend that names a file not on the artist's machine (an old absolute path,
a moved library) renders there anyway, so the farm renders it too, the same,
and says what was missing: in the CLI, the API and (``test_web``) the monitor.
``submit --strict`` refuses instead. But a file the client did send must be
there when the slave's Blender loads the job: if it is not, the frame fails
with Blender's own words and is retried, never finished with wrong pixels.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pixels import differences
from projects import Built, Project

from netrender.client import Client, JobOptions
from netrender.common.work import Assignment
from netrender.master import MasterServer
from netrender.pack.hashes import HashCache
from netrender.slave import Slave, SlaveConfig

pytestmark = pytest.mark.blender


@pytest.fixture
def lacking(built_project: Callable[[str], Built]) -> tuple[Project, dict[int, Path]]:
    """The missing-files project (a texture on a server long gone, a moved library) and its local render."""
    built = built_project("missing_files")
    return built.project, built.local


@pytest.fixture
def library(built_project: Callable[[str], Built]) -> tuple[Project, dict[int, Path]]:
    """A shot whose library, outside its folder, has its own texture: both must reach the slave."""
    built = built_project("library_relative_outside")
    return built.project, built.local


def netrender(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netrender", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


def test_missing_files_do_not_stop_the_job_and_are_listed(
    tmp_path: Path, live_master: MasterServer, spawn_slaves: Any, lacking: tuple[Project, dict[int, Path]]
) -> None:
    project, local = lacking
    spawn_slaves(live_master.url)
    done = netrender("submit", str(project.blend), "--master", live_master.url, "--frames", "1", "--wait",
                     "--output", str(tmp_path / "frames"))
    assert done.returncode == 0, done.stderr
    assert f"names {len(project.missing)} file(s) that do not exist here" in done.stderr
    for path in project.missing:
        assert f"  {path}\n" in done.stderr
    job_id = int(done.stdout.split()[0])

    job = Client(live_master.url).job(job_id)
    assert job["status"] == "finished"
    assert sorted(job["missing"]) == sorted(str(p) for p in project.missing)
    assert differences(tmp_path / "frames" / "000001.exr", local[1]) == []  # magenta and all, as at home

    status = netrender("status", str(job_id), "--master", live_master.url)
    assert status.returncode == 0, status.stderr
    assert "renders without 2 file(s)" in status.stdout
    for path in project.missing:
        assert str(path) in status.stdout


def test_strict_refuses_with_exit_code_2_and_sends_nothing(
    live_master: MasterServer, lacking: tuple[Project, dict[int, Path]]
) -> None:
    project, _ = lacking
    refused = netrender("submit", str(project.blend), "--master", live_master.url, "--frames", "1", "--strict")
    assert refused.returncode == 2
    assert "names 2 file(s) that do not exist" in refused.stderr
    for path in project.missing:
        assert str(path) in refused.stderr
    client = Client(live_master.url)
    assert client.jobs() == []
    assert client.conn.post("/api/files/missing", {"hashes": [HashCache().sha256(project.blend)]})["missing"]


class HolesSlave(Slave):
    """A slave whose copy of the job loses a file between fetching and rendering (a disk, a cleaner, a bug)."""

    def __init__(self, *args: Any, lose: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lose = lose

    def fetch(self, work: Assignment) -> Path:
        blend = super().fetch(work)
        for ref in work.files:
            if ref.path == self.lose:
                self.cache.path(ref.sha256).unlink()
                (self.folder / f"job_{work.job_id}" / "files" / ref.path).unlink()
        return blend


@pytest.mark.parametrize("persistent", [True, False], ids=["kept-open", "per-chunk"])
def test_a_job_file_lost_on_a_slave_fails_the_frame_with_blenders_words(
    tmp_path: Path, live_master: MasterServer, library: tuple[Project, dict[int, Path]], persistent: bool
) -> None:
    project, local = library
    texture = "assets/props/textures/skin.png"
    client = Client(live_master.url, hashes=HashCache(None))
    job_id = client.submit(project.blend, JobOptions(frames=[1], persistent=persistent)).job["id"]

    healthy = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "healthy", threads=1, persistent=persistent))
    healthy.register()  # there to take the frame once the other fails it
    config = SlaveConfig(master=live_master.url, path=tmp_path / "unlucky", threads=1, persistent=persistent)
    unlucky = HolesSlave(config, lose=texture)
    try:
        assert unlucky.run_once()
    finally:
        unlucky.sessions.close()
    frame = client.job(job_id)["frames"][0]
    assert frame["status"] == "queued" and frame["failures"] == 1  # retried, elsewhere
    assert f"Warning: Path '{unlucky.folder / f'job_{job_id}' / 'files' / texture}' not found" in frame["message"]
    assert "the slave's copy of the job is incomplete" in frame["message"]
    try:
        assert healthy.run_once()
    finally:
        healthy.sessions.close()
    job = client.job(job_id)
    assert job["status"] == "finished" and job["frames"][0]["slave_id"] == healthy.id
    frames = client.download(job_id, tmp_path / "frames")
    assert differences(frames[0], local[1]) == []
