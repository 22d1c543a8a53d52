# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on's buttons: send jobs, refresh and edit the master's lists, fetch results.

Each operator gathers plain data from the scene on the main thread, hands the
network part to :data:`tasks.TASKS`, and applies the answer back on the main
thread. The UI never waits on the network; the outcome shows in the panel's
status line and in Blender's report area.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bpy

from ..client import Client
from ..common.errors import NetrenderError
from ..discovery import find_master
from . import props
from .tasks import TASKS


def _pump() -> float | None:
    """Timer: run finished tasks' callbacks on the main thread; stop once idle."""
    TASKS.flush()
    return 0.1 if TASKS.busy else None


def start(context: Any, what: str, work: Callable[[Client], Any], done: Callable[[Any], str]) -> None:
    """Run ``work(client)`` off the main thread; ``done(result)`` says what happened.

    In background mode (no event loop, so no timers) the work is waited for,
    which is what a script running the operators expects.
    """
    scene = context.scene
    s = props.settings(scene)
    client = Client(props.url(s), access=props.access(s))
    s.status = f"{what}…"

    def on_done(result: Any, error: BaseException | None) -> None:
        if error is None:
            message = done(result)
        elif isinstance(error, NetrenderError):
            message = f"{what} failed: {error.message}"
        else:
            message = f"{what} failed: {type(error).__name__}: {error}"
        props.settings(scene).status = message
        print(f"netrender: {message}")
        for area in getattr(bpy.context.screen, "areas", ()):
            area.tag_redraw()

    TASKS.run(lambda: work(client), on_done)
    if bpy.app.background:
        TASKS.finish()
    elif not bpy.app.timers.is_registered(_pump):
        bpy.app.timers.register(_pump, first_interval=0.1)


class _NetClientOperator(bpy.types.Operator):
    @classmethod
    def poll(cls, context: Any) -> bool:
        return context.scene.render.engine == "NET_RENDER"


def _saved_blend(op: bpy.types.Operator, context: Any) -> Path | None:
    """The file the farm will render, saved first if the job settings say so."""
    s = props.settings(context.scene)
    if s.save_before_job and bpy.data.filepath:
        bpy.ops.wm.save_mainfile()
    if not bpy.data.filepath:
        op.report({"ERROR"}, "Save the file first: the farm renders the saved .blend")
        return None
    if bpy.data.is_dirty:
        op.report({"WARNING"}, "Unsaved changes are not sent: the farm renders the last saved file")
    return Path(bpy.data.filepath)


def _send(op: bpy.types.Operator, context: Any, frames: list[int], then: Callable[[], None] | None = None) -> None:
    blend = _saved_blend(op, context)
    if blend is None:
        return
    scene = context.scene
    try:
        options = props.job_options(scene, frames)
        versioned = props.repository(scene, blend)
    except NetrenderError as exc:
        op.report({"ERROR"}, str(exc))
        return
    s = props.settings(scene)
    s.missing = ""

    def done(sent: Any) -> str:
        s = props.settings(scene)
        s.job_id = int(sent.job["id"])
        s.missing = "\n".join(str(path) for path in sent.missing)
        if then is not None:
            then()
        lacking = f"; {len(sent.missing)} missing file(s), see the Job panel" if sent.missing else ""
        return (f"job {sent.job['id']} sent: {len(frames)} frame(s), "
                f"{sent.uploaded_files} file(s) uploaded ({sent.uploaded_bytes} bytes){lacking}")

    if versioned is not None:
        start(context, "Sending the job", lambda client: client.submit_versioned(blend, versioned, options), done)
    else:
        start(context, "Sending the job", lambda client: client.submit(blend, options), done)
    if s.missing:  # known at once where the work ran to its end in place (background mode)
        op.report({"WARNING"}, f"the file names {len(s.missing.splitlines())} file(s) that do not exist: "
                               + ", ".join(s.missing.splitlines()[:5]))


class NETRENDER_OT_send_job(_NetClientOperator):
    """Send the saved file as a job to the master; it becomes the current job"""

    bl_idname = "render.netclientsend"
    bl_label = "Send job"

    def execute(self, context: Any) -> set[str]:
        _send(self, context, props.animation_frames(context.scene))
        return {"FINISHED"}


class NETRENDER_OT_send_frame(_NetClientOperator):
    """Send the saved file as a job rendering the current frame only"""

    bl_idname = "render.netclientsendframe"
    bl_label = "Send current frame job"

    def execute(self, context: Any) -> set[str]:
        _send(self, context, [context.scene.frame_current])
        return {"FINISHED"}


