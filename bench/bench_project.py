# SPDX-License-Identifier: GPL-3.0-or-later
"""A studio-sized project sent to a local master: packing, hashing, upload speed, memory, an unchanged resubmit.

The project (made once, then reused from ``--folder``) is laid out as a
studio's: ``shots/sh010/shot.blend`` links an object from each of several
libraries in ``assets/``, and each library's material reads an image sequence
written relative to that library. The frames are incompressible bytes, about
``--gib`` GiB in ``--files`` files in all. The script then times, against a
master started afresh on 127.0.0.1 for each measure:

- **submit**, in a process of its own (so its peak memory is its own): BAT's
  trace and the hashing (the hash cache empty) until the upload starts, then
  the upload of every file;
- **plain upload**: curl sending the very same files to the same endpoint of a
  fresh master, one request per file over one kept-alive connection, as the
  ceiling for the client's upload (curl neither traces nor hashes);
- **resubmit**: the same project again, unchanged, with the hash cache of the
  first submit: nothing is read but the .blend files, nothing is uploaded.

Goals: upload at 80 % or more of curl's throughput, client peak memory under
150 MiB, an unchanged resubmit under 2 s.

    .venv/bin/python bench/bench_project.py [--files 5000] [--gib 2] [--libraries 5] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAKE_LIBRARY = """
import bpy, sys
out, first = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.wm.save_as_mainfile(filepath=out)
bpy.ops.mesh.primitive_plane_add()
image = bpy.data.images.load(first)
image.source = "SEQUENCE"
image.filepath = bpy.path.relpath(first)
material = bpy.data.materials.new("Frames")
material.use_nodes = True
node = material.node_tree.nodes.new("ShaderNodeTexImage")
node.image = image
bpy.context.object.data.materials.append(material)
bpy.context.object.name = "Board"
bpy.ops.wm.save_as_mainfile(filepath=out, relative_remap=False)
"""
MAKE_SHOT = """
import bpy, sys
out, *libraries = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.wm.save_as_mainfile(filepath=out)
for library in libraries:
    with bpy.data.libraries.load(library, link=True, relative=True) as (source, target):
        target.objects = ["Board"]
    for obj in target.objects:
        bpy.context.scene.collection.objects.link(obj)
bpy.ops.wm.save_as_mainfile(filepath=out, relative_remap=False)
"""


def make_project(folder: Path, files: int, total: int, libraries: int, blender: str) -> Path:
    """The project, made unless ``folder`` holds one of this size already; the shot's path."""
    shot = folder / "shots" / "sh010" / "shot.blend"
    marker = folder / "made.json"
    wanted = {"files": files, "bytes": total, "libraries": libraries}
    if shot.is_file() and marker.is_file() and json.loads(marker.read_text()) == wanted:
        return shot
    shutil.rmtree(folder, ignore_errors=True)
    per_library, size = files // libraries, total // files
    paths = []
    for index in range(libraries):
        frames = folder / "assets" / f"set_{index:02d}" / "textures" / "frames"
        frames.mkdir(parents=True)
        for number in range(1, per_library + 1):
            (frames / f"frame_{number:04d}.png").write_bytes(os.urandom(size))
        library = frames.parents[1] / "set.blend"
        blender_script(blender, MAKE_LIBRARY, library, frames / "frame_0001.png")
        paths.append(library)
    shot.parent.mkdir(parents=True)
    blender_script(blender, MAKE_SHOT, shot, *paths)
    marker.write_text(json.dumps(wanted))
    return shot


def blender_script(blender: str, script: str, *args: object) -> None:
    subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", script,
                    "--", *map(str, args)], check=True, capture_output=True, timeout=600)


