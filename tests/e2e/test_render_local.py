# SPDX-License-Identifier: GPL-3.0-or-later
"""Several Blender processes, one shared output folder, no master: every frame rendered exactly once."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from e2e_farm import netrender
from pixels import differences

from netrender.samples import build_scene

pytestmark = pytest.mark.blender


def rendered(folder: Path) -> Counter[int]:
    """How many times each frame was rendered, as the workers' logs say."""
    return Counter(int(m.group(1)) for log in folder.glob(".worker-*.log")
                   for m in re.finditer(r"^netrender: rendered frame (\d+)$", log.read_text(), re.M))


def test_four_workers_render_24_frames_each_exactly_once(tmp_path: Path) -> None:
    blend = build_scene(tmp_path / "scene" / "shot.blend", frames=24)
    out = tmp_path / "out"
    done = netrender("render-local", str(blend), "--workers", "4", "--threads", "1", "--output", str(out))
    assert done.returncode == 0, done.stderr
    counts = rendered(out)
    assert sorted(counts) == list(range(1, 25)) and set(counts.values()) == {1}  # all 24, none twice
    assert sum(1 for line in done.stderr.splitlines() if re.match(r"worker \d: \d+ frame\(s\)", line)) == 4
    assert "24 of 24 frame(s) rendered" in done.stderr
    files = sorted(out.glob("*.exr"))
    assert [f.name for f in files] == [f"{i:06d}.exr" for i in range(1, 25)] and all(f.stat().st_size for f in files)
    local = tmp_path / "local"
    subprocess.run(["blender", "-b", str(blend), "-o", str(local / "######"), "-F", "OPEN_EXR_MULTILAYER", "-x", "1",
                    "-t", "1", "-f", "7"], check=True, capture_output=True, timeout=300)
    assert differences(out / "000007.exr", local / "000007.exr") == []  # as Blender renders it by itself


def test_frames_done_or_claimed_by_another_process_are_left_alone(tmp_path: Path) -> None:
    blend = build_scene(tmp_path / "scene" / "shot.blend", frames=4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "000002.exr").write_bytes(b"")  # a placeholder: another Blender renders it
    (out / "000003.exr").write_bytes(b"rendered before")
    done = netrender("render-local", str(blend), "--workers", "2", "--threads", "1", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(rendered(out)) == [1, 4]
    assert (out / "000003.exr").read_bytes() == b"rendered before" and (out / "000002.exr").stat().st_size == 0
    assert netrender("check-frames", str(out), "1-4").stdout.splitlines() == ["empty 2 000002.exr"]
