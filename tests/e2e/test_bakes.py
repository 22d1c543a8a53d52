# SPDX-License-Identifier: GPL-3.0-or-later
"""Point caches baked on the farm, one a slave, then put back into the artist's .blend; and renders after bakes.

The scene: a cloth falling on a ball and a particle system, both cached over
20 frames. Blender 3.4's cloth and particle bakes are byte-identical with one
thread and with two (measured: every .bphys file equal), so the slaves' thread
count does not matter; the tests still bake with one thread on both sides.
The reference is Blender's own: the caches baked locally (Bake All), then the
frame rendered in that same Blender.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from e2e_farm import netrender
from pixels import differences

from netrender.client import Client, JobOptions
from netrender.pack.hashes import HashCache

pytestmark = pytest.mark.blender
EXR = ["-F", "OPEN_EXR_MULTILAYER", "-x", "1"]

SCENE = '''
import bpy, sys
out = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 20
scene.render.engine = "CYCLES"
scene.cycles.samples, scene.cycles.use_denoising = 4, False
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 54, 100
bpy.ops.mesh.primitive_plane_add(size=2, location=(0, 0, 2))
cloth = bpy.context.object
cloth.name = "Cloth"
bpy.ops.object.mode_set(mode="EDIT")
bpy.ops.mesh.subdivide(number_cuts=8)
bpy.ops.object.mode_set(mode="OBJECT")
cloth.modifiers.new("Cloth", "CLOTH").point_cache.frame_end = 20
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.7, location=(0, 0, 0))
ball = bpy.context.object
ball.name = "Ball"
ball.modifiers.new("Collision", "COLLISION")
bpy.ops.mesh.primitive_ico_sphere_add(radius=0.3, location=(1.5, 0, 1))
emitter = bpy.context.object
emitter.name = "Emitter"
system = emitter.modifiers.new("Particles", "PARTICLE_SYSTEM").particle_system
system.point_cache.frame_end = 20
system.settings.count, system.settings.frame_start, system.settings.frame_end = 200, 1, 10
system.settings.render_type, system.settings.instance_object, system.settings.particle_size = "OBJECT", ball, 0.05
bpy.ops.object.camera_add(location=(0, -7, 2), rotation=(1.4, 0, 0))
scene.camera = bpy.context.object
bpy.ops.object.light_add(type="SUN", location=(0, 0, 5))
bpy.ops.wm.save_as_mainfile(filepath=out)
'''

#: Blender's own: bake every cache of the scene, then render the frames in that same Blender.
LOCAL_BAKE = '''
import bpy, sys
args = sys.argv[sys.argv.index("--") + 1:]
scene = bpy.context.scene
with bpy.context.temp_override(scene=scene):
    assert bpy.ops.ptcache.bake_all(bake=True) == {"FINISHED"}
scene.render.image_settings.file_format = "OPEN_EXR_MULTILAYER"
for frame in args[1:]:
    scene.frame_set(int(frame))
    scene.render.filepath = f"{args[0]}/{int(frame):06d}.exr"
    bpy.ops.render.render(write_still=True)
'''


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, Path]]:
    """The scene (under shots/) and, per frame, its render after a local bake."""
    folder = tmp_path_factory.mktemp("sim")
    blend = folder / "shots" / "shot.blend"
    blend.parent.mkdir()
    (folder / "scene.py").write_text(SCENE)
    subprocess.run(["blender", "-b", "--factory-startup", "--python", str(folder / "scene.py"), "--", str(blend)],
                   check=True, capture_output=True, timeout=300)
    local = folder / "local"
    local.mkdir()
    shutil.copy(blend, local / "shot.blend")
    (folder / "bake.py").write_text(LOCAL_BAKE)
    subprocess.run(["blender", "-b", str(local / "shot.blend"), "-t", "1", "--python-exit-code", "1", "--python",
                    str(folder / "bake.py"), "--", str(local / "out"), "17", "18"],
                   check=True, capture_output=True, timeout=300)
    return blend, {f: local / "out" / f"{f:06d}.exr" for f in (17, 18)}


def render(blend: Path, output: Path, frame: int) -> Path:
    subprocess.run(["blender", "-b", str(blend), "-o", str(output / "######"), *EXR, "-t", "1", "-f", str(frame)],
                   check=True, capture_output=True, timeout=300)
    return output / f"{frame:06d}.exr"


def copy_of(blend: Path, folder: Path) -> Path:
    """The scene in a project of its own (the bake changes the file and writes beside it)."""
    shutil.copytree(blend.parent.parent, folder)
    return folder / "shots" / blend.name


def test_caches_baked_on_two_slaves_go_into_the_file_and_render_like_a_local_bake(
    tmp_path: Path, cli_farm: Any, simulation: tuple[Path, dict[int, Path]]
) -> None:
    blend = copy_of(simulation[0], tmp_path / "project")
    slaves = {cli_farm.slave("one"), cli_farm.slave("two")}
    assert differences(render(blend, tmp_path / "unbaked", 18), simulation[1][18]) != []  # a cache matters here

    queued = netrender("bake", str(blend), "--master", cli_farm.url, "--no-wait")
    assert queued.returncode == 0, queued.stderr
    job_id = int(queued.stdout.split()[0])
    done = netrender("results", str(job_id), "--blend", str(blend), "--master", cli_farm.url)  # waits, then puts
    assert done.returncode == 0, done.stderr
    job = Client(cli_farm.url).job(job_id)
    assert job["kind"] == "bake" and job["status"] == "finished"
    assert [t["message"] for t in job["frames"]] == ["", ""]
    assert {t["slave_id"] for t in job["frames"]} == slaves  # one cache on each slave
    assert job["caches"] == [["Cloth", "Cloth"], ["Emitter", "particles/Particles"]]
    cached = sorted(p.name for p in (blend.parent / "blendcache_shot").iterdir())
    assert len(cached) == 40 and "2 cache(s) baked on the farm" in done.stderr  # 20 frames of each

    for frame in (17, 18):  # the file reopened: Blender reads the farm's caches
        assert differences(render(blend, tmp_path / "after", frame), simulation[1][frame]) == []

    archive = Client(cli_farm.url).conn.request("GET", f"/api/jobs/{job['id']}/results.zip").content
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:  # the monitor's zip: to unpack beside the .blend
        assert sorted(zf.namelist()) == [f"blendcache_shot/{name}" for name in cached]


def test_a_render_after_a_bake_waits_for_it_and_renders_with_its_caches(
    tmp_path: Path, cli_farm: Any, simulation: tuple[Path, dict[int, Path]]
) -> None:
    blend = copy_of(simulation[0], tmp_path / "project")
    cli_farm.slave("one")
    cli_farm.slave("two")
    done = netrender("bake", str(blend), "--master", cli_farm.url, "--then-render", "--frames", "17-18",
                     "--output", str(tmp_path / "farm"))
    assert done.returncode == 0, done.stderr
    bake_id, render_id = map(int, done.stdout.split())
    client = Client(cli_farm.url)
    baked, rendered = client.job(bake_id), client.job(render_id)
    assert rendered["after"] == bake_id and rendered["status"] == "finished"
    assert min(t["dispatched_at"] for t in rendered["frames"]) >= baked["finished_at"]  # it waited
    for frame in (17, 18):
        assert differences(tmp_path / "farm" / f"{frame:06d}.exr", simulation[1][frame]) == []


def test_a_failed_bake_fails_the_render_after_it_with_the_reason(
    tmp_path: Path, cli_farm: Any, simulation: tuple[Path, dict[int, Path]]
) -> None:
    blend = copy_of(simulation[0], tmp_path / "project")
    cli_farm.slave("one")
    client = Client(cli_farm.url, hashes=HashCache(None))
    client.conn.request("PATCH", "/api/balancing", json={"retry": False})
    bake = client.submit(blend, JobOptions(frames=[], caches=[("Nobody", "Cloth")])).job
    render_job = client.submit(blend, JobOptions(frames=[17, 18], after=bake["id"])).job
    failed = wait_until(lambda: (job := client.job(render_job["id"]))["status"] == "failed" and job, timeout=120,
                        what="the render after a failed bake to fail")
    assert client.job(bake["id"])["status"] == "failed"
    assert all(t["slave_id"] is None for t in failed["frames"])  # never started
    for task in failed["frames"]:
        assert f"job {bake['id']}" in task["message"] and "failed" in task["message"]
        assert "the scene has no point cache Nobody/Cloth" in task["message"]