class Master:
    """A master process of its own on a free loopback port, on a fresh folder."""

    def __init__(self, folder: Path) -> None:
        from netrender.cli.demo import free_port, wait_for_master
        from netrender.common.connection import Connection

        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder.with_suffix(".log"), "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netrender", "master", "--path", str(folder), "--address", "127.0.0.1",
             "--port", str(self.port), "--no-broadcast", "--no-zeroconf"], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_master(Connection(self.url))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def submit_in_child(url: str, blend: Path, hashes: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--submit", url, str(blend), str(hashes)],
                         check=True, capture_output=True, text=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def child_submit(url: str, blend: Path, hashes: Path) -> None:
    """In the child: one submit, timed phase by phase; JSON on stdout."""
    from netrender.client import Client, JobOptions, Progress
    from netrender.pack.hashes import HashCache

    marks: dict[str, float] = {}

    class Timed(Progress):
        def upload_started(self, files: int, total_bytes: int) -> None:
            marks["upload"] = time.perf_counter()

    start = time.perf_counter()
    cache = HashCache(hashes)
    sent = Client(url, Timed(), hashes=cache).submit(blend, JobOptions(frames=[1]))
    end = time.perf_counter()
    cache.close()
    upload = marks.get("upload", end)
    print(json.dumps({
        "files": len(sent.files), "bytes": sum(f.size for f in sent.files),
        "uploaded_files": sent.uploaded_files, "uploaded_bytes": sent.uploaded_bytes,
        "pack_seconds": upload - start, "upload_seconds": end - upload, "total_seconds": end - start,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "hash_hits": cache.hits, "hash_misses": cache.misses,
    }))


def curl_upload(url: str, files: list[tuple[Path, str]], folder: Path) -> float:
    """Seconds for curl to PUT every file to ``/api/files/<sha256>``, one connection kept alive throughout."""
    config = folder / "curl.conf"
    with open(config, "w", encoding="utf-8") as fh:
        for path, digest in files:
            fh.write(f'url = "{url}/api/files/{digest}"\nupload-file = "{path}"\noutput = "/dev/null"\n')
    start = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-K", str(config)], check=True, timeout=3600)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--libraries", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "netrender-bench-project")
    parser.add_argument("--blender", default="blender")
    parser.add_argument("--submit", nargs=3, metavar=("URL", "BLEND", "HASHES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.submit:
        child_submit(args.submit[0], Path(args.submit[1]), Path(args.submit[2]))
        return 0

    started = time.perf_counter()
    blend = make_project(args.folder / "project", args.files, int(args.gib * 2**30), args.libraries, args.blender)
    print(f"project: {args.folder / 'project'} ({time.perf_counter() - started:.1f} s to make or find)")
    work = Path(tempfile.mkdtemp(prefix="netrender-bench-"))
    try:
        hashes = work / "hashes.sqlite"
        master = Master(work / "master-1")
        try:
            first = submit_in_child(master.url, blend, hashes)
            again = submit_in_child(master.url, blend, hashes)
        finally:
            master.stop()

        from netrender.pack.hashes import HashCache

        cache = HashCache(hashes)
        unique = {cache.sha256(p): p for p in sorted(blend.parents[2].rglob("*")) if p.is_file()
                  and p.suffix in (".png", ".blend")}
        cache.close()
        plain_master = Master(work / "master-2")
        try:
            curl_seconds = curl_upload(plain_master.url, [(p, d) for d, p in unique.items()], work)
        finally:
            plain_master.stop()
        curl_bytes = sum(p.stat().st_size for p in unique.values())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mib = 2**20
    ours = first["uploaded_bytes"] / first["upload_seconds"] / mib
    plain = curl_bytes / curl_seconds / mib
    print(f"files: {first['files']} ({first['bytes'] / 2**30:.2f} GiB)")
    print(f"first submit: trace and hash {first['pack_seconds']:.1f} s, upload {first['upload_seconds']:.1f} s "
          f"({first['uploaded_files']} files, {ours:.0f} MiB/s), peak memory {first['peak_rss_mib']:.0f} MiB")
    print(f"curl, same files, one connection: {curl_seconds:.1f} s ({len(unique)} files, {plain:.0f} MiB/s)")
    print(f"upload throughput: {ours / plain:.2f} of curl's")
    print(f"unchanged resubmit: {again['total_seconds']:.2f} s, {again['uploaded_bytes']} bytes uploaded, "
          f"{again['hash_misses']} file(s) hashed, peak memory {again['peak_rss_mib']:.0f} MiB")
    goals = [("upload >= 0.8 of curl", ours / plain >= 0.8),
             ("client memory < 150 MiB", max(first["peak_rss_mib"], again["peak_rss_mib"]) < 150),
             ("unchanged resubmit < 2 s", again["total_seconds"] < 2.0 and again["uploaded_bytes"] == 0)]
    print("goals: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in goals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
