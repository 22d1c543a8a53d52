# SPDX-License-Identifier: GPL-3.0-or-later
"""The Network Render panels in the Render properties, laid out as in the netrender manual."""

from __future__ import annotations

from typing import Any

import bpy

from . import props


class _NetRenderPanel(bpy.types.Panel):
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    COMPAT_ENGINES = {"NET_RENDER"}
    modes: tuple[str, ...] = ("CLIENT", "MASTER", "SLAVE")

    @classmethod
    def poll(cls, context: Any) -> bool:
        return bool(context.scene.render.engine == "NET_RENDER"
                    and props.settings(context.scene).mode in cls.modes)


class NETRENDER_PT_network(_NetRenderPanel):
    bl_label = "Network Settings"

    def draw(self, context: Any) -> None:
        layout = self.layout
        s = props.settings(context.scene)
        layout.row().prop(s, "mode", expand=True)
        if s.mode in ("MASTER", "SLAVE"):
            layout.operator("render.netservicestart", icon="PLAY")
        col = layout.column()
        col.prop(s, "path")
        col.prop(s, "server_address")
        col.prop(s, "server_port")
        col.prop(s, "use_ssl")
        if s.use_ssl:
            # The master serves this certificate; slaves and clients trust it (or its CA).
            col.prop(s, "cert_path")
            if s.mode == "MASTER":
                col.prop(s, "key_path")
        col.prop(s, "token_file")
        if s.mode in ("SLAVE", "CLIENT"):
            col.operator("render.netclientscan", icon="FILE_REFRESH")
        col.operator("render.netclientweb", icon="URL")
        if s.status:
            layout.label(text=s.status, icon="INFO")


class NETRENDER_PT_master_settings(_NetRenderPanel):
    bl_label = "Master Settings"
    modes = ("MASTER",)

    def draw(self, context: Any) -> None:
        s = props.settings(context.scene)
        col = self.layout.column()
        col.prop(s, "use_broadcast")
        col.prop(s, "force_upload")
        col.prop(s, "master_clear")
        col.prop(s, "storage_root")
        col.prop(s, "path_map")


class NETRENDER_PT_slave_settings(_NetRenderPanel):
    bl_label = "Slave Settings"
    modes = ("SLAVE",)

    def draw(self, context: Any) -> None:
        s = props.settings(context.scene)
        col = self.layout.column()
        col.prop(s, "slave_tags")
        col.prop(s, "slave_clear")
        col.prop(s, "slave_thumb")
        col.prop(s, "slave_persistent")
        col.prop(s, "slave_on_stop")
        col.prop(s, "slave_outputlog")
        col.prop(s, "slave_threads")
        col.prop(s, "path_map")


class NETRENDER_PT_job(_NetRenderPanel):
    bl_label = "Job Settings"
    modes = ("CLIENT",)

    def draw(self, context: Any) -> None:
        layout = self.layout
        s = props.settings(context.scene)
        layout.operator("render.netclientanim", icon="RENDER_ANIMATION")
        row = layout.row(align=True)
        row.operator("render.netclientsend", icon="FILE_BLEND")
        row.operator("render.netclientsendframe", icon="RENDER_STILL")
        layout.operator("render.netclientbake", icon="PHYSICS")
        col = layout.column()
        col.prop(s, "job_name")
        col.prop(s, "job_category")
        col.prop(s, "job_tags")
        col.prop(s, "job_render_engine")
        col.prop(s, "priority")
        col.prop(s, "chunks")
        col.prop(s, "job_tiles")
        col.prop(s, "persistent")
        sub = col.column()
        sub.active = s.persistent
        sub.prop(s, "persistent_data")
        col.prop(s, "save_before_job")
        col.prop(s, "job_strict")
        box = layout.box()
        row = box.row(align=True)
        row.prop(s, "vcs_system")
        row.operator("render.netclientvcsguess", icon="FILE_REFRESH")
        if s.vcs_system != "NONE":
            box.prop(s, "vcs_revision")
            box.prop(s, "vcs_rpath")
            box.prop(s, "vcs_wpath")
        col = layout.column()
        col.prop(s, "job_shared")
        sub = col.column()
        sub.active = s.job_shared
        sub.prop(s, "job_shared_output")
        if s.job_id:
            col.label(text=f"Current job: {s.job_id}")
        if s.missing:
            box = layout.box()
            paths = s.missing.splitlines()
            box.label(text=f"{len(paths)} missing file(s): the job renders without them", icon="ERROR")
            for path in paths[:10]:
                box.label(text=path)
            if len(paths) > 10:
                box.label(text=f"… and {len(paths) - 10} more")


class NETRENDER_UL_slaves(bpy.types.UIList):
    def draw_item(self, context: Any, layout: Any, data: Any, item: Any, icon: int, active_data: Any,
                  active_property: str, index: int = 0, flt_flag: int = 0) -> None:
        layout.label(text=item.name, icon="DESKTOP")
        layout.label(text=f"{item.address} {item.state}")


class NETRENDER_UL_jobs(bpy.types.UIList):
    def draw_item(self, context: Any, layout: Any, data: Any, item: Any, icon: int, active_data: Any,
                  active_property: str, index: int = 0, flt_flag: int = 0) -> None:
        layout.label(text=f"{item.job_id}: {item.name}", icon="FILE_BLEND")
        layout.label(text=f"{item.status} {item.done}/{item.total}")


def _list(layout: Any, s: Any, ui_list: str, items: str, index: str, operators: list[tuple[str, str]]) -> None:
    row = layout.row()
    row.template_list(ui_list, items, s, items, s, index, rows=3)
    col = row.column(align=True)
    for operator, icon in operators:
        col.operator(operator, icon=icon, text="")


class NETRENDER_PT_slaves(_NetRenderPanel):
    bl_label = "Slaves Status"
    modes = ("CLIENT",)

    def draw(self, context: Any) -> None:
        s = props.settings(context.scene)
        _list(self.layout, s, "NETRENDER_UL_slaves", "slaves", "active_slave_index",
              [("render.netclientslaves", "FILE_REFRESH"), ("render.netclientblacklistslave", "REMOVE"),
               ("render.netclientswitchslave", "HIDE_ON")])


class NETRENDER_PT_slaves_blacklist(_NetRenderPanel):
    bl_label = "Slaves Blacklist"
    modes = ("CLIENT",)

    def draw(self, context: Any) -> None:
        s = props.settings(context.scene)
        _list(self.layout, s, "NETRENDER_UL_slaves", "slaves_blacklist", "active_blacklisted_slave_index",
              [("render.netclientwhitelistslave", "REMOVE")])


class NETRENDER_PT_jobs(_NetRenderPanel):
    bl_label = "Jobs"
    modes = ("CLIENT",)

    def draw(self, context: Any) -> None:
        s = props.settings(context.scene)
        _list(self.layout, s, "NETRENDER_UL_jobs", "jobs", "active_job_index",
              [("render.netclientstatus", "FILE_REFRESH"), ("render.netclientcancel", "REMOVE"),
               ("render.netclientcancelall", "PANEL_CLOSE"), ("render.netclientdownload", "RENDER_ANIMATION")])


CLASSES = (
    NETRENDER_UL_slaves, NETRENDER_UL_jobs, NETRENDER_PT_network, NETRENDER_PT_master_settings,
    NETRENDER_PT_slave_settings, NETRENDER_PT_job, NETRENDER_PT_slaves, NETRENDER_PT_slaves_blacklist,
    NETRENDER_PT_jobs,
)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
