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

from . import __version__, auth, tls
from .client import Client, JobOptions, parse_frames
from .connection import Access, Connection
from .errors import ApiError, InvalidConfig, InvalidRequest, MasterUnreachable, NetrenderError
from .pathmap import PathMap
from .progress import BarProgress
from .slave_config import SlaveConfig

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = 1, 2, 3, 4


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
    p.add_argument("--broadcast-interval", type=float, default=10.0, help="seconds between discovery broadcasts")
    p.add_argument("--threads", type=int, help="server threads, of which at most half hold idle slaves "
                                                          "waiting for work (default: as many as suit a LAN farm)")
    p.add_argument("--no-broadcast", action="store_true", help="do not announce the master by UDP broadcast")
    p.add_argument("--no-zeroconf", action="store_true", help="do not publish the master with zeroconf (mDNS)")
    p.add_argument("--cert", type=Path, help="serve HTTPS with this PEM certificate (its chain may follow it)")
    p.add_argument("--key", type=Path, help="the certificate's PEM private key (if not in the --cert file)")
    p.add_argument("--storage-root", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder on storage shared with clients and slaves (repeatable): files a client has "
                        "there are copied here instead of uploaded, and jobs may render there in place")
    p.add_argument("--force-upload", action="store_true",
                   help="always have clients upload their files, even those on shared storage")
    _path_map_option(p)
    _token_option(p)

    p = sub.add_parser("slave", help="run a render slave until Ctrl-C")
    _master_option(p)
    p.add_argument("--path", type=Path, help="where job files and the file cache are kept")
    p.add_argument("--threads", type=int, default=0, help="render threads (0: all cores)")
    p.add_argument("--tags", default="", help="semicolon-separated tags, e.g. gpu;linux")
    p.add_argument("--name", help="name shown on the master (default: host name)")
    p.add_argument("--blender", default="blender", help="Blender executable")
    p.add_argument("--console-log", action="store_true", help="also print Blender's output")
    p.add_argument("--thumbnails", action="store_true", help="make a PNG preview of each frame for the monitor")
    p.add_argument("--allow-scripts", action="store_true",
                   help="run a .blend's own auto-run scripts when its job allows them too (off: never)")
    p.add_argument("--no-persistent", dest="persistent", action="store_false",
                   help="start Blender for every chunk, never keeping one open per job")
    p.add_argument("--session-frames", type=int, metavar="N",
                   help="start the open Blender afresh after N frames (default: keep it for the whole job)")
    p.add_argument("--idle-close", type=float, metavar="SECONDS",
                   help=f"close the open Blender after this long without work (default {SlaveConfig.idle_close:g})")
    _path_map_option(p)
    p.add_argument("--on-stop", choices=("requeue", "finish"), default="requeue",
                   help="what Ctrl-C does to the chunk being rendered: requeue (default) gives its frames back "
                        "to the master at once; finish lets Blender finish and delivers it, and a second Ctrl-C "
                        "requeues. Results the master cannot take wait in PATH/outbox for the next start; "
                        "frames of a slave that does not come back are requeued by the master's lost-slave timeout")

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
    p.add_argument("--allow-scripts", action="store_true",
                   help="let the file's auto-run scripts run on slaves that allow scripts too")
    p.add_argument("--no-persistent", dest="persistent", action="store_false",
                   help="start Blender for every chunk instead of keeping one open per slave for the job")
    p.add_argument("--persistent-data", action="store_true",
                   help="Cycles keeps scene data between frames (faster for heavy scenes)")
    p.add_argument("--strict", action="store_true",
                   help="refuse to send the job if the .blend names files that do not exist (exit code 2); "
                        "by default the job renders without them, as Blender would here, and lists them")
    p.add_argument("--shared", action="store_true",
                   help="render the files in place on storage the farm shares (the master's --storage-root, "
                        "each slave's --path-map): nothing is uploaded")
    p.add_argument("--shared-output", type=Path, metavar="DIR",
                   help="a folder on shared storage where the slaves write each finished frame too")
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
    p.add_argument("--master", default="[default]",
                   help="master URL or host[:port] (default: this machine's master, else one found on the network)")
    p.add_argument("--discover", action="store_true",
                   help="find the master on the network (UDP broadcast or zeroconf), whatever --master says")
    p.add_argument("--ca-file", type=Path, help="trust the master's certificate if it chains to this PEM CA "
                                                "(or is this self-signed certificate); implies https")
    p.add_argument("--fingerprint", help="trust only the master certificate with this SHA-256 fingerprint "
                                         "(hex; the master prints it); implies https")
    _token_option(p)


def _path_map_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path-map", action="append", default=[], metavar="CLIENT=LOCAL",
                   help="a client's path prefix on shared storage and where it is on this machine, "
                        "e.g. 'P:\\projects=/mnt/projects' (repeatable)")


def _token_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token-file", type=Path,
                   help=f"read the farm token from this file (default: ${auth.ENV_VAR}, if set)")


def _master(args: argparse.Namespace) -> str:
    """The master's URL: as given, else this machine's if one answers there, else discovered."""
    from .discovery import find_master, is_default

    if not args.discover and not is_default(args.master):
        return str(args.master)
    access = _access(args)
    if not args.discover:
        local = Connection("[default]", access=access, timeout=(1.0, 5.0))
        try:
            local.get("/api/version")
            return local.url
        except NetrenderError:
            pass
    print("looking for the master on the network…", file=sys.stderr)
    url = find_master(https_only=access.tls)
    print(f"found the master at {url}", file=sys.stderr)
    return url


