# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on's other two job types, as the original had them: *Bake on network* and version-controlled jobs.

*Bake on network* lists the scene's point caches with this Blender (run on
the saved file, off the main thread), sends a bake job, waits for it, and
puts the baked caches beside the file marked baked (:mod:`netrender.pack.caches`);
the open file is then reloaded so it shows them. *Refresh* fills the Version
Control settings from the working copy the file is in; with a system chosen,
*Send job* names the repository instead of uploading.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import bpy

from ..client import Client, JobOptions, Submission
from ..common.errors import NetrenderError
from ..pack import caches, vcs
from . import props
from .operators import _NetClientOperator, _saved_blend, start


class NETRENDER_OT_vcs_refresh(_NetClientOperator):
    """Fill the Version Control settings from the repository the saved file is in"""

    bl_idname = "render.netclientvcsguess"
    bl_label = "Refresh"

    def execute(self, context: Any) -> set[str]:
        if not bpy.data.filepath:
            self.report({"ERROR"}, "Save the file first: its folder says which repository it is in")
            return {"CANCELLED"}
        s = props.settings(context.scene)
        wanted = {"NONE": "auto", "GIT": "git", "SVN": "svn"}[s.vcs_system]
        try:  # git and svn read the working copy here: nothing goes over the network
            found = vcs.detect(Path(bpy.data.filepath), wanted)
        except NetrenderError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        s.vcs_system, s.vcs_rpath, s.vcs_revision = found.system.upper(), found.remote, found.revision
        path = Path(os.path.abspath(bpy.data.filepath))
        s.vcs_wpath = str(path.parents[len(Path(found.path).parts) - 1])
        if found.changed:
            self.report({"WARNING"}, f"{len(found.changed)} file(s) changed here are not committed: the farm "
                                     f"renders {found.revision} without those changes")
        s.status = f"{found.system} {found.revision} of {found.path}"
        return {"FINISHED"}


class NETRENDER_OT_bake(_NetClientOperator):
    """Bake the scene's point caches on the farm, one cache a slave, then use them in this file"""

    bl_idname = "render.netclientbake"
    bl_label = "Bake on network"

    def execute(self, context: Any) -> set[str]:
        blend = _saved_blend(self, context)
        if blend is None:
            return {"CANCELLED"}
        try:
            base = props.job_options(context.scene, [])
        except NetrenderError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        blender = bpy.app.binary_path or "blender"
        s = props.settings(context.scene)

        def bake(client: Client) -> tuple[Submission, int, list[str]]:
            found = caches.find(blend, blender)
            if not found.bakeable:
                raise NetrenderError("the scene has no point cache the farm can bake (cloth, soft body, "
                                     "particles, dynamic paint)")
            options = JobOptions(frames=[], caches=found.bakeable, name=f"{base.name or blend.stem} (bake)",
                                 category=base.category, tags=base.tags, priority=base.priority)
            sent = client.submit(blend, options)
            final = client.wait(sent.job["id"])
            if final["status"] != "finished":
                failed = [t["message"] for t in final["frames"] if t["status"] == "error"]
                raise NetrenderError(f"bake job {sent.job['id']} {final['status']}"
                                     + (f": {failed[0]}" if failed else ""))
            with tempfile.TemporaryDirectory(prefix="netrender-bake-") as tmp:
                caches.install(blend, client.fetch_bakes(sent.job["id"], Path(tmp)), blender)
            return sent, len(found.bakeable), [f"{o}/{c}: {why}" for o, c, why in found.unbakeable]

        def done(result: tuple[Submission, int, list[str]]) -> str:
            sent, count, skipped = result
            props.settings(bpy.context.scene).job_id = int(sent.job["id"])
            if not bpy.app.background:  # reload the file, now with the caches, once this callback is over
                bpy.app.timers.register(_reload, first_interval=0.1)
            also = f"; not baked: {'; '.join(skipped)}" if skipped else ""
            return f"bake job {sent.job['id']}: {count} cache(s) baked on the farm, now on disk beside the file{also}"

        s.job_id = 0
        start(context, "Baking on the farm", bake, done)
        return {"FINISHED"}


def _reload() -> None:
    """The saved file again, with its baked caches; not if the artist changed it meanwhile (it says so)."""
    if bpy.data.is_dirty:
        print("netrender: the caches baked on the farm are in the saved file; reopen it to use them")
        return None
    bpy.ops.wm.revert_mainfile()
    return None


CLASSES = (NETRENDER_OT_vcs_refresh, NETRENDER_OT_bake)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
