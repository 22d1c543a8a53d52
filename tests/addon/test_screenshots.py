# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender's real GUI, on Xvfb: the docs' screenshots of the add-on's panels, and the GUI helper itself.

One Blender draws the Render properties with Network Render in each mode and
saves ``docs/screenshots/render-<mode>.png`` (copied there only once the
picture is checked: its size, its colours, the panels Blender really drew).
The other tests pin down what ``tests/blender_gui.py`` promises the next
screenshots (a render window part-way through a still): waiting across
ticks, capturing a new window, and failing loudly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blender_env import REPO, run_script
from blender_gui import colours, missing, read_png, run_gui_script

from netrender.master import MasterServer
from netrender.samples import build_scene

pytestmark = pytest.mark.blender
SCREENSHOTS = REPO / "docs" / "screenshots"
SIZE = (1000, 1250)  # width, height: the Properties editor's panels, every one of the client's at once
PANELS = {
    "CLIENT": ["NETRENDER_PT_job", "NETRENDER_PT_jobs", "NETRENDER_PT_network", "NETRENDER_PT_slaves",
               "NETRENDER_PT_slaves_blacklist"],
    "MASTER": ["NETRENDER_PT_master_settings", "NETRENDER_PT_network"],
    "SLAVE": ["NETRENDER_PT_network", "NETRENDER_PT_slave_settings"],
}


@pytest.fixture(scope="module", autouse=True)
def display() -> None:
    """Skip without Xvfb, but never in CI, where that is a set-up bug."""
    reason = missing()
    if reason and os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run Blender's GUI: {reason}")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def modes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("gui")
    findings: dict[str, Any] = run_gui_script(folder, "screenshots.py", folder, size=SIZE, timeout=90)["findings"]
    return findings


def assert_a_picture(path: Path, size: tuple[int, int], at_least: int = 200) -> None:
    pixels = read_png(path)
    assert (pixels.shape[1], pixels.shape[0]) == size
    assert colours(pixels) >= at_least, f"{path} is nearly blank: {colours(pixels)} colours"


@pytest.mark.parametrize("mode", ["CLIENT", "MASTER", "SLAVE"])
def test_the_render_properties_of_each_mode(modes: dict[str, Any], mode: str) -> None:
    assert modes["engine"] == "NET_RENDER"
    found = modes["modes"][mode]
    assert found["window"] == list(SIZE)
    assert found["area"][0] == "PROPERTIES" and found["area"][1] == SIZE[0]  # the one editor, full width
    assert found["context"] == "RENDER"
    assert found["poll"] == PANELS[mode]
    assert found["drawn"] == PANELS[mode]  # Blender really drew them, and no other mode's
    shot = Path(found["screenshot"])
    assert_a_picture(shot, SIZE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_a_gui_script_waits_for_the_render_window_and_captures_it(tmp_path: Path) -> None:
    found = run_gui_script(tmp_path, "render_window.py", tmp_path, timeout=120)["findings"]
    main, render = found["window"]["windows"]
    assert main["size"] == [1280, 900] and render["areas"] == ["IMAGE_EDITOR"]
    # A screenshot is one window's pixels: the main one's shows no render, the render window's only that.
    assert_a_picture(Path(found["window"]["main"]), (1280, 900))
    assert_a_picture(Path(found["window"]["render"]), (render["size"][0], render["size"][1]), at_least=50)
    assert render["size"][0] < 1280
    # render_display_type = "SCREEN": the render fills the main window, one screenshot shows it.
    assert found["screen"]["windows"] == [{"size": [1280, 900], "areas": ["IMAGE_EDITOR"]}]
    assert_a_picture(Path(found["screen"]["main"]), (1280, 900), at_least=50)


def test_a_failing_gui_script_fails_with_its_reason_and_blenders_output(tmp_path: Path) -> None:
    with pytest.raises(AssertionError) as failed:
        run_gui_script(tmp_path, "gui_fails.py", timeout=60)
    message = str(failed.value)
    assert "TimeoutError: gave up after 0.5 s waiting for a window that never opens" in message
    assert "--- Blender's output" in message and "[gui] failed" in message


def test_the_render_window_fills_tile_by_tile_during_a_tiled_still(
    tmp_path: Path, live_master: MasterServer, spawn_slaves: Callable[..., Any]
) -> None:
    scene = build_scene(tmp_path / "sample" / "still.blend", frames=1, size="480x270", samples=32, texture=True)
    blend = tmp_path / "farm" / "still.blend"
    blend.parent.mkdir()
    run_script(tmp_path, "make_blend.py", "CLIENT", live_master.port, tmp_path / "client", blend,
               tmp_path / "out" / "####", 1, 12, blend=scene)
    spawn_slaves(live_master.url, 2)
    found = run_gui_script(tmp_path, "render_tiles.py", tmp_path, live_master.url, 4, blend=blend,
                           timeout=300)["findings"]
    part, done = found["part_way"], found["done"]
    # Paused part-way: some tiles drawn, the rest still queued, the render still running.
    assert 4 <= part["done"] < 12 and part["queued"] == 12 - part["done"] and part["shown"] == part["done"]
    assert not part["finished"]
    assert done["done"] == done["shown"] == 12 and done["status"] == "finished"
    assert found["windows"] == [[1280, 900, ["IMAGE_EDITOR"]]]  # the render filled the main window
    for shot in (Path(part["screenshot"]), Path(done["screenshot"])):
        assert_a_picture(shot, (1280, 900), at_least=50)
        shutil.copyfile(shot, SCREENSHOTS / shot.name)