def _access(args: argparse.Namespace) -> Access:
    """The token and trust settings of a slave or client command."""
    fingerprint = tls.parse_fingerprint(args.fingerprint) if args.fingerprint else None
    return Access(token=auth.token_from(args.token_file), ca_file=args.ca_file, fingerprint=fingerprint)


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

    if args.key and not args.cert:
        raise InvalidConfig("--key needs --cert")
    if args.threads is not None and args.threads < 2:
        raise InvalidConfig("--threads must be at least 2: one serves while another holds a waiting slave")
    token = auth.token_from(args.token_file)
    server = MasterServer(MasterConfig(path=args.path, address=args.address, port=args.port,
                                       clear_on_exit=args.clear_on_exit, cert=args.cert, key=args.key, token=token,
                                       announce=not args.no_broadcast, zeroconf=not args.no_zeroconf,
                                       announce_interval=args.broadcast_interval,
                                       storage_roots=tuple(args.storage_root), path_map=PathMap.parse(args.path_map),
                                       force_upload=args.force_upload,
                                       **({"threads": args.threads} if args.threads else {})))
    print(f"netrender master on {server.url} (port {server.port}), storing in {server.farm.root}", file=sys.stderr)
    if args.cert:
        print(f"certificate SHA-256 fingerprint: {tls.fingerprint(args.cert)}", file=sys.stderr)
    print("farm token: " + ("required on every API call" if token else "none, the API is open"), file=sys.stderr)
    if token and not args.cert:
        print("warning: without --cert the token crosses the network in clear text", file=sys.stderr)
    _stop_on_signals(server.stop)
    try:
        server.serve_forever()
    finally:
        server.close()
        print("master stopped", file=sys.stderr)
    return 0


def run_slave(args: argparse.Namespace) -> int:
    from .discovery import Follower, is_default
    from .slave import Slave

    config = SlaveConfig(master=args.master, access=_access(args), threads=args.threads, blender=args.blender,
                         tags=tuple(t for t in args.tags.split(";") if t), console_log=args.console_log,
                         thumbnails=args.thumbnails, allow_scripts=args.allow_scripts, on_stop=args.on_stop,
                         persistent=args.persistent, session_frames=args.session_frames,
                         path_map=PathMap.parse(args.path_map),
                         **({"idle_close": args.idle_close} if args.idle_close is not None else {}))
    if args.path:
        config.path = args.path
    if args.name:
        config.name = args.name
    follower = None
    if args.discover or is_default(args.master):
        # Listen for the master's announcements for as long as the slave runs: it follows a master that moves.
        follower = Follower(https_only=config.access.tls if config.access else False).start()
        config.master = follower.wait(11.0) or "[default]"
        print(f"[{config.name}] master: {config.master}", file=sys.stderr)
    slave = Slave(config, on_status=lambda text: print(f"[{config.name}] {text}", file=sys.stderr), follower=follower)
    _stop_on_signals(slave.stop)
    slave.run()
    print(f"[{config.name}] slave stopped", file=sys.stderr)
    return 0


def _stop_on_signals(stop: Any) -> None:
    """Ctrl-C and SIGTERM stop the service cleanly instead of a traceback."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop())


def submit(args: argparse.Namespace) -> int:
    from . import packer

    progress = BarProgress()
    client = Client(_master(args), progress, access=_access(args))
    frames = parse_frames(args.frames) if args.frames else packer.frame_range(args.blend)
    options = JobOptions(frames=frames, name=args.name, category=args.category, priority=args.priority,
                         tags=[t for t in args.tags.split(";") if t], chunks=args.chunks, engine=args.engine,
                         allow_scripts=args.allow_scripts, persistent=args.persistent,
                         persistent_data=args.persistent_data, strict=args.strict, shared=args.shared,
                         output_dir=str(packer.absolute(args.shared_output)) if args.shared_output else "")
    sent = client.submit(args.blend, options)
    job = sent.job
    if sent.missing:
        print(f"warning: {args.blend} names {len(sent.missing)} file(s) that do not exist here; the job renders "
              "without them, as Blender would here (--strict refuses instead):", file=sys.stderr)
        for path in sent.missing:
            print(f"  {path}", file=sys.stderr)
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
    client = Client(_master(args), access=_access(args))
    if args.job is None:
        for job in client.jobs():
            c = job["frame_count"]
            print(f"{job['id']:>5}  {job['status']:<10} {c['done']:>5}/{c['total']:<5} {job['name']}")
        return 0
    job = client.job(args.job)
    print(f"job {job['id']} {job['name']!r}: {job['status']}")
    if job.get("missing"):
        print(f"  renders without {len(job['missing'])} file(s) its .blend names but the client did not have:")
        for path in job["missing"]:
            print(f"    {path}")
    for frame in job["frames"]:
        time = f"{frame['render_time']:.2f}s" if frame["render_time"] is not None else ""
        print(f"  frame {frame['number']:>6} {frame['status']:<10} {time:>8} {frame['message']}")
    return 0


def results(args: argparse.Namespace) -> int:
    saved = Client(_master(args), BarProgress(), access=_access(args)).download(args.job, args.output)
    print(f"{len(saved)} frame(s) written to {args.output}", file=sys.stderr)
    return 0


def cancel(args: argparse.Namespace) -> int:
    Client(_master(args), access=_access(args)).conn.post(f"/api/jobs/{args.job}/cancel")
    return 0


def remove(args: argparse.Namespace) -> int:
    client = Client(_master(args), access=_access(args))
    client.conn.request("DELETE", f"/api/jobs/{args.job}", params={"delete_files": "true"})
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
