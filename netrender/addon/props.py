# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on's settings: ``scene.network_render``, as the netrender manual lists them.

Also the lists the client panels show (slaves, blacklist, jobs), filled from the
master by the refresh operators, and the small functions that turn these
settings into the core's plain configurations.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..client import JobOptions
from ..common import tiling
from ..common.connection import Access, master_url
from ..common.errors import InvalidConfig, NetrenderError
from ..common.pathmap import PathMap
from ..common.token import token_from
from ..master import MasterConfig
from ..node.config import SlaveConfig
from ..pack.vcs import Repository

ENGINES = [
    ("CYCLES", "Cycles", "Render the job with Cycles"),
    ("BLENDER_EEVEE", "Eevee", "Render the job with Eevee"),
    ("BLENDER_WORKBENCH", "Workbench", "Render the job with Workbench"),
]


class NetRenderSlaveItem(bpy.types.PropertyGroup):
    slave_id: StringProperty()  # type: ignore[valid-type]
    address: StringProperty()  # type: ignore[valid-type]
    state: StringProperty()  # type: ignore[valid-type]
    stats: StringProperty()  # type: ignore[valid-type]


class NetRenderJobItem(bpy.types.PropertyGroup):
    job_id: IntProperty()  # type: ignore[valid-type]
    status: StringProperty()  # type: ignore[valid-type]
    done: IntProperty()  # type: ignore[valid-type]
    total: IntProperty()  # type: ignore[valid-type]


