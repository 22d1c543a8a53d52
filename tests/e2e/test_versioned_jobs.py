# SPDX-License-Identifier: GPL-3.0-or-later
"""Jobs checked out of Git and Subversion by the slaves, at a revision: frames as local renders of each revision.

The repository is made by the test: the textured sample scene under
``shots/`` (its texture in ``shots/textures/``), committed as A, then the
texture alone changed and committed as B. A slave keeps its working copy
between jobs, so the job at B fetches only what B changed: Git, the commit
and the trees and blob on the texture's path (5 objects, never the .blend);
Subversion, the one file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio
import pytest
from conftest import wait_until
from e2e_farm import netrender
from pixels import differences

from netrender.client import Client
from netrender.samples import build_scene

pytestmark = pytest.mark.blender
EXR = ["-F", "OPEN_EXR_MULTILAYER", "-x", "1"]
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Anna", "GIT_AUTHOR_EMAIL": "anna@example.com",
           "GIT_COMMITTER_NAME": "Anna", "GIT_COMMITTER_EMAIL": "anna@example.com"}


def run(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV).stdout.strip()


def paint(png: Path, colour: tuple[float, float, float]) -> None:
    """The texture replaced by a flat colour: commit B's only change."""
    pixels = np.zeros((64, 64, 3), dtype=np.float32) + np.array(colour, dtype=np.float32)
    out = oiio.ImageOutput.create(str(png))
    out.open(str(png), oiio.ImageSpec(64, 64, 3, "uint8"))
    out.write_image(pixels)
    out.close()


