# SPDX-License-Identifier: GPL-3.0-or-later
"""Relative paths work from any working folder: the master's and the slave's ``--path``, ``--output``, the .blend.

A master started with ``--path farm`` once answered every job-file download
with a 500 (Flask read the relative name against its own package folder), and
its slaves retried for ever. Here each process runs in a folder of its own
and is given only relative paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pixels import differences
from projects import Built

from netrender.cli.demo import free_port, stop_processes, wait_for_master
from netrender.common.connection import Connection

pytestmark = pytest.mark.blender


def test_a_master_and_a_slave_started_with_relative_paths_render_a_job(
    tmp_path: Path, built_project: Callable[[str], Built]
) -> None:
    built = built_project("library_relative_outside")
    for folder in ("master-host", "slave-host", "artist"):
        (tmp_path / folder).mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def start(folder: str, *args: str) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"{folder}.log", "wb") as log:
            return subprocess.Popen([sys.executable, "-m", "netrender", *args], cwd=tmp_path / folder,
                                    stdout=log, stderr=subprocess.STDOUT)

    procs = [start("master-host", "master", "--path", "farm", "--address", "127.0.0.1", "--port", str(port),
                   "--no-broadcast", "--no-zeroconf")]
    try:
        wait_for_master(Connection(url))
        procs.append(start("slave-host", "slave", "--master", url, "--path", "node", "--threads", "1"))
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "netrender", "submit", os.path.relpath(built.project.blend, tmp_path / "artist"),
             "--master", url,
             "--frames", "1", "--wait", "--output", "frames"],
            cwd=tmp_path / "artist", capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr + (tmp_path / "slave-host.log").read_text()
        assert time.monotonic() - started < 300
    finally:
        stop_processes(procs)
    assert (tmp_path / "master-host" / "farm" / "blender_master.data").is_file()
    assert list((tmp_path / "slave-host" / "node").glob("slave_*/job_1/files/assets/props/props.blend"))
    assert differences(tmp_path / "artist" / "frames" / "000001.exr", built.local[1]) == []
    assert "500" not in (tmp_path / "slave-host.log").read_text()
