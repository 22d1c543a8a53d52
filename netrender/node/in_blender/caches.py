# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside Blender: list a scene's point caches, bake one to disk, or install baked ones into a .blend.

Run as ``blender -b FILE --python caches.py -- MODE ... --report JSON``:

``list``
    every point cache of the scene that bakes to disk (cloth, soft body,
    dynamic paint surfaces, particle systems), and the ones that cannot
    (rigid body world, fluid domains), into the report.
``bake OBJECT CACHE``
    bake that cache to disk, in Blender's own ``blendcache_<file>/`` folder
    beside the .blend, and report the files it wrote (relative to the .blend).
``install MANIFEST``
    MANIFEST (JSON) lists, in order, each cache and a folder holding its
    baked files. The caches are switched to disk and the file saved and
    opened again; then each cache's files are copied in and it is marked
    baked from them (``ptcache.bake_from_cache``), and the file is saved.
    One cache at a time: marking one baked lets Blender evaluate the scene,
    which clears the frames of every cache not baked yet, files included.

A cache is named by its object and ``CACHE``: the modifier's name (cloth,
soft body), ``MODIFIER/SURFACE`` (dynamic paint) or ``particles/SYSTEM``.

It imports nothing from netrender: the slave's Blender does not have the package.
"""

import json
import os
import shutil
import sys
from typing import Any

import bpy


def _caches(scene: Any) -> tuple[list[Any], list[Any]]:
    """(object, name, point cache) for each cache that bakes to disk; (object, name, why) for the others."""
    bakeable: list[Any] = []
    other: list[Any] = []
    for ob in scene.objects:
        for mod in ob.modifiers:
            if mod.type in ("CLOTH", "SOFT_BODY"):
                bakeable.append((ob, mod.name, mod.point_cache))
            elif mod.type == "DYNAMIC_PAINT" and mod.canvas_settings is not None:
                for surface in mod.canvas_settings.canvas_surfaces:
                    bakeable.append((ob, f"{mod.name}/{surface.name}", surface.point_cache))
            elif mod.type == "FLUID" and mod.fluid_type == "DOMAIN":
                other.append((ob, mod.name, "a fluid domain bakes to its own cache folder: not on the farm yet"))
        for system in ob.particle_systems:
            bakeable.append((ob, f"particles/{system.name}", system.point_cache))
    world = scene.rigidbody_world
    if world is not None and world.enabled:
        other.append((None, "rigid body world", "its cache lives in memory only and cannot be baked to disk"))
    return bakeable, other


def _find(scene: Any, obj: str, name: str) -> tuple[Any, Any]:
    for ob, cache_name, cache in _caches(scene)[0]:
        if ob.name == obj and cache_name == name:
            return ob, cache
    raise SystemExit(f"netrender: the scene has no point cache {obj}/{name}")


def _override(scene: Any, ob: Any, cache: Any) -> Any:
    return bpy.context.temp_override(scene=scene, active_object=ob, object=ob, point_cache=cache)


def _files(folder: str) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    if os.path.isdir(folder):
        for entry in os.scandir(folder):
            if entry.is_file():
                stat = entry.stat()
                found[entry.name] = (stat.st_mtime_ns, stat.st_size)
    return found


def _cache_dir() -> str:
    blend = str(bpy.data.filepath)
    return os.path.join(os.path.dirname(blend), "blendcache_" + os.path.splitext(os.path.basename(blend))[0])


def list_caches(scene: Any) -> dict[str, Any]:
    bakeable, other = _caches(scene)
    return {"caches": [[ob.name, name] for ob, name, _ in bakeable],
            "unbakeable": [[ob.name if ob else "", name, why] for ob, name, why in other]}


def bake(scene: Any, obj: str, name: str) -> dict[str, Any]:
    ob, cache = _find(scene, obj, name)
    if cache.use_external:
        raise SystemExit(f"netrender: {obj}/{name} reads an external cache: nothing to bake")
    if not cache.use_disk_cache:
        cache.use_disk_cache = True  # clears this cache's memory frames: none, before a bake
    folder = _cache_dir()
    with _override(scene, ob, cache):
        bpy.ops.ptcache.free_bake()  # a retry starts clean: the files left are then this bake's alone
        before = _files(folder)
        result = bpy.ops.ptcache.bake(bake=True)
    if "FINISHED" not in result or not cache.is_baked:
        raise SystemExit(f"netrender: Blender did not bake {obj}/{name} ({', '.join(sorted(result))})")
    after = _files(folder)
    written = sorted(n for n, stamp in after.items() if before.get(n) != stamp)
    if not written:
        raise SystemExit(f"netrender: baking {obj}/{name} wrote no file to {folder}")
    return {"files": [os.path.basename(folder) + "/" + n for n in written]}


def install(scene: Any, manifest: list[dict[str, str]]) -> dict[str, Any]:
    # Switching a cache to disk and marking it baked in one go loses its files (Blender clears the frames it
    # has not seen simulated): switch them all, save, open the file again, then take the files cache by cache.
    for item in manifest:
        _, cache = _find(scene, item["object"], item["cache"])
        if not cache.use_disk_cache:
            cache.use_disk_cache = True
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=bpy.data.filepath)
    scene = bpy.context.scene
    folder = _cache_dir()
    installed: list[list[str]] = []
    for item in manifest:
        ob, cache = _find(scene, item["object"], item["cache"])
        os.makedirs(folder, exist_ok=True)
        for file_name in sorted(os.listdir(item["folder"])):
            shutil.copyfile(os.path.join(item["folder"], file_name), os.path.join(folder, file_name))
        with _override(scene, ob, cache):
            bpy.ops.ptcache.bake_from_cache()
        if not cache.is_baked:
            raise SystemExit(f"netrender: Blender did not take the baked files of {ob.name}/{item['cache']}")
        installed.append([ob.name, item["cache"]])
    bpy.ops.wm.save_mainfile()
    return {"installed": installed, "folder": folder}


def main(argv: list[str]) -> None:
    args = argv[argv.index("--") + 1:] if "--" in argv else []
    report = args[args.index("--report") + 1]
    args = args[:args.index("--report")]
    scene = bpy.context.scene
    if args[0] == "list":
        out = list_caches(scene)
    elif args[0] == "bake":
        out = bake(scene, args[1], args[2])
    elif args[0] == "install":
        with open(args[1], encoding="utf-8") as fh:
            out = install(scene, json.load(fh))
    else:
        raise SystemExit(f"netrender: unknown mode {args[0]!r}")
    with open(report, "w", encoding="utf-8") as fh:
        json.dump(out, fh)


main(sys.argv)