def render(blend: Path, output: Path) -> Path:
    subprocess.run(["blender", "-b", str(blend), "-o", str(output / "######"), *EXR, "-t", "1", "-f", "1"],
                   check=True, capture_output=True, timeout=300)
    return output / "000001.exr"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scene's two versions as plain folders, and each one's local render."""
    folder = tmp_path_factory.mktemp("versions")
    a = folder / "A"
    build_scene(a / "shots" / "shot.blend", frames=1, texture=True)
    b = folder / "B"
    shutil.copytree(a, b)
    paint(b / "shots" / "textures" / "checker.png", (0.9, 0.2, 0.1))
    return {"A": a, "B": b, "refs": {"A": render(a / "shots" / "shot.blend", folder / "render_A"),
                                     "B": render(b / "shots" / "shot.blend", folder / "render_B")}}


def frame_log(client: Client, job_id: int) -> str:
    return client.conn.request("GET", f"/api/jobs/{job_id}/frames/1/log").text


def submit(cli_farm: Any, blend: Path, output: Path, *options: str) -> tuple[int, str]:
    done = netrender("submit", str(blend), "--master", cli_farm.url, "--frames", "1", "--wait", "--output",
                     str(output), *options)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[0]), done.stderr


def test_git_jobs_render_each_commit_and_the_second_fetches_only_what_changed(
    tmp_path: Path, cli_farm: Any, project: dict[str, Any]
) -> None:
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    run("git", "init", "-q", "--bare", "-b", "main", str(origin))
    run("git", "clone", "-q", str(origin), str(work))
    shutil.copytree(project["A"], work, dirs_exist_ok=True)
    run("git", "add", "-A", cwd=work)
    run("git", "commit", "-q", "-m", "A", cwd=work)
    commit_a = run("git", "rev-parse", "HEAD", cwd=work)
    shutil.copytree(project["B"], work, dirs_exist_ok=True)
    run("git", "commit", "-q", "-am", "B: a red texture", cwd=work)
    commit_b = run("git", "rev-parse", "HEAD", cwd=work)
    run("git", "push", "-q", "origin", "main", cwd=work)
    cli_farm.slave("one")
    client = Client(cli_farm.url)

    blend = work / "shots" / "shot.blend"
    job_a, said = submit(cli_farm, blend, tmp_path / "out_A", "--vcs", "--revision", commit_a)
    assert f"from git {origin} at {commit_a}" in said
    job_b, _ = submit(cli_farm, blend, tmp_path / "out_B", "--vcs")  # HEAD: commit B
    assert client.job(job_b)["revision"] == commit_b and client.job(job_b)["files"] == []
    assert differences(tmp_path / "out_A" / "000001.exr", project["refs"]["A"]) == []
    assert differences(tmp_path / "out_B" / "000001.exr", project["refs"]["B"]) == []
    assert differences(project["refs"]["A"], project["refs"]["B"]) != []  # the texture shows

    assert "6 objects fetched for this job" in frame_log(client, job_a)  # commit, 3 trees, .blend, texture
    assert "5 objects fetched for this job" in frame_log(client, job_b)  # commit, 3 trees, texture: no .blend

    paint(work / "shots" / "textures" / "checker.png", (0.1, 0.9, 0.1))  # not committed
    job_c, said = submit(cli_farm, blend, tmp_path / "out_C", "--vcs")
    assert "1 file(s) changed here are not committed" in said and "shots/textures/checker.png" in said
    assert differences(tmp_path / "out_C" / "000001.exr", project["refs"]["B"]) == []  # what is committed
    assert "0 objects fetched for this job" in frame_log(client, job_c)


def test_svn_jobs_render_each_revision_and_the_second_updates_one_file(
    tmp_path: Path, cli_farm: Any, project: dict[str, Any]
) -> None:
    if shutil.which("svn") is None:
        pytest.skip("svn is not installed (apt-get install subversion)") if not os.environ.get("CI") else \
            pytest.fail("CI installs subversion (scripts/install.sh)")
    repo, work = tmp_path / "repo", tmp_path / "wc"
    run("svnadmin", "create", str(repo))
    run("svn", "checkout", "-q", f"file://{repo}", str(work))
    shutil.copytree(project["A"], work, dirs_exist_ok=True)
    run("svn", "add", "-q", "--force", ".", cwd=work)
    run("svn", "commit", "-q", "-m", "A", cwd=work)
    shutil.copytree(project["B"], work, dirs_exist_ok=True)
    run("svn", "commit", "-q", "-m", "B: a red texture", cwd=work)
    run("svn", "update", "-q", cwd=work)
    cli_farm.slave("one")
    client = Client(cli_farm.url)

    blend = work / "shots" / "shot.blend"
    job_1, said = submit(cli_farm, blend, tmp_path / "out_1", "--vcs", "svn", "--revision", "1")
    assert f"from svn file://{repo} at 1" in said
    job_2, _ = submit(cli_farm, blend, tmp_path / "out_2", "--vcs")
    assert client.job(job_2)["vcs"] == "svn" and client.job(job_2)["revision"] == "2"
    assert differences(tmp_path / "out_1" / "000001.exr", project["refs"]["A"]) == []
    assert differences(tmp_path / "out_2" / "000001.exr", project["refs"]["B"]) == []
    assert "1 paths fetched for this job" in frame_log(client, job_2)  # the texture alone


def test_a_remote_with_credentials_never_shows_them(tmp_path: Path, cli_farm: Any, project: dict[str, Any]) -> None:
    secret = "s3cret-t0ken"
    remote = f"https://anna:{secret}@127.0.0.1:9/show.git"  # nothing listens: the checkout fails
    slave_id = cli_farm.slave("one")
    client = Client(cli_farm.url)
    client.conn.request("PATCH", "/api/balancing", json={"retry": False})
    job = client.conn.post("/api/jobs", {"name": "shot", "vcs": "git", "remote": remote, "revision": "main",
                                         "blend": "shots/shot.blend", "files": [], "frames": [1]})
    failed = wait_until(lambda: (j := client.job(job["id"]))["status"] == "failed" and j, timeout=120,
                        what="the checkout to fail")
    assert failed["remote"] == "https://anna:***@127.0.0.1:9/show.git"
    assert "could not get main of https://anna:***@127.0.0.1:9/show.git" in failed["frames"][0]["message"]
    shown = [str(client.jobs()), str(failed), str(client.slaves()), frame_log(client, job["id"]),
             client.conn.request("GET", "/").text,
             (tmp_path / "one.log").read_text(errors="replace"), (tmp_path / "master.log").read_text()
             if (tmp_path / "master.log").exists() else ""]
    assert all(secret not in text for text in shown), [t for t in shown if secret in t]
    assert slave_id in {t["slave_id"] for t in failed["frames"]}