class NetRenderSettings(bpy.types.PropertyGroup):
    mode: EnumProperty(  # type: ignore[valid-type]
        name="Mode", default="CLIENT",
        items=[("CLIENT", "Client", "Send jobs to a master and get their frames back"),
               ("MASTER", "Master", "Run the master: keep the queue, hand out frames"),
               ("SLAVE", "Slave", "Render frames the master hands out")],
    )
    # Network settings (all modes)
    path: StringProperty(  # type: ignore[valid-type]
        name="Path", subtype="DIR_PATH", default=tempfile.gettempdir(),
        description="Where the master keeps jobs, the slave its files, the client its downloads",
    )
    server_address: StringProperty(  # type: ignore[valid-type]
        name="Server Address", default="[default]",
        description="Master's address; [default]: listen on all interfaces (master) or find the master",
    )
    server_port: IntProperty(name="Port", default=8000, min=1, max=65535)  # type: ignore[valid-type]
    use_ssl: BoolProperty(name="SSL", description="Use HTTPS")  # type: ignore[valid-type]
    cert_path: StringProperty(  # type: ignore[valid-type]
        name="Certificate", subtype="FILE_PATH",
        description="Master: its PEM certificate (chain after it). Slave and client: the CA or self-signed "
                    "certificate to trust (empty: the system's CAs)",
    )
    key_path: StringProperty(  # type: ignore[valid-type]
        name="Key", subtype="FILE_PATH", description="Master: the certificate's private key, if not in its file",
    )
    token_file: StringProperty(  # type: ignore[valid-type]
        name="Token File", subtype="FILE_PATH",
        description="A file holding the farm token, the same on master, slaves and clients "
                    "(empty: NETRENDER_TOKEN from the environment, if set)",
    )
    # Master settings
    use_broadcast: BoolProperty(  # type: ignore[valid-type]
        name="Broadcast", default=True, description="Announce the master on the local network",
    )
    force_upload: BoolProperty(  # type: ignore[valid-type]
        name="Force Dependency Upload",
        description="Have clients upload every file, even those the master could copy from the shared storage",
    )
    storage_root: StringProperty(  # type: ignore[valid-type]
        name="Shared Storage", subtype="DIR_PATH",
        description="A folder on storage the clients and slaves share: files there are copied, not uploaded, "
                    "and jobs may render there in place (empty: nothing is shared)",
    )
    path_map: StringProperty(  # type: ignore[valid-type]
        name="Path Map",
        description="Where clients' shared paths are on this machine: CLIENT=LOCAL pairs separated by ';', "
                    "e.g. P:\\projects=/mnt/projects",
    )
    master_clear: BoolProperty(  # type: ignore[valid-type]
        name="Clear on exit", description="Delete the master's folder when it stops (no resuming)",
    )
    # Slave settings
    slave_tags: StringProperty(name="Tags", description="Semicolon-separated tags of this slave")  # type: ignore[valid-type]
    slave_clear: BoolProperty(  # type: ignore[valid-type]
        name="Clear on exit", default=True, description="Delete the slave's folder when it stops",
    )
    slave_thumb: BoolProperty(  # type: ignore[valid-type]
        name="Generate thumbnails", description="Make frame previews on the slave (else the master makes them)",
    )
    slave_persistent: BoolProperty(  # type: ignore[valid-type]
        name="Keep Blender Open", default=True,
        description="Load each job's file once and render its frames in one Blender (off: a Blender per chunk)",
    )
    slave_on_stop: EnumProperty(  # type: ignore[valid-type]
        name="On Stop", default="requeue",
        items=[("requeue", "Requeue", "Stopping kills the render and gives its frames back to the master"),
               ("finish", "Finish", "Stopping lets the chunk finish and be delivered first")],
    )
    slave_outputlog: BoolProperty(  # type: ignore[valid-type]
        name="Output render log on console", description="Also print Blender's render output",
    )
    slave_threads: IntProperty(  # type: ignore[valid-type]
        name="Threads", default=0, min=0, max=1024, description="Render threads; 0: every core",
    )
    # Job settings (client)
    job_name: StringProperty(name="Name", default="[default]")  # type: ignore[valid-type]
    job_category: StringProperty(name="Category")  # type: ignore[valid-type]
    job_tags: StringProperty(name="Tags", description="Semicolon-separated tags a slave must have")  # type: ignore[valid-type]
    job_render_engine: EnumProperty(name="Engine", items=ENGINES, default="CYCLES")  # type: ignore[valid-type]
    priority: IntProperty(name="Priority", default=1, min=1, max=10)  # type: ignore[valid-type]
    chunks: IntProperty(name="Chunks", default=5, min=1, max=1000)  # type: ignore[valid-type]
    job_tiles: IntProperty(  # type: ignore[valid-type]
        name="Tiles", default=0, min=0, max=4096,
        description="Cut each frame into about this many tiles, each rendered by whichever slave is free, "
                    "and stitch them (for stills on a few machines); 0: whole frames",
    )
    save_before_job: BoolProperty(name="Save Before Job", default=True)  # type: ignore[valid-type]
    job_strict: BoolProperty(  # type: ignore[valid-type]
        name="Refuse Missing Files",
        description="Do not send the job if the file names images, libraries or caches that do not exist "
                    "(off: it renders without them, as here, and they are listed)",
    )
    job_shared: BoolProperty(  # type: ignore[valid-type]
        name="Render In Place",
        description="The farm shares this file's storage: slaves read the files where they are, nothing is "
                    "uploaded (the master needs the storage as its Shared Storage)",
    )
    vcs_system: EnumProperty(  # type: ignore[valid-type]
        name="Version Control",
        description="The slaves check the file out of its repository instead of receiving uploads",
        items=[("NONE", "None", "Send the file and its dependencies"),
               ("GIT", "Git", "Check out a commit of a Git repository"),
               ("SVN", "Subversion", "Check out a revision of a Subversion repository")],
        default="NONE",
    )
    vcs_revision: StringProperty(  # type: ignore[valid-type]
        name="Revision", description="Which version: the commit (Git) or the revision number (Subversion)",
    )
    vcs_rpath: StringProperty(  # type: ignore[valid-type]
        name="Remote Path",
        description="Where the slaves check out from: the repository's URL or path (Git: the remote; "
                    "Subversion: the server URL of the working copy's root)",
    )
    vcs_wpath: StringProperty(  # type: ignore[valid-type]
        name="Working Copy", subtype="DIR_PATH",
        description="The working copy's root folder here: the file's path in the repository is taken from it",
    )
    job_shared_output: StringProperty(  # type: ignore[valid-type]
        name="Shared Output", subtype="DIR_PATH",
        description="A folder on the shared storage where the slaves write each finished frame too (optional)",
    )
    persistent: BoolProperty(  # type: ignore[valid-type]
        name="Keep Blender Open", default=True,
        description="Slaves load the file once and render frame after frame in one Blender; "
                    "off: a new Blender for every chunk",
    )
    persistent_data: BoolProperty(  # type: ignore[valid-type]
        name="Persistent Data", default=False,
        description="Cycles keeps scene data between frames in the open Blender (faster for heavy scenes)",
    )
    job_id: IntProperty(name="Job", default=0, description="The current job on the master")  # type: ignore[valid-type]
    # Lists shown by the client panels
    slaves: CollectionProperty(type=NetRenderSlaveItem)  # type: ignore[valid-type]
    active_slave_index: IntProperty()  # type: ignore[valid-type]
    slaves_blacklist: CollectionProperty(type=NetRenderSlaveItem)  # type: ignore[valid-type]
    active_blacklisted_slave_index: IntProperty()  # type: ignore[valid-type]
    jobs: CollectionProperty(type=NetRenderJobItem)  # type: ignore[valid-type]
    active_job_index: IntProperty()  # type: ignore[valid-type]
    # What the last network action said, shown in the panel
    status: StringProperty(name="Status")  # type: ignore[valid-type]
    missing: StringProperty(  # type: ignore[valid-type]
        name="Missing Files", description="The files the last job's .blend names but that do not exist, one a line",
    )


