# SPDX-License-Identifier: GPL-3.0-or-later
"""A still across the farm: tiles handed out to whoever is free, stitched pixel-identical, denoised whole.

Cycles samples each pixel the same whichever region is rendered, so the tiles
of a frame put back together equal a render of the whole frame, in every
pass. A slave killed with a tile in hand costs that tile only: it is rendered
again elsewhere. A frame to denoise goes only to a slave whose Blender can
denoise, and is denoised whole, so no seam shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import wait_until
from pixels import channels, differences
from slowed import slowed_blender

from netrender.client import Client, JobOptions
from netrender.pack.hashes import HashCache
from netrender.samples import build_scene

pytestmark = pytest.mark.blender
BPY = str(Path(sys.executable).with_name("netrender-bpy"))
EXR = ["-F", "OPEN_EXR_MULTILAYER", "-x", "1"]


def render(blender: str, blend: Path, output: Path, *before_render: str) -> Path:
    """A local render of frame 1 with one thread, as the slaves render; ``before_render`` runs first."""
    subprocess.run([blender, "-b", str(blend), *before_render, "-o", str(output / "######"), *EXR, "-t", "1",
                    "-f", "1"], check=True, capture_output=True, timeout=600)
    return output / "000001.exr"


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A textured Cycles still with more passes than Combined, slow enough to kill a slave mid-tile; its render."""
    folder = tmp_path_factory.mktemp("still")
    blend = build_scene(folder / "still.blend", frames=1, size="160x90", samples=384, texture=True, passes=True)
    return blend, render("blender", blend, folder / "local")


@pytest.fixture
def farm(cli_farm: Any) -> Any:
    """The whole-farm fixture (``tests/e2e_farm.py``): ``farm.slave(name, *options)`` gives a registered slave's id."""
    return cli_farm


def finished(client: Client, job_id: int, timeout: float = 300.0) -> dict[str, Any]:
    return wait_until(lambda: (job := client.job(job_id))["status"] in ("finished", "failed") and job,
                      timeout=timeout, what=f"job {job_id} to end", poll=0.2)


def test_a_tiled_still_equals_a_local_render_in_every_pass_even_with_a_slave_killed(
    tmp_path: Path, farm: Any, still: tuple[Path, Path]
) -> None:
    blend, local = still
    client = Client(farm.url, hashes=HashCache(None))
    client.conn.request("PATCH", "/api/balancing", json={"lost_timeout": 2})  # a killed slave is lost in 2 s
    doomed = farm.slave("doomed")
    doomed_proc = farm.procs["doomed"]
    survivor = farm.slave("survivor")
    job_id = client.submit(blend, JobOptions(frames=[1], tiles=16)).job["id"]

    def held_by_doomed() -> list[int]:
        tasks = client.job(job_id)["frames"]
        working = [t["number"] for t in tasks if t["status"] == "dispatched" and t["slave_id"] == doomed]
        return working if working and any(t["status"] == "done" and t["slave_id"] == doomed for t in tasks) else []

    held = wait_until(held_by_doomed, timeout=120, what="the doomed slave to hold a tile, after one done", poll=0.02)
    doomed_proc.kill()  # SIGKILL: no goodbye, no release; its Blender dies with it
    job = finished(client, job_id)

    assert job["status"] == "finished", [(t["number"], t["message"]) for t in job["frames"]]
    by_number = {t["number"]: t for t in job["frames"]}
    assert [by_number[n]["slave_id"] for n in held] == [survivor] * len(held)  # rendered again, elsewhere
    tiles = [t for t in job["frames"] if t["task"]["kind"] == "tile"]
    assert len(tiles) == 18 and {t["slave_id"] for t in tiles} == {doomed, survivor}
    assert job["grid"] == [6, 3] and job["outputs"] == [{"frame": 1, "task": 19, "status": "done"}]
    frames = client.download(job_id, tmp_path / "farm")
    assert [f.name for f in frames] == ["000001.exr"]
    assert sorted(channels(frames[0])) == sorted(channels(local))  # every pass, and only those
    assert differences(frames[0], local) == []
    assert not list((tmp_path / "doomed").rglob("*.exr.part*"))


DENOISE_PASSES = """
import bpy
scene = bpy.context.scene
scene.cycles.use_denoising = False
for layer in scene.view_layers:
    layer.cycles.denoising_store_passes = layer.use_pass_vector = True
"""
DENOISE_FILE = """
import bpy, sys
source, target = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.cycles.denoise_animation(input_filepath=source, output_filepath=target)
"""


