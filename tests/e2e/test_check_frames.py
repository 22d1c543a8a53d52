# SPDX-License-Identifier: GPL-3.0-or-later
"""``check-frames``: frames deleted or emptied in an output folder are found, and exactly those rendered again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from e2e_farm import netrender
from pixels import differences

from netrender.client import Client

pytestmark = pytest.mark.blender


def test_missing_and_empty_frames_are_listed_and_only_they_are_rendered_again(
    tmp_path: Path, cli_farm: Any, sample_scene: Path, sample_reference: dict[int, Path]
) -> None:
    blend = tmp_path / "sample.blend"
    shutil.copy(sample_scene, blend)
    out = tmp_path / "out"
    out.mkdir()
    for frame in range(1, 7):  # a render that went before: frames 1 to 6 as the farm names them
        shutil.copy(sample_reference[frame], out / f"{frame:06d}.exr")
    (out / "000002.exr").unlink()
    (out / "000005.exr").unlink()
    (out / "000003.exr").write_bytes(b"")  # a placeholder whose render never finished

    listed = netrender("check-frames", str(out), "1-6")
    assert listed.returncode == 1
    assert listed.stdout.splitlines() == ["missing 2 000002.exr", "missing 5 000005.exr", "empty 3 000003.exr"]
    cli_farm.slave("one")
    again = netrender("check-frames", str(out), "1-6", "--blend", str(blend), "--pattern", "######.exr",
                      "--resubmit", "--master", cli_farm.url)
    assert again.returncode == 0, again.stderr
    jobs = Client(cli_farm.url).jobs()
    assert len(jobs) == 1 and [f["number"] for f in Client(cli_farm.url).job(jobs[0]["id"])["frames"]] == [2, 3, 5]
    assert netrender("check-frames", str(out), "1-6").returncode == 0
    for frame in (2, 3, 5):
        assert differences(out / f"{frame:06d}.exr", sample_reference[frame]) == []