def settings(scene: Any) -> NetRenderSettings:
    return scene.network_render


def url(s: NetRenderSettings) -> str:
    """The master's URL from the address and port (``[default]``: this machine, until discovery)."""
    host = "localhost" if s.server_address in ("", "[default]") else s.server_address
    scheme = "https" if s.use_ssl else "http"
    return master_url(f"{scheme}://{host}:{s.server_port}")


def _file(text: str) -> Path | None:
    return Path(bpy.path.abspath(text)) if text else None


def master_config(s: NetRenderSettings) -> MasterConfig:
    if s.use_ssl and not s.cert_path:
        raise InvalidConfig("SSL is on: set the master's certificate (and key)")
    return MasterConfig(path=Path(bpy.path.abspath(s.path)), address=s.server_address,
                        port=s.server_port, clear_on_exit=s.master_clear,
                        cert=_file(s.cert_path) if s.use_ssl else None, key=_file(s.key_path) if s.use_ssl else None,
                        token=token_from(_file(s.token_file)),
                        announce=s.use_broadcast, zeroconf=s.use_broadcast,
                        storage_roots=(Path(bpy.path.abspath(s.storage_root)),) if s.storage_root else (),
                        path_map=path_map(s), force_upload=s.force_upload)


def path_map(s: NetRenderSettings) -> PathMap:
    return PathMap.parse([pair for pair in s.path_map.split(";") if pair.strip()])


def access(s: NetRenderSettings) -> Access:
    """The token and the certificate a slave or client trusts (with SSL on), from the settings."""
    return Access(token=token_from(_file(s.token_file)), ca_file=_file(s.cert_path) if s.use_ssl else None)


def slave_config(s: NetRenderSettings) -> SlaveConfig:
    return SlaveConfig(
        master=url(s), access=access(s), path=Path(bpy.path.abspath(s.path)), threads=s.slave_threads,
        tags=split_tags(s.slave_tags), blender=bpy.app.binary_path or "blender",
        console_log=s.slave_outputlog, clear_on_exit=s.slave_clear, thumbnails=s.slave_thumb,
        persistent=s.slave_persistent, on_stop=s.slave_on_stop, path_map=path_map(s),
    )


def job_options(scene: Any, frames: list[int]) -> JobOptions:
    """The job the scene's settings describe, as plain data for the core client."""
    s = settings(scene)
    if s.job_tiles and getattr(getattr(scene, "cycles", None), "use_guiding", False):
        raise NetrenderError(tiling.GUIDING)
    name = "" if s.job_name in ("", "[default]") else s.job_name
    return JobOptions(frames=frames, name=name, category=s.job_category, tags=split_tags(s.job_tags),
                      priority=s.priority, chunks=s.chunks, engine=s.job_render_engine,
                      persistent=s.persistent, persistent_data=s.persistent_data, strict=s.job_strict,
                      shared=s.job_shared, tiles=s.job_tiles,
                      output_dir=bpy.path.abspath(s.job_shared_output).rstrip("/\\") if s.job_shared_output else "")


def repository(scene: Any, blend: Path) -> Repository | None:
    """The repository the Version Control settings name, or ``None`` when the job uploads its files."""
    s = settings(scene)
    if s.vcs_system == "NONE":
        return None
    if not (s.vcs_rpath and s.vcs_revision and s.vcs_wpath):
        raise NetrenderError("Version Control needs a Remote Path, a Revision and a Working Copy (Refresh fills "
                             "them)")
    root = Path(bpy.path.abspath(s.vcs_wpath))
    try:
        path = Path(os.path.abspath(blend)).relative_to(Path(os.path.abspath(root))).as_posix()
    except ValueError:
        raise NetrenderError(f"{blend} is not inside the Working Copy {root}") from None
    return Repository(s.vcs_system.lower(), s.vcs_rpath, s.vcs_revision, path)


def animation_frames(scene: Any) -> list[int]:
    return list(range(scene.frame_start, scene.frame_end + 1, max(scene.frame_step, 1)))


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(";") if t.strip())


CLASSES = (NetRenderSlaveItem, NetRenderJobItem, NetRenderSettings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.network_render = PointerProperty(type=NetRenderSettings)


def unregister() -> None:
    del bpy.types.Scene.network_render
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