class NETRENDER_OT_anim(_NetClientOperator):
    """Send the file as a job, then render the animation as its frames arrive"""

    bl_idname = "render.netclientanim"
    bl_label = "Animation on network"

    def execute(self, context: Any) -> set[str]:
        def render() -> None:
            if bpy.app.background:
                bpy.ops.render.render(animation=True)
            else:
                window = bpy.context.window_manager.windows[0]
                with bpy.context.temp_override(window=window):
                    bpy.ops.render.render("INVOKE_DEFAULT", animation=True)

        _send(self, context, props.animation_frames(context.scene), then=render)
        return {"FINISHED"}


class NETRENDER_OT_refresh_jobs(_NetClientOperator):
    """Refresh the jobs list from the master"""

    bl_idname = "render.netclientstatus"
    bl_label = "Refresh jobs"

    def execute(self, context: Any) -> set[str]:
        scene = context.scene

        start(context, "Refreshing jobs", lambda client: client.jobs(),
              lambda jobs: f"{_fill_jobs(scene, jobs)} job(s) on the master")
        return {"FINISHED"}


def _fill_jobs(scene: Any, jobs: list[dict[str, Any]]) -> int:
    items = props.settings(scene).jobs
    items.clear()
    for job in jobs:
        item = items.add()
        item.name, item.job_id, item.status = job["name"], job["id"], job["status"]
        item.done, item.total = job["frame_count"]["done"], job["frame_count"]["total"]
    return len(jobs)


def _fill_slaves(scene: Any, slaves: list[dict[str, Any]]) -> str:
    s = props.settings(scene)
    s.slaves.clear()
    s.slaves_blacklist.clear()
    for slave in slaves:
        item = (s.slaves_blacklist if slave["blacklisted"] else s.slaves).add()
        item.name, item.slave_id, item.address = slave["name"], slave["id"], slave["address"]
        item.state = slave["state"]
        facts = slave.get("facts") or {}
        item.stats = f"{facts.get('os', '')}, {facts.get('cores', '?')} cores"
    return f"{len(s.slaves)} slave(s), {len(s.slaves_blacklist)} blacklisted"


class NETRENDER_OT_refresh_slaves(_NetClientOperator):
    """Refresh the slaves and the blacklist from the master"""

    bl_idname = "render.netclientslaves"
    bl_label = "Refresh slaves"

    def execute(self, context: Any) -> set[str]:
        scene = context.scene
        start(context, "Refreshing slaves", lambda client: client.conn.get("/api/slaves")["slaves"],
              lambda slaves: _fill_slaves(scene, slaves))
        return {"FINISHED"}


def _set_blacklisted(op: bpy.types.Operator, context: Any, listed: Any, index: int, blacklisted: bool) -> None:
    if not 0 <= index < len(listed):
        op.report({"WARNING"}, "Select a slave first")
        return
    slave_id = listed[index].slave_id
    scene = context.scene
    method = "PUT" if blacklisted else "DELETE"

    def work(client: Client) -> list[dict[str, Any]]:
        client.conn.request(method, f"/api/slaves/{slave_id}/blacklist")
        return client.conn.get("/api/slaves")["slaves"]

    start(context, "Updating the blacklist", work, lambda slaves: _fill_slaves(scene, slaves))


class NETRENDER_OT_blacklist_slave(_NetClientOperator):
    """Move the selected slave to the blacklist: it gets no more work"""

    bl_idname = "render.netclientblacklistslave"
    bl_label = "Blacklist slave"

    def execute(self, context: Any) -> set[str]:
        s = props.settings(context.scene)
        _set_blacklisted(self, context, s.slaves, s.active_slave_index, True)
        return {"FINISHED"}


class NETRENDER_OT_whitelist_slave(_NetClientOperator):
    """Take the selected slave off the blacklist"""

    bl_idname = "render.netclientwhitelistslave"
    bl_label = "Remove from blacklist"

    def execute(self, context: Any) -> set[str]:
        s = props.settings(context.scene)
        _set_blacklisted(self, context, s.slaves_blacklist, s.active_blacklisted_slave_index, False)
        return {"FINISHED"}


class NETRENDER_OT_switch_slave(_NetClientOperator):
    """Switch the selected slave off for the selected job, or on again: switched off, it renders the other jobs"""

    bl_idname = "render.netclientswitchslave"
    bl_label = "Switch off/on for the job"

    def execute(self, context: Any) -> set[str]:
        s = props.settings(context.scene)
        job_id = _selected_job(self, context)
        if job_id is None:
            return {"CANCELLED"}
        if not 0 <= s.active_slave_index < len(s.slaves):
            self.report({"WARNING"}, "Select a slave first")
            return {"CANCELLED"}
        slave = s.slaves[s.active_slave_index]
        slave_id, name = slave.slave_id, slave.name

        def work(client: Client) -> bool:
            off = slave_id in client.job(job_id).get("switched_off", [])
            client.conn.request("DELETE" if off else "PUT", f"/api/jobs/{job_id}/switched-off/{slave_id}")
            return not off

        start(context, "Switching the slave", work,
              lambda off: f"{name} is switched {'off' if off else 'on'} for job {job_id}")
        return {"FINISHED"}