def test_a_denoised_still_is_denoised_whole_by_a_slave_that_can(tmp_path: Path, farm: Any) -> None:
    """Tiles render undenoised on any slave; the frame is stitched and denoised once, by a slave that can.

    Measured against Blender itself: the farm's frame equals, bit for bit, a
    whole-frame render (undenoised, with the denoiser's passes) that Blender's
    own Denoise Animation then denoises; and it stays close to Cycles denoising
    during the render, which filters the same image a little differently.
    """
    blend = build_scene(tmp_path / "scene" / "still.blend", blender=BPY, frames=1, size="160x90", samples=16,
                        texture=True, denoise=True)
    local = render(BPY, blend, tmp_path / "local")  # Cycles' own denoising, during the render
    (tmp_path / "passes.py").write_text(DENOISE_PASSES)
    noisy = render(BPY, blend, tmp_path / "noisy", "--python", str(tmp_path / "passes.py"))
    (tmp_path / "denoise.py").write_text(DENOISE_FILE)
    whole = tmp_path / "whole" / "000001.exr"
    whole.parent.mkdir()
    subprocess.run([BPY, "-b", str(blend), "--python", str(tmp_path / "denoise.py"), "--", str(noisy), str(whole)],
                   check=True, capture_output=True, timeout=300)

    client = Client(farm.url, hashes=HashCache(None))
    cannot = farm.slave("cannot", "--blender", BPY, "--no-denoise")
    can = farm.slave("can", "--blender", BPY)
    slaves = {s["id"]: s for s in client.conn.get("/api/slaves")["slaves"]}
    assert slaves[can]["facts"]["capabilities"] == ["denoise"] and slaves[cannot]["facts"]["capabilities"] == []
    sent = client.submit(blend, JobOptions(frames=[1], tiles=8))
    assert sent.job["denoise"] is True  # read from the scene's own Denoise setting
    job = finished(client, sent.job["id"])

    assert job["status"] == "finished", [(t["number"], t["message"]) for t in job["frames"]]
    stitch = [t for t in job["frames"] if t["task"]["kind"] == "stitch"]
    assert [t["slave_id"] for t in stitch] == [can]  # never the slave that cannot denoise
    frame = client.download(job["id"], tmp_path / "farm")[0]
    assert differences(frame, whole) == []
    combined = [k for k in channels(local) if ".Combined." in k and not k.endswith(".A")]
    ours, theirs, raw = channels(frame), channels(local), channels(noisy)
    gap = max(float(np.mean(np.abs(ours[k] - theirs[k]))) for k in combined)
    noise = max(float(np.mean(np.abs(raw[k] - theirs[k]))) for k in combined)
    print(f"denoised whole vs Cycles' own denoising: mean abs difference {gap:.4f} (undenoised: {noise:.4f})")
    assert gap < noise / 2 and gap < 0.01


def test_a_slowed_slave_measures_slower_and_both_finish_within_a_tile_of_each_other(
    tmp_path: Path, farm: Any, still: tuple[Path, Path]
) -> None:
    blend, _ = still
    client = Client(farm.url, hashes=HashCache(None))
    fast = farm.slave("fast", "--threads", "2")
    slow = farm.slave("slow", "--threads", "2", "--blender", str(slowed_blender(tmp_path / "bin")))  # half speed

    tested = subprocess.run([sys.executable, "-m", "netrender", "speedtest", str(blend), "--master", farm.url],
                            capture_output=True, text=True, timeout=600)
    assert tested.returncode == 0, tested.stderr
    table = {line.split()[0]: line.split()[1:] for line in tested.stdout.splitlines()[1:]}
    assert list(table) == ["fast", "slow"] and table["fast"][2] == "1.00"  # fastest first, the others relative
    assert float(table["slow"][2]) < 1.0, tested.stdout
    speed = {s["id"]: s["speed"] for s in client.slaves()}
    assert speed[slow]["machine_seconds"] > speed[fast]["machine_seconds"] > 0
    assert speed[slow]["file_seconds"] > 0 and speed[fast]["file_seconds"] > 0
    listed = subprocess.run([sys.executable, "-m", "netrender", "slaves", "--master", farm.url],
                            capture_output=True, text=True, timeout=60)
    assert "fast" in listed.stdout and "3.4.1" in listed.stdout and f"{speed[slow]['machine_seconds']:.2f}" in \
        listed.stdout

    job = finished(client, client.submit(blend, JobOptions(frames=[1], tiles=24)).job["id"])
    assert job["status"] == "finished"
    tiles = [t for t in job["frames"] if t["task"]["kind"] == "tile"]
    assert {t["slave_id"] for t in tiles} == {fast, slow}
    last = {who: max(t["finished_at"] for t in tiles if t["slave_id"] == who) for who in (fast, slow)}
    longest = max(t["render_time"] for t in tiles)
    assert abs(last[fast] - last[slow]) <= longest + 0.5, (last, longest)  # plus an upload's worth


def test_every_frame_of_an_animation_can_be_tiled(tmp_path: Path, farm: Any, sample_scene: Path,
                                                  sample_reference: dict[int, Path]) -> None:
    client = Client(farm.url, hashes=HashCache(None))
    for name in ("one", "two"):
        farm.slave(name)
    job = finished(client, client.submit(sample_scene, JobOptions(frames=[4, 5, 6], tiles=4)).job["id"])
    assert job["status"] == "finished" and job["frame_count"]["total"] == 3 * 4 + 3
    assert [o["frame"] for o in job["outputs"]] == [4, 5, 6]
    frames = client.download(job["id"], tmp_path / "farm")
    assert [f.name for f in frames] == ["000004.exr", "000005.exr", "000006.exr"]
    for path in frames:
        assert differences(path, sample_reference[int(path.stem)]) == []


def test_a_scene_with_path_guiding_fails_its_tiles_with_the_reason(tmp_path: Path, farm: Any,
                                                                   sample_scene: Path) -> None:
    guided = tmp_path / "guided.blend"
    subprocess.run(["blender", "-b", str(sample_scene), "--python-expr",
                    f"import bpy; bpy.context.scene.cycles.use_guiding = True; "
                    f"bpy.ops.wm.save_as_mainfile(filepath={str(guided)!r})"], check=True, capture_output=True)
    client = Client(farm.url, hashes=HashCache(None))
    farm.slave("one")
    job = finished(client, client.submit(guided, JobOptions(frames=[1], tiles=4)).job["id"])
    assert job["status"] == "failed"
    failed = [t for t in job["frames"] if t["status"] == "error"]
    assert failed and all("path guiding is on" in t["message"] for t in failed)
