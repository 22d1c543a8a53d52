# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender``: one command for the master, slaves, jobs and the demo.

Results go to stdout, messages and progress bars to stderr. Exit codes:
0 success, 1 a job failed or was cancelled, 2 bad usage or input,
3 the master cannot be reached, 4 the master refused the request.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import __version__
from .client import Client, JobOptions, Progress, parse_frames
from .errors import ApiError, InvalidRequest, MasterUnreachable, NetrenderError

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = 1, 2, 3, 4


class BarProgress(Progress):
    """tqdm bars on stderr: bytes while uploading, frames while the job runs."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.upload: tqdm[Any] | None = None
        self.frames: tqdm[Any] | None = None

    def missing_dependency(self, path: Path) -> None:
        print(f"warning: missing dependency {path}", file=sys.stderr)

    def upload_started(self, files: int, total_bytes: int) -> None:
        if files:
            self.upload = tqdm(total=total_bytes, unit="B", unit_scale=True, desc=f"upload {files} file(s)",
                               disable=self.quiet, leave=False)

    def uploaded(self, nbytes: int) -> None:
        if self.upload is not None:
            self.upload.update(nbytes)

    def job_update(self, job: dict[str, Any]) -> None:
        counts = job["frame_count"]
        if self.frames is None:
            if self.upload is not None:
                self.upload.close()
            self.frames = tqdm(total=counts["total"], unit="frame", desc=f"job {job['id']}", disable=self.quiet)
        self.frames.update(counts["done"] - self.frames.n)
        self.frames.set_postfix_str(f"{counts['dispatched']} rendering, {counts['error']} failed", refresh=True)
        if job["status"] in ("finished", "failed", "cancelled"):
            self.frames.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netrender", description="A network render farm for Blender.")
    parser.add_argument("--version", action="version", version=f"netrender {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("master", help="run a master until Ctrl-C")
    p.add_argument("--path", type=Path, default=Path("netrender-master"), help="where jobs are stored")
    p.add_argument("--address", default="[default]", help="interface to listen on ([default]: all)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--clear-on-exit", action="store_true", help="delete the master's folder when it stops")

    p = sub.add_parser("slave", help="run a render slave until Ctrl-C")
    _master_option(p)
    p.add_argument("--path", type=Path, help="where job files and the file cache are kept")
    p.add_argument("--threads", type=int, default=0, help="render threads (0: all cores)")
    p.add_argument("--tags", default="", help="semicolon-separated tags, e.g. gpu;linux")
    p.add_argument("--name", help="name shown on the master (default: host name)")
    p.add_argument("--blender", default="blender", help="Blender executable")
    p.add_argument("--console-log", action="store_true", help="also print Blender's output")
    p.add_argument("--thumbnails", action="store_true", help="make a PNG preview of each frame for the monitor")

    p = sub.add_parser("submit", help="send a .blend file and its dependencies as a job")
    _master_option(p)
    p.add_argument("blend", type=Path)
    p.add_argument("--frames", help="e.g. 1-24 or 1,5,10-12 (default: the scene's range)")
    p.add_argument("--name", default="")
    p.add_argument("--category", default="")
    p.add_argument("--tags", default="", help="semicolon-separated tags a slave must have")
    p.add_argument("--priority", type=int, default=1)
    p.add_argument("--chunks", type=int, default=1, help="frames per dispatch")
    p.add_argument("--engine", default="CYCLES")
    p.add_argument("--wait", action="store_true", help="follow the job until it ends")
    p.add_argument("--output", type=Path, help="with --wait: download the frames here")

    p = sub.add_parser("status", help="list jobs, or show one job's frames")
    _master_option(p)
    p.add_argument("job", type=int, nargs="?")

    p = sub.add_parser("results", help="download a job's finished frames")
    _master_option(p)
    p.add_argument("job", type=int)
    p.add_argument("--output", type=Path, required=True)

    for name, text in (("cancel", "cancel a job"), ("remove", "remove a job and its files")):
        p = sub.add_parser(name, help=text)
        _master_option(p)
        p.add_argument("job", type=int)

    p = sub.add_parser("demo", help="render the sample scene on a local master with two slaves")
    p.add_argument("--folder", type=Path, default=Path("netrender-demo"), help="scene, farm and frames go here")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--slaves", type=int, default=2)
    p.add_argument("--blender", default="blender")
    return parser


def _master_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--master", default="[default]", help="master URL or host[:port] (default: localhost:8000)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(COMMANDS[args.command](args) or 0)
    except MasterUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ApiError as exc:
        print(f"error: the master refused: {exc.message} ({exc.code})", file=sys.stderr)
        return EXIT_REFUSED
    except (InvalidRequest, NetrenderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run_master(args: argparse.Namespace) -> int:
    from .master import MasterConfig, MasterServer

    server = MasterServer(MasterConfig(path=args.path, address=args.address, port=args.port,
                                       clear_on_exit=args.clear_on_exit))
    print(f"netrender master on {server.url} (port {server.port}), storing in {server.farm.root}", file=sys.stderr)
    _stop_on_signals(server.stop)
    try:
        server.serve_forever()
    finally:
        server.close()
        print("master stopped", file=sys.stderr)
    return 0


def run_slave(args: argparse.Namespace) -> int:
    from .slave import Slave, SlaveConfig

    config = SlaveConfig(master=args.master, threads=args.threads, blender=args.blender,
                         tags=tuple(t for t in args.tags.split(";") if t), console_log=args.console_log,
                         thumbnails=args.thumbnails)
    if args.path:
        config.path = args.path
    if args.name:
        config.name = args.name
    slave = Slave(config, on_status=lambda text: print(f"[{config.name}] {text}", file=sys.stderr))
    _stop_on_signals(slave.stop)
    slave.run()
    print(f"[{config.name}] slave stopped", file=sys.stderr)
    return 0


def _stop_on_signals(stop: Any) -> None:
    """Ctrl-C and SIGTERM stop the service cleanly instead of a traceback."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop())