def _selected_job(op: bpy.types.Operator, context: Any) -> int | None:
    s = props.settings(context.scene)
    if not 0 <= s.active_job_index < len(s.jobs):
        op.report({"WARNING"}, "Select a job first")
        return None
    return int(s.jobs[s.active_job_index].job_id)


def _remove_jobs(context: Any, job_ids: list[int]) -> None:
    scene = context.scene

    def work(client: Client) -> list[dict[str, Any]]:
        for job_id in job_ids:
            client.conn.request("DELETE", f"/api/jobs/{job_id}", params={"delete_files": "true"})
        return client.jobs()

    def done(jobs: list[dict[str, Any]]) -> str:
        s = props.settings(scene)
        if s.job_id in job_ids:
            s.job_id = 0
        _fill_jobs(scene, jobs)
        return f"removed {len(job_ids)} job(s)"

    start(context, "Removing jobs", work, done)


class NETRENDER_OT_remove_job(_NetClientOperator):
    """Remove the selected job from the master, with its files"""

    bl_idname = "render.netclientcancel"
    bl_label = "Remove job"

    def execute(self, context: Any) -> set[str]:
        job_id = _selected_job(self, context)
        if job_id is None:
            return {"CANCELLED"}
        _remove_jobs(context, [job_id])
        return {"FINISHED"}


class NETRENDER_OT_remove_all_jobs(_NetClientOperator):
    """Remove every job from the master, with their files"""

    bl_idname = "render.netclientcancelall"
    bl_label = "Remove all jobs"

    def execute(self, context: Any) -> set[str]:
        _remove_jobs(context, [job.job_id for job in props.settings(context.scene).jobs])
        return {"FINISHED"}


class NETRENDER_OT_get_results(_NetClientOperator):
    """Download the finished frames of the selected job, as multilayer EXR, into the output folder"""

    bl_idname = "render.netclientdownload"
    bl_label = "Get results"

    def execute(self, context: Any) -> set[str]:
        job_id = _selected_job(self, context)
        if job_id is None:
            return {"CANCELLED"}
        folder = Path(bpy.path.abspath(context.scene.render.filepath))
        folder = folder if context.scene.render.filepath.endswith(("/", "\\")) else folder.parent
        start(context, "Downloading results", lambda client: client.download(job_id, folder),
              lambda saved: f"{len(saved)} frame(s) of job {job_id} saved in {folder}")
        return {"FINISHED"}


class NETRENDER_OT_scan(_NetClientOperator):
    """Find the master on the network (its broadcast or zeroconf) and fill in its address and port"""

    bl_idname = "render.netclientscan"
    bl_label = "Refresh"

    def execute(self, context: Any) -> set[str]:
        s = props.settings(context.scene)
        https_only = props.access(s).tls

        def found(url: str) -> str:
            parts = urlsplit(url)
            s.server_address, s.server_port = parts.hostname or s.server_address, parts.port or s.server_port
            return f"master found at {url}"

        start(context, "Looking for the master", lambda client: find_master(https_only=https_only), found)
        return {"FINISHED"}


class NETRENDER_OT_web(_NetClientOperator):
    """Open the master's web monitor in a browser"""

    bl_idname = "render.netclientweb"
    bl_label = "Open Master Monitor"

    def execute(self, context: Any) -> set[str]:
        webbrowser.open(props.url(props.settings(context.scene)) + "/")
        return {"FINISHED"}


class NETRENDER_OT_start_service(_NetClientOperator):
    """Start the master or the slave; it runs until Esc"""

    bl_idname = "render.netservicestart"
    bl_label = "Start Service"

    def execute(self, context: Any) -> set[str]:
        if bpy.app.background:
            bpy.ops.render.render()
        else:
            bpy.ops.render.render("INVOKE_DEFAULT")
        return {"FINISHED"}


CLASSES = (
    NETRENDER_OT_send_job, NETRENDER_OT_send_frame, NETRENDER_OT_anim,
    NETRENDER_OT_refresh_jobs, NETRENDER_OT_refresh_slaves, NETRENDER_OT_blacklist_slave,
    NETRENDER_OT_whitelist_slave, NETRENDER_OT_switch_slave, NETRENDER_OT_remove_job, NETRENDER_OT_remove_all_jobs,
    NETRENDER_OT_get_results, NETRENDER_OT_scan, NETRENDER_OT_web, NETRENDER_OT_start_service,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    if bpy.app.timers.is_registered(_pump):
        bpy.app.timers.unregister(_pump)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
