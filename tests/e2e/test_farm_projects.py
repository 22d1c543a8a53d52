# SPDX-License-Identifier: GPL-3.0-or-later
"""Every kind of dependency an artist's project has, rendered on the farm: pixel-identical to local Blender.

The projects of ``tests/projects`` (libraries beside the shots, libraries of
libraries, absolute and relative images, UDIMs, sequences, movies, sequencer
strips, fonts, compressed files, odd names, every kind of cache) are built,
rendered locally, then all submitted to one master. Their folders are then
moved away before any slave starts, so a slave can only render from what the
job carried: equal pixels prove that every file travelled and that every path,
the libraries' own included, points at it. ``test_projects_*.py`` prove that
each dependency shows in the pixels.

Debian's Blender 3.4 renders what it can; the bpy 4.5 module (through
``netrender-bpy``) renders what 3.4 is built without (Alembic). Each job's tag
sends it to slaves of the Blender its reference was rendered with.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pixels import differences
from projects import Built, Project, kinds

from netrender.cli.demo import stop_processes
from netrender.client import Client, JobOptions, Submission
from netrender.master import MasterConfig, MasterServer
from netrender.node import blender
from netrender.pack.hashes import HashCache

pytestmark = pytest.mark.blender
KINDS = sorted(kinds())
WAIT = 600.0


@dataclass
class Rendered:
    project: Project
    local: dict[int, Path]
    sent: Submission
    job: dict[str, Any]
    frames: dict[int, Path]
    logs: dict[int, str]


@dataclass
class FarmRun:
    runs: dict[str, Rendered]
    client: Client


def slave(url: str, folder: Path, name: str, tags: str, *extra: str) -> subprocess.Popen[bytes]:
    with open(folder / f"{name}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "netrender", "slave", "--master", url, "--name", name, "--threads", "1",
             "--path", str(folder / name), "--tags", tags, *extra], stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def farm_run(tmp_path_factory: pytest.TempPathFactory, built_project: Callable[[str], Built]) -> Iterator[FarmRun]:
    base = tmp_path_factory.mktemp("farm-projects")
    built = {kind: built_project(kind).project for kind in KINDS}
    local = {kind: built_project(kind).local for kind in KINDS}
    master = MasterServer(MasterConfig(path=base / "master", address="127.0.0.1", port=0))
    master.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        client = Client(master.url, hashes=HashCache(base / "hashes.sqlite"))
        sent = {kind: client.submit(p.blend, JobOptions(frames=p.frames, name=kind, tags=[p.blender]))
                for kind, p in built.items()}
        for project in built.values():  # from now on only the jobs' own copies exist
            project.root.rename(project.root.with_name(project.root.name + ".moved"))
        procs = [slave(master.url, base, f"blender-{i}", "blender") for i in (1, 2)]
        if any(p.blender == "bpy" for p in built.values()):
            bpy_blender = str(Path(sys.executable).with_name("netrender-bpy"))
            procs.append(slave(master.url, base, "bpy-1", "bpy", "--blender", bpy_blender))
        deadline = time.monotonic() + WAIT
        results = {}
        for kind, submission in sent.items():
            job_id = submission.job["id"]
            while (job := client.job(job_id))["status"] not in ("finished", "failed", "cancelled"):
                assert time.monotonic() < deadline, f"the farm did not finish {kind} in {WAIT:g} s"
                time.sleep(0.2)
            frames = {int(p.stem): p for p in client.download(job_id, base / "farm" / kind)}
            logs = {f["number"]: client.conn.request("GET", f"/api/jobs/{job_id}/frames/{f['number']}/log").text
                    for f in job["frames"]}
            results[kind] = Rendered(built[kind], local[kind], submission, job, frames, logs)
        stop_processes(procs)
        put_back(built.values())
        yield FarmRun(results, client)
    finally:
        stop_processes(procs)
        master.close()
        put_back(built.values())


def put_back(projects: Iterable[Project]) -> None:
    for project in projects:
        moved = project.root.with_name(project.root.name + ".moved")
        if moved.exists():
            moved.rename(project.root)


@pytest.mark.parametrize("kind", KINDS)
def test_the_farm_renders_it_like_local_blender(kind: str, farm_run: FarmRun) -> None:
    run = farm_run.runs[kind]
    assert run.job["status"] == "finished", [f["message"] for f in run.job["frames"]]
    assert sorted(run.frames) == sorted(run.project.frames)
    for number, path in run.frames.items():
        assert differences(path, run.local[number]) == [], f"{kind} frame {number}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_slave_missed_only_what_the_artist_missed(kind: str, farm_run: FarmRun) -> None:
    """Blender on the slave finds every file it looks for, but those the client could not find either.

    This is what proves a dependency that cannot show in pixels (a sound) travelled too.
    """
    run = farm_run.runs[kind]
    assert sorted(run.job["missing"]) == sorted(str(p) for p in run.project.missing)
    assert sorted(run.sent.missing) == sorted(run.project.missing)
    for number, log in run.logs.items():
        reported = {Path(path).name for line in log.splitlines() if (path := blender.missing_path(line))}
        assert reported == {p.name for p in run.project.missing}, f"{kind} frame {number}: {log[-3000:]}"


def test_an_unchanged_resubmit_uploads_nothing(farm_run: FarmRun) -> None:
    """Every project again: the same files hash the same (the .blend files BAT rewrote included), so
    the master has them all and nothing is uploaded."""
    for kind, run in farm_run.runs.items():
        again = farm_run.client.submit(run.project.blend, JobOptions(frames=run.project.frames, tags=["none"]))
        assert (again.uploaded_files, again.uploaded_bytes) == (0, 0), kind
        assert [(f.path, f.sha256) for f in again.files] == [(f.path, f.sha256) for f in run.sent.files], kind


def test_files_keep_their_places_and_only_absolute_paths_outside_the_project_move(farm_run: FarmRun) -> None:
    names = {kind: sorted(f.path for f in run.sent.files) for kind, run in farm_run.runs.items()}
    assert names["library_relative_outside"] == [
        "assets/props/props.blend", "assets/props/textures/skin.png", "shots/sh010/shot.blend"]
    # written absolute, but inside the project: it stays beside its texture, which it names relatively
    assert names["library_absolute"] == names["library_relative_outside"]
    font = "_outside_project" + str(Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"))
    assert names["font_absolute"] == [font, "shot.blend"]
