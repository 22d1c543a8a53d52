# SPDX-License-Identifier: GPL-3.0-or-later
"""Projects whose pixels come from caches: point caches, fluids, Alembic, mesh caches, OpenVDB, Multires.

Each builder takes an empty folder (the project's root), runs a scene script
from ``scenes/`` that lays the project out as a studio would
(``shots/sh010/shot.blend``, with ``caches/`` or ``assets/`` beside ``shots/``
where Blender lets the cache sit elsewhere), bakes what must be baked, and
returns the :class:`Project`. ``needed`` lists the cache files or folders: every
project is made so that its cache is the only source of its look (why, for
each kind, is in its script's docstring), so rendering without them differs.

Each script saves the shot at the frame it renders (a frame its cache holds)
and prints it; the project renders that frame. The Alembic kinds need the bpy
4.5 module, Debian's Blender being built without Alembic.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import SCENES, Builder, Project, run_blender_script

SHOT = Path("shots", "sh010", "shot.blend")


def _build(kind: str, root: Path, needed: list[str], script: str, *args: object, blender: str = "blender") -> Project:
    """Run ``scenes/<script>`` on ``root``; the project renders the frame the script reports."""
    output = run_blender_script(SCENES / script, root, *args, which=blender)
    frames = [int(f) for f in re.findall(r"^caches: render frame (\d+)$", output, re.MULTILINE)]
    if len(frames) != 1:
        raise AssertionError(f"{script} reported the frames {frames}, not one:\n{output[-4000:]}")
    return Project(kind, root, root / SHOT, frames, needed=[root / path for path in needed], blender=blender)


def pointcache_particles(root: Path) -> Project:
    """Particles drawn as little spheres, baked to ``blendcache_shot/`` beside the shot; frame 5."""
    return _build("pointcache_particles", root, ["shots/sh010/blendcache_shot"], "caches_pointcache.py", "particles")


def pointcache_cloth(root: Path) -> Project:
    """A cloth sheet draped over a ball, baked to ``blendcache_shot/``; frame 16, the last baked."""
    return _build("pointcache_cloth", root, ["shots/sh010/blendcache_shot"], "caches_pointcache.py", "cloth")


def fluid_uni(root: Path) -> Project:
    """Smoke baked in Mantaflow's .uni format into ``//cache_smoke/``, beside the shot; frame 10."""
    return _build("fluid_uni", root, ["shots/sh010/cache_smoke"], "caches_fluid.py", "UNI", "//cache_smoke/")


def fluid_openvdb(root: Path) -> Project:
    """Smoke baked to OpenVDB into the project's ``//../../caches/smoke/``, outside the shot; frame 10."""
    return _build("fluid_openvdb", root, ["caches/smoke"], "caches_fluid.py", "OPENVDB", "//../../caches/smoke/")


def alembic_single(root: Path) -> Project:
    """A column twisted by one .abc file, ``caches/abc/column.abc`` (bpy 4.5); frame 5."""
    abc = "caches/abc/column.abc"
    return _build("alembic_single", root, [abc], "caches_alembic.py", "single", abc, blender="bpy")


def alembic_sequence(root: Path) -> Project:
    """The same column from a sequence of per-frame files, ``caches/abc/column_0001.abc``… (bpy 4.5); frame 5."""
    first = "caches/abc/column_0001.abc"
    return _build("alembic_sequence", root, ["caches/abc"], "caches_alembic.py", "sequence", first, blender="bpy")


def mesh_cache_mdd(root: Path) -> Project:
    """A rippling sheet played from ``caches/anim/sheet.mdd`` by a Mesh Cache modifier; frame 5."""
    mdd = "caches/anim/sheet.mdd"
    return _build("mesh_cache_mdd", root, [mdd], "caches_meshcache.py", "mdd", mdd)


def mesh_cache_pc2(root: Path) -> Project:
    """The rippling sheet from ``assets/sheet/sheet.pc2``; frame 5."""
    pc2 = "assets/sheet/sheet.pc2"
    return _build("mesh_cache_pc2", root, [pc2], "caches_meshcache.py", "pc2", pc2)


def volume_vdb_sequence(root: Path) -> Project:
    """A Volume object reading ``caches/vdb/smoke_0001.vdb``… (six frames, real smoke); frame 5."""
    return _build("volume_vdb_sequence", root, ["caches/vdb"], "caches_volume.py")


def multires_external(root: Path) -> Project:
    """A rock sculpted with Multires, its displacement saved to ``assets/rock/rock.btx``; frame 1."""
    btx = "assets/rock/rock.btx"
    return _build("multires_external", root, [btx], "caches_multires.py", btx)


KINDS: dict[str, Builder] = {
    "pointcache_particles": pointcache_particles,
    "pointcache_cloth": pointcache_cloth,
    "fluid_uni": fluid_uni,
    "fluid_openvdb": fluid_openvdb,
    "mesh_cache_mdd": mesh_cache_mdd,
    "mesh_cache_pc2": mesh_cache_pc2,
    "volume_vdb_sequence": volume_vdb_sequence,
    "multires_external": multires_external,
    "alembic_single": alembic_single,
    "alembic_sequence": alembic_sequence,
}
