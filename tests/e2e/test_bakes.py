# SPDX-License-Identifier: GPL-3.0-or-later
"""Point caches baked on the farm, one a slave, then put back into the artist's .blend; and renders after bakes.

The scene is ``tests/simulation.py``'s: a cloth and a particle system, whose
bakes do not depend on the thread count (measured there).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from e2e_farm import netrender
from pixels import differences
from simulation import build

from netrender.client import Client, JobOptions
from netrender.pack.hashes import HashCache

pytestmark = pytest.mark.blender
EXR = ["-F", "OPEN_EXR_MULTILAYER", "-x", "1"]

@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, Path]]:
    return build(tmp_path_factory.mktemp("sim"))


def render(blend: Path, output: Path, frame: int) -> Path:
    subprocess.run(["blender", "-b", str(blend), "-o", str(output / "######"), *EXR, "-t", "1", "-f", str(frame)],
                   check=True, capture_output=True, timeout=300)
    return output / f"{frame:06d}.exr"


def copy_of(blend: Path, folder: Path) -> Path:
    """The scene in a project of its own (the bake changes the file and writes beside it)."""
    shutil.copytree(blend.parent.parent, folder)
    return folder / "shots" / blend.name


def test_caches_baked_on_two_slaves_go_into_the_file_and_render_like_a_local_bake(
    tmp_path: Path, cli_farm: Any, simulation: tuple[Path, dict[int, Path]]
) -> None:
    blend = copy_of(simulation[0], tmp_path / "project")
    slaves = {cli_farm.slave("one"), cli_farm.slave("two")}
    assert differences(render(blend, tmp_path / "unbaked", 18), simulation[1][18]) != []  # a cache matters here

    queued = netrender("bake", str(blend), "--master", cli_farm.url, "--no-wait")
    assert queued.returncode == 0, queued.stderr
    job_id = int(queued.stdout.split()[0])
    done = netrender("results", str(job_id), "--blend", str(blend), "--master", cli_farm.url)  # waits, then puts
    assert done.returncode == 0, done.stderr
    job = Client(cli_farm.url).job(job_id)
    assert job["kind"] == "bake" and job["status"] == "finished"
    assert [t["message"] for t in job["frames"]] == ["", ""]
    assert {t["slave_id"] for t in job["frames"]} == slaves  # one cache on each slave
    assert job["caches"] == [["Cloth", "Cloth"], ["Emitter", "particles/Particles"]]
    cached = sorted(p.name for p in (blend.parent / "blendcache_shot").iterdir())
    assert len(cached) == 40 and "2 cache(s) baked on the farm" in done.stderr  # 20 frames of each

    for frame in (17, 18):  # the file reopened: Blender reads the farm's caches
        assert differences(render(blend, tmp_path / "after", frame), simulation[1][frame]) == []

    archive = Client(cli_farm.url).conn.request("GET", f"/api/jobs/{job['id']}/results.zip").content
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:  # the monitor's zip: to unpack beside the .blend
        assert sorted(zf.namelist()) == [f"blendcache_shot/{name}" for name in cached]


def test_a_render_after_a_bake_waits_for_it_and_renders_with_its_caches(
    tmp_path: Path, cli_farm: Any, simulation: tuple[Path, dict[int, Path]]
) -> None:
    blend = copy_of(simulation[0], tmp_path / "project")
    cli_farm.slave("one")
    cli_farm.slave("two")
    done = netrender("bake", str(blend), "--master", cli_farm.url, "--then-render", "--frames", "17-18",
                     "--output", str(tmp_path / "farm"))
    assert done.returncode == 0, done.stderr
    bake_id, render_id = map(int, done.stdout.split())
    client = Client(cli_farm.url)
    baked, rendered = client.job(bake_id), client.job(render_id)
    assert rendered["after"] == bake_id and rendered["status"] == "finished"
    assert min(t["dispatched_at"] for t in rendered["frames"]) >= baked["finished_at"]  # it waited
    for frame in (17, 18):
        assert differences(tmp_path / "farm" / f"{frame:06d}.exr", simulation[1][frame]) == []


def test_a_failed_bake_fails_the_render_after_it_with_the_reason(
    tmp_path: Path, cli_farm: Any, simulation: tuple[Path, dict[int, Path]]
) -> None:
    blend = copy_of(simulation[0], tmp_path / "project")
    client = Client(cli_farm.url, hashes=HashCache(None))
    client.conn.request("PATCH", "/api/balancing", json={"retry": False})
    bake = client.submit(blend, JobOptions(frames=[], caches=[("Nobody", "Cloth")])).job
    render_job = client.submit(blend, JobOptions(frames=[17, 18], after=bake["id"])).job
    cli_farm.slave("one")  # only now: the bake fails at once
    failed = wait_until(lambda: (job := client.job(render_job["id"]))["status"] == "failed" and job, timeout=120,
                        what="the render after a failed bake to fail")
    assert client.job(bake["id"])["status"] == "failed"
    assert all(t["slave_id"] is None for t in failed["frames"])  # never started
    for task in failed["frames"]:
        assert f"job {bake['id']}" in task["message"] and "failed" in task["message"]
        assert "the scene has no point cache Nobody/Cloth" in task["message"]