def submit(args: argparse.Namespace) -> int:
    from .deps import frame_range

    progress = BarProgress()
    client = Client(args.master, progress)
    frames = parse_frames(args.frames) if args.frames else frame_range(args.blend)
    options = JobOptions(frames=frames, name=args.name, category=args.category, priority=args.priority,
                         tags=[t for t in args.tags.split(";") if t], chunks=args.chunks, engine=args.engine)
    sent = client.submit(args.blend, options)
    job = sent.job
    print(f"job {job['id']} submitted: {len(frames)} frame(s), {len(sent.files)} file(s), "
          f"{sent.uploaded_files} uploaded ({sent.uploaded_bytes} bytes)", file=sys.stderr)
    print(job["id"])
    if not args.wait:
        return 0
    final = client.wait(job["id"])
    if args.output:
        saved = client.download(job["id"], args.output)
        print(f"{len(saved)} frame(s) written to {args.output}", file=sys.stderr)
    return 0 if final["status"] == "finished" else EXIT_FAILED


def status(args: argparse.Namespace) -> int:
    client = Client(args.master)
    if args.job is None:
        for job in client.jobs():
            c = job["frame_count"]
            print(f"{job['id']:>5}  {job['status']:<10} {c['done']:>5}/{c['total']:<5} {job['name']}")
        return 0
    job = client.job(args.job)
    print(f"job {job['id']} {job['name']!r}: {job['status']}")
    for frame in job["frames"]:
        time = f"{frame['render_time']:.2f}s" if frame["render_time"] is not None else ""
        print(f"  frame {frame['number']:>6} {frame['status']:<10} {time:>8} {frame['message']}")
    return 0


def results(args: argparse.Namespace) -> int:
    saved = Client(args.master, BarProgress()).download(args.job, args.output)
    print(f"{len(saved)} frame(s) written to {args.output}", file=sys.stderr)
    return 0


def cancel(args: argparse.Namespace) -> int:
    Client(args.master).conn.post(f"/api/jobs/{args.job}/cancel")
    return 0


def remove(args: argparse.Namespace) -> int:
    Client(args.master).conn.request("DELETE", f"/api/jobs/{args.job}", params={"delete_files": "true"})
    return 0


def demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.folder, frames=args.frames, slaves=args.slaves, blender=args.blender)


COMMANDS = {
    "master": run_master, "slave": run_slave, "submit": submit, "status": status, "results": results,
    "cancel": cancel, "remove": remove, "demo": demo,
}

if __name__ == "__main__":
    sys.exit(main())
