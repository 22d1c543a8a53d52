# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on's *Bake on network* and Version Control settings in real Blender 3.4, against a live farm."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blender_env import run_script
from pixels import differences
from simulation import build

from netrender.client import Client
from netrender.master import MasterServer
from netrender.samples import build_scene

pytestmark = pytest.mark.blender
EXR = ["-F", "OPEN_EXR_MULTILAYER", "-x", "1"]


def render(blend: Path, output: Path, frame: int) -> Path:
    subprocess.run(["blender", "-b", str(blend), "-o", str(output / "######"), *EXR, "-t", "1", "-f", str(frame)],
                   check=True, capture_output=True, timeout=300)
    return output / f"{frame:06d}.exr"


def slaves_up(master: MasterServer, spawn_slaves: Callable[..., Any], count: int) -> None:
    spawn_slaves(master.url, count)
    deadline = time.monotonic() + 30
    while len(Client(master.url).slaves()) < count:
        assert time.monotonic() < deadline, "the slaves never registered"
        time.sleep(0.1)


def test_bake_on_network_puts_the_farms_caches_into_the_file(
    tmp_path: Path, live_master: MasterServer, spawn_slaves: Callable[..., Any]
) -> None:
    blend, reference = build(tmp_path / "sim")
    slaves_up(live_master, spawn_slaves, 2)
    found = run_script(tmp_path, "bake_and_vcs.py", live_master.port, "bake", blend=blend)
    assert found["finished"] == ["FINISHED"], found
    assert "2 cache(s) baked on the farm" in found["status"], found["status"]
    job = Client(live_master.url).job(found["job_id"])
    assert job["kind"] == "bake" and job["status"] == "finished"
    assert found["caches"] == {"Cloth/Cloth": [True, True], "Emitter/Particles": [True, True]}
    assert len(list((blend.parent / "blendcache_shot").iterdir())) == 40
    assert differences(render(blend, tmp_path / "after", 18), reference[18]) == []


def test_refresh_fills_the_version_control_settings_and_the_job_checks_out(
    tmp_path: Path, live_master: MasterServer, spawn_slaves: Callable[..., Any]
) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@example.com"}
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    for argv in (["git", "init", "-q", "--bare", "-b", "main", str(origin)], ["git", "clone", "-q", str(origin),
                                                                              str(work)]):
        subprocess.run(argv, check=True, capture_output=True, env=env)
    blend = build_scene(work / "shots" / "shot.blend", frames=1, texture=True)
    for argv in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "A"], ["git", "push", "-q", "origin", "main"]):
        subprocess.run(argv, cwd=work, check=True, capture_output=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
    slaves_up(live_master, spawn_slaves, 1)

    found = run_script(tmp_path, "bake_and_vcs.py", live_master.port, "vcs", blend=blend)
    assert found["settings"] == ["GIT", str(origin), head, str(work)]
    assert f"{blend} is not inside the Working Copy /somewhere/else" in found["outside"]  # refused, not sent
    client = Client(live_master.url)
    job = client.job(found["job_id"])
    assert (job["vcs"], job["remote"], job["revision"], job["blend"], job["files"]) == (
        "git", str(origin), head, "shots/shot.blend", [])
    deadline = time.monotonic() + 180
    while (now := client.job(job["id"]))["status"] != "finished":  # one read a round: it may finish between two
        assert now["status"] in ("queued", "running"), now
        assert time.monotonic() < deadline
        time.sleep(0.2)
    frame = client.download(job["id"], tmp_path / "farm")[0]
    assert differences(frame, render(blend, tmp_path / "local", 1)) == []
