# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on inside real Blender 3.4: settings, panels and operators against a live master."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from blender_env import run_script
from projects import Built

from netrender.client import Client
from netrender.master import MasterServer

pytestmark = pytest.mark.blender


def test_the_engine_and_every_setting_of_each_mode(tmp_path: Path) -> None:
    found = run_script(tmp_path, "settings.py")
    assert found["engines"]["NET_RENDER"] == "Network Render"
    assert found["values"] == found["expected"]
    assert found["passed_on"] == {  # the settings reach the core
        "slave": [False, "finish", ["P:\\projects=/mnt/projects"]],
        "job": [False, True, True, True, "/tmp/nr-shared/renders"],
        "master": [["/tmp/nr-shared"], ["P:\\projects=/mnt/projects"], True],
    }
    assert found["visible"] == {
        "MASTER": ["NETRENDER_PT_master_settings", "NETRENDER_PT_network"],
        "SLAVE": ["NETRENDER_PT_network", "NETRENDER_PT_slave_settings"],
        "CLIENT": ["NETRENDER_PT_job", "NETRENDER_PT_jobs", "NETRENDER_PT_network", "NETRENDER_PT_slaves",
                   "NETRENDER_PT_slaves_blacklist"],
    }
    assert all(found["operators"].values()), found["operators"]
    assert "Save the file first" in found["bake_unsaved"]


def test_an_unreachable_master_is_reported_clearly(tmp_path: Path) -> None:
    from netrender.cli.demo import free_port
    from netrender.common.connection import CONNECT_TIMEOUT

    found = run_script(tmp_path, "unreachable.py", free_port())
    assert found["status"].startswith("Refreshing jobs failed: cannot reach the master at http://127.0.0.1:")
    assert "connection refused" in found["status"]
    assert found["seconds"] < CONNECT_TIMEOUT


def test_the_client_buttons_against_a_live_master(
    tmp_path: Path, live_master: MasterServer, spawn_slaves, sample_scene: Path
) -> None:
    blend = tmp_path / "shot" / "shot.blend"
    blend.parent.mkdir()
    shutil.copy(sample_scene, blend)
    spawn_slaves(live_master.url)
    deadline = time.monotonic() + 30
    while not Client(live_master.url).conn.get("/api/slaves")["slaves"]:
        assert time.monotonic() < deadline, "the slave never registered"
        time.sleep(0.1)
    output = tmp_path / "output"
    output.mkdir()
    found = run_script(tmp_path, "operators.py", live_master.port, output, blend=blend)

    animation, single = found["send_job"], found["send_frame_job"]
    assert animation > 0 and single > animation
    assert found["frame_job_frames"] == [2]
    assert found["saved_engine"] is False
    assert found["jobs_listed"] == [animation, single]
    assert found["slaves_listed"] == ["slave-1"]
    assert found["after_blacklist"] == [[], ["slave-1"]] and found["master_blacklisted"] == [True]
    assert found["after_whitelist"] == [["slave-1"], []]
    slave_id = Client(live_master.url).slaves()[0]["id"]
    assert found["switched_off"] == [slave_id] and found["switched_on"] == []  # off for one job, then on again
    assert found["switch_status"] == f"slave-1 is switched off for job {single}"
    assert found["downloaded"] == ["000001.exr", "000002.exr", "000003.exr"]
    assert found["after_remove"] == [animation]
    assert found["after_remove_all"] == [] and found["master_jobs"] == []
    assert "removed 1 job(s)" in found["status"]


def test_missing_files_are_reported_and_refuse_to_go_when_asked(
    tmp_path: Path, live_master: MasterServer, built_project: Callable[[str], Built]
) -> None:
    project = built_project("missing_files").project
    found = run_script(tmp_path, "send_missing.py", live_master.port, blend=project.blend)
    assert found["job"] > 0 and found["jobs"] == [found["job"]]  # the strict one never reached the master
    assert sorted(found["missing"]) == sorted(str(p) for p in project.missing)
    assert "2 missing file(s), see the Job panel" in found["status"]
    assert found["strict_status"].startswith("Sending the job failed: the .blend names 2 file(s) that do not exist")
    assert found["strict_missing"] == ""
    assert Client(live_master.url).job(found["job"])["missing"] == found["missing"]
