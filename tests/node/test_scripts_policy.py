# SPDX-License-Identifier: GPL-3.0-or-later
"""Nothing runs that shouldn't: a .blend's auto-run script runs only if the job and the slave both allow it."""

from __future__ import annotations

from pathlib import Path

import pytest
from blender_env import run_script

from netrender.client import Client, JobOptions
from netrender.master import MasterServer
from netrender.slave import Slave, SlaveConfig

pytestmark = pytest.mark.blender


@pytest.mark.parametrize(
    ("job_allows", "slave_allows", "runs"),
    [(False, False, False), (True, False, False), (False, True, False), (True, True, True)],
)
def test_a_trap_blend_runs_its_script_only_when_both_allow_it(
    tmp_path: Path, live_master: MasterServer, sample_scene: Path, job_allows: bool, slave_allows: bool, runs: bool
) -> None:
    marker = tmp_path / "marker.txt"
    trap = tmp_path / "trap" / "trap.blend"
    trap.parent.mkdir()
    run_script(tmp_path, "make_trap.py", marker, trap, blend=sample_scene)
    assert not marker.exists()  # making the file did not run it
    client = Client(live_master.url)
    job = client.submit(trap, JobOptions(frames=[1], allow_scripts=job_allows)).job
    slave = Slave(SlaveConfig(master=live_master.url, path=tmp_path / "slave", threads=1,
                              allow_scripts=slave_allows))
    assert slave.run_once()
    assert client.job(job["id"])["status"] == "finished"  # the frame renders either way
    assert marker.exists() is runs
