# SPDX-License-Identifier: GPL-3.0-or-later
"""Many .blend files in one submit: a job each, in order, the files they share uploaded once; the desktop action."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_farm import netrender
from projects import build

from netrender.client import Client
from netrender.master import MasterServer
from netrender.samples import build_scene

pytestmark = pytest.mark.blender
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three shots of one sequence sharing one texture (``shots/textures/checker.png``)."""
    folder = tmp_path_factory.mktemp("sequence") / "shots"
    for frames, name in ((1, "sh010"), (2, "sh020"), (3, "sh030")):
        build_scene(folder / f"{name}.blend", frames=frames, texture=True)
    return folder


@pytest.fixture(scope="module")
def linked_shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three shots that link one library (``assets/props/props.blend``, with its own texture)."""
    project = build("library_relative_outside", tmp_path_factory.mktemp("linked"))
    shots = [project.blend]
    for name, end in (("shot_b", 2), ("shot_c", 3)):  # the same folder: the library's relative path holds
        shots.append(project.blend.with_name(f"{name}.blend"))
        subprocess.run(["blender", "-b", str(project.blend), "--python-expr",
                        f"import bpy; bpy.context.scene.frame_end = {end}; "
                        f"bpy.ops.wm.save_as_mainfile(filepath={str(shots[-1])!r})"], check=True,
                       capture_output=True, timeout=120)
    return shots


def test_shots_linking_one_library_upload_it_once(live_master: MasterServer, linked_shots: list[Path]) -> None:
    done = netrender("submit", *map(str, linked_shots), "--master", live_master.url)
    assert done.returncode == 0, done.stderr
    ids = [int(line) for line in done.stdout.split()]
    assert [Client(live_master.url).job(i)["name"] for i in ids] == ["shot", "shot_b", "shot_c"]
    uploaded = [int(m.group(1)) for m in re.finditer(r"file\(s\), (\d+) uploaded", done.stderr)]
    assert uploaded[0] >= 3 and uploaded[1:] == [1, 1], done.stderr  # the library and its texture went once
    job = Client(live_master.url).job(ids[2])
    assert any(f["path"].endswith("assets/props/props.blend") for f in job["files"])  # the third job has it too


def test_three_files_become_three_jobs_in_order_sharing_one_upload(live_master: MasterServer, shots: Path) -> None:
    done = netrender("submit", str(shots / "sh*.blend"), "--master", live_master.url, "--quiet")
    assert done.returncode == 0, done.stderr
    ids = [int(line) for line in done.stdout.split()]
    jobs = [Client(live_master.url).job(i) for i in ids]
    assert [j["name"] for j in jobs] == ["sh010", "sh020", "sh030"] and ids == sorted(ids)
    assert [j["frame_count"]["total"] for j in jobs] == [1, 2, 3]
    # 3 .blend files and the texture they share, once: the only line --quiet prints
    assert done.stderr.strip().splitlines() == [f"3 job(s) submitted: {', '.join(map(str, ids))}; 4 file(s) uploaded"]


def test_a_queue_file_lists_the_files_in_its_order(live_master: MasterServer, shots: Path, tmp_path: Path) -> None:
    listed = tmp_path / "queue.txt"
    listed.write_text(f"# tonight\n{shots / 'sh030.blend'}\n\n{os.path.relpath(shots / 'sh010.blend', tmp_path)}\n")
    done = netrender("submit", "--queue-file", str(listed), "--master", live_master.url)
    assert done.returncode == 0, done.stderr
    assert [Client(live_master.url).job(int(i))["name"] for i in done.stdout.split()] == ["sh030", "sh010"]
    missing = netrender("submit", str(shots / "nothing*.blend"), "--master", live_master.url)
    assert missing.returncode == 2 and "matches no file" in missing.stderr


def test_the_file_manager_action_sends_the_selected_files(live_master: MasterServer, shots: Path) -> None:
    env = {**os.environ, "NETRENDER": str(Path(sys.executable).with_name("netrender")),
           "NETRENDER_MASTER": live_master.url,
           "NAUTILUS_SCRIPT_SELECTED_FILE_PATHS": f"{shots / 'sh010.blend'}\n{shots / 'sh020.blend'}\n"}
    done = subprocess.run([str(ROOT / "scripts" / "desktop" / "netrender-submit-files")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Sent to the farm: 2 job(s) submitted")
    assert [j["name"] for j in Client(live_master.url).jobs()][-2:] == ["sh010", "sh020"]
    desktop = (ROOT / "scripts" / "desktop" / "netrender-submit.desktop").read_text()
    assert "Exec=netrender-submit-files %F" in desktop and "MimeType=application/x-blender;" in desktop
