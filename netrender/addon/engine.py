# SPDX-License-Identifier: GPL-3.0-or-later
"""The Network Render engine: rendering a frame runs the master, runs a slave, or fetches the frame.

Like the original add-on, *Master* and *Slave* run as a render that lasts
until Esc (or Ctrl-C headless), with their status in the render status line.
In *Client* mode each frame comes from the master: from the current job if it
holds the frame, otherwise from a job sent for it (the whole animation when
rendering one). The frame's multilayer EXR is loaded into the render result,
so Blender writes it in the scene's own output format. A tiled still shows
each tile as it arrives, then the stitched (and denoised) frame; Esc cancels
the job the render sent.

``render()`` runs on Blender's render thread in the UI, never on the main one.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import bpy

from ..client import Client
from ..common.errors import NetrenderError
from ..common.framestate import FrameProgress
from ..discovery import Follower, is_default
from ..master import MasterServer
from ..slave import Slave
from . import props

POLL = 0.5

# Jobs this Blender sent while rendering, by (master URL, .blend path), so the
# frames of one animation render all come from the job its first frame sent.
_sent_jobs: dict[tuple[str, str], int] = {}


class NetRenderEngine(bpy.types.RenderEngine):
    bl_idname = "NET_RENDER"
    bl_label = "Network Render"
    bl_use_postprocess = True

    def render(self, depsgraph: Any) -> None:
        scene = depsgraph.scene
        s = props.settings(scene)
        try:
            if s.mode == "MASTER":
                self.run_master(s)
            elif s.mode == "SLAVE":
                self.run_slave(s)
            else:
                self.fetch_frame(scene, s)
        except (NetrenderError, OSError) as exc:
            self.report({"ERROR"}, f"Network Render: {exc}")

    def run_master(self, s: Any) -> None:
        server = MasterServer(props.master_config(s))
        server.start()
        try:
            while not self.test_break():
                jobs = server.farm.jobs()
                running = sum(1 for j in jobs if j.status.value in ("queued", "running"))
                slaves = server.farm.slaves(time.time())
                live = sum(1 for sl in slaves if sl.state != "lost")
                self.update_stats("", f"Master on port {server.port}: {running}/{len(jobs)} jobs active, "
                                      f"{live} slave(s)")
                time.sleep(POLL)
        finally:
            server.close()

    def run_slave(self, s: Any) -> None:
        status = ["starting"]
        config = props.slave_config(s)
        follower = None
        if is_default(s.server_address):  # find the master, and follow it if it moves
            self.update_stats("", "Slave: looking for the master on the network")
            follower = Follower(https_only=props.access(s).tls).start()
            config.master = follower.wait(11.0) or config.master
        slave = Slave(config, on_status=lambda text: status.append(text), follower=follower)
        thread = threading.Thread(target=slave.run, name="netrender-slave", daemon=True)
        thread.start()
        try:
            while not self.test_break() and thread.is_alive():
                self.update_stats("", f"Slave {slave.config.name}: {status[-1]}")
                time.sleep(POLL)
        finally:
            slave.stop()
            thread.join(timeout=30)

    def fetch_frame(self, scene: Any, s: Any) -> None:
        frame = scene.frame_current
        client = Client(props.url(s), access=props.access(s))
        job_id = self.job_for(scene, s, client, frame)
        folder = Path(bpy.path.abspath(s.path)) / "netrender_client" / f"job_{job_id}"
        width, height = frame_size(scene)
        shown: set[int] = set()
        self.update_stats("", f"Network render: job {job_id}, waiting for frame {frame}")
        while True:
            job, progress = client.frame_progress(job_id, frame)
            if progress is None:
                self.report({"ERROR"}, f"job {job_id} does not render frame {frame}")
                return
            for number, region in progress.tiles:  # each finished tile, drawn where it belongs
                if number not in shown:
                    self.show_tile(client, job_id, number, region, folder, height)
                    shown.add(number)
            if progress.status == "done":
                break
            if progress.status == "error":
                self.report({"ERROR"}, f"frame {frame} failed on the farm: {progress.message}")
                return
            if job["status"] == "cancelled":
                self.report({"ERROR"}, f"job {job_id} was cancelled on the master")
                return
            if self.test_break():
                self.cancel_sent(client, job_id)
                return
            self.update_progress(progress.done / max(progress.total, 1))
            self.update_stats("", status_line(job, frame, progress))
            time.sleep(POLL)
        exr = folder / f"{frame:06d}.exr"
        client.conn.download(f"/api/jobs/{job_id}/outputs/{frame}", exr)
        result = self.begin_result(0, 0, width, height)
        result.load_from_file(str(exr))
        self.end_result(result)

    def show_tile(self, client: Client, job_id: int, number: int, region: tuple[int, int, int, int],
                  folder: Path, height: int) -> None:
        """Draw one finished tile in the render window: Blender's result rows count from the bottom."""
        x0, y0, x1, y1 = region
        path = folder / "tiles" / f"{number:06d}.exr"
        client.conn.download(f"/api/jobs/{job_id}/frames/{number}/result", path)
        result = self.begin_result(x0, height - y1, x1 - x0, y1 - y0)
        result.load_from_file(str(path))
        self.end_result(result)

    def cancel_sent(self, client: Client, job_id: int) -> None:
        """Esc: cancel the job if this render sent it (a job sent with the buttons stays)."""
        key = (client.conn.url, bpy.data.filepath)
        if _sent_jobs.get(key) == job_id:
            client.cancel(job_id)
            del _sent_jobs[key]
            self.report({"INFO"}, f"Network render: job {job_id} cancelled")

    def job_for(self, scene: Any, s: Any, client: Client, frame: int) -> int:
        """The job to take ``frame`` from: the current one, one this render sent, or a new one."""
        key = (client.conn.url, bpy.data.filepath)
        for job_id in (s.job_id, _sent_jobs.get(key, 0)):
            if job_id > 0 and has_frame(client, job_id, frame):
                return job_id
        if not bpy.data.filepath:
            raise NetrenderError("save the file first: the farm renders the saved .blend")
        frames = props.animation_frames(scene) if self.rendering_animation() else [frame]
        options = props.job_options(scene, frames)
        self.update_stats("", f"Network render: sending {Path(bpy.data.filepath).name}")
        sent = client.submit(Path(bpy.data.filepath), options)
        if sent.missing:
            self.report({"WARNING"}, f"{len(sent.missing)} file(s) the .blend names do not exist and are rendered "
                                     f"without, as here: {', '.join(str(p) for p in sent.missing[:5])}")
        job_id = int(sent.job["id"])
        _sent_jobs[key] = job_id
        return job_id

    def rendering_animation(self) -> bool:
        """Whether the whole animation is being rendered, so a job should cover it.

        Headless, Blender renders ``-f N`` through its animation path too, so
        there the command line decides: only ``-a`` renders the animation.
        """
        if bpy.app.background:
            return any(arg in ("-a", "--render-anim") for arg in sys.argv)
        return bool(self.is_animation)


def has_frame(client: Client, job_id: int, frame: int) -> bool:
    try:
        job, progress = client.frame_progress(job_id, frame)
    except NetrenderError:
        return False
    return progress is not None and progress.status != "error" and job["status"] != "cancelled"


def status_line(job: dict[str, Any], frame: int, progress: FrameProgress) -> str:
    paused = " (paused on the master)" if job["status"] == "paused" else ""
    if progress.tile_count:
        return (f"Network render: job {job['id']}, frame {frame}: {len(progress.tiles)} of {progress.tile_count} "
                f"tiles in{paused}")
    return (f"Network render: job {job['id']} {progress.done}/{progress.total} done, frame {frame} "
            f"{progress.status}{paused}")


def frame_size(scene: Any) -> tuple[int, int]:
    render = scene.render
    percent = render.resolution_percentage
    return render.resolution_x * percent // 100, render.resolution_y * percent // 100


def register() -> None:
    bpy.utils.register_class(NetRenderEngine)


def unregister() -> None:
    bpy.utils.unregister_class(NetRenderEngine)
