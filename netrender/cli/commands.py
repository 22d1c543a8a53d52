# SPDX-License-Identifier: GPL-3.0-or-later
"""What each ``netrender`` command does (their options are in :mod:`.parser`).

Results go to stdout, messages and progress bars to stderr. Exit codes:
0 success, 1 a job failed or was cancelled, 2 bad usage or input,
3 the master cannot be reached, 4 the master refused the request.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Any

from ..client import Client
from ..common import tls
from ..common.errors import ApiError, InvalidConfig, InvalidRequest, MasterUnreachable, NetrenderError
from ..common.pathmap import PathMap
from ..common.token import token_from
from ..node.config import SlaveConfig
from . import bakes, frames, local, queue, submitting, switches
from .connect import access as _access
from .connect import master as _master
from .nodes import doctor, master_nodes, nodes
from .parser import build_parser
from .progress import BarProgress
from .sessions import SessionFolder

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = 1, 2, 3, 4


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
    from ..master import MasterConfig, MasterServer

    if args.key and not args.cert:
        raise InvalidConfig("--key needs --cert")
    if args.threads is not None and args.threads < 2:
        raise InvalidConfig("--threads must be at least 2: one serves while another holds a waiting slave")
    token = token_from(args.token_file)
    server = MasterServer(MasterConfig(path=args.path, address=args.address, port=args.port,
                                       clear_on_exit=args.clear_on_exit, cert=args.cert, key=args.key, token=token,
                                       announce=not args.no_broadcast, zeroconf=not args.no_zeroconf,
                                       announce_interval=args.broadcast_interval,
                                       storage_roots=tuple(args.storage_root), path_map=PathMap.parse(args.path_map),
                                       force_upload=args.force_upload, ssh_nodes=tuple(master_nodes(args)),
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


def _bpy_blender() -> str:
    """``netrender-bpy``: Blender's command line on the ``bpy`` module, for a slave with no Blender binary."""
    import importlib.util
    import shutil
    from pathlib import Path

    if importlib.util.find_spec("bpy") is None:
        raise InvalidConfig("--bpy renders with the bpy module, which is not installed: "
                            "pip install \"netrender[bpy]\" (Python 3.11)")
    beside = Path(sys.executable).with_name("netrender-bpy")
    found = str(beside) if beside.is_file() else shutil.which("netrender-bpy")
    if found is None:
        raise InvalidConfig("the netrender-bpy command is missing: reinstall netrender")
    return found


def run_slave(args: argparse.Namespace) -> int:
    from ..discovery import Follower, is_default
    from ..slave import Slave

    blender_command = _bpy_blender() if args.bpy else args.blender
    config = SlaveConfig(master=args.master, access=_access(args), threads=args.threads, blender=blender_command,
                         tags=tuple(t for t in args.tags.split(";") if t), console_log=args.console_log,
                         thumbnails=args.thumbnails, allow_scripts=args.allow_scripts, on_stop=args.on_stop,
                         persistent=args.persistent, session_frames=args.session_frames,
                         path_map=PathMap.parse(args.path_map), denoise=args.denoise,
                         **({"idle_close": args.idle_close} if args.idle_close is not None else {}))
    if args.path:
        config.path = args.path
    if args.name:
        config.name = args.name
    if args.device:
        config.device = args.device
    configs = [config]
    if args.gpus:
        from ..node import devices

        chosen = devices.choose(devices.list_gpus(config.blender), args.gpus)
        configs = devices.slave_configs(config, chosen, args.with_cpu)
        for each in configs:
            print(f"[{each.name}] renders on {json.loads(each.device)['type']} {json.loads(each.device)['id']}",
                  file=sys.stderr)
    follower = None
    if args.discover or is_default(args.master):
        # Listen for the master's announcements for as long as the slave runs: it follows a master that moves.
        follower = Follower(https_only=config.access.tls if config.access else False).start()
        config.master = follower.wait(11.0) or "[default]"
        for each in configs:
            each.master = config.master
        print(f"[{config.name}] master: {config.master}", file=sys.stderr)
    slaves = [Slave(c, on_status=lambda text, c=c: print(f"[{c.name}] {text}", file=sys.stderr),  # type: ignore[misc]
                    follower=follower) for c in configs]

    def stop_all() -> None:
        for slave in slaves:
            slave.stop()

    _stop_on_signals(stop_all)
    threads = [threading.Thread(target=s.run, name=f"slave-{s.config.name}") for s in slaves[1:]]
    for thread in threads:
        thread.start()
    slaves[0].run()
    for thread in threads:
        thread.join()
    print(f"[{config.name}] slave{'s' if len(slaves) > 1 else ''} stopped", file=sys.stderr)
    return 0


def _stop_on_signals(stop: Any) -> None:
    """Ctrl-C and SIGTERM stop the service cleanly instead of a traceback."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop())


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


def slaves(args: argparse.Namespace) -> int:
    """One line a slave: its state and work, its Blender and capabilities, and its measured speed."""
    rows = Client(_master(args), access=_access(args)).slaves()
    print(f"{'name':<16} {'state':<10} {'done':>6} {'blender':<12} {'can':<8} {'s/frame':>8} {'s/Mpx':>8} "
          f"{'machine':>8} {'file':>8}")
    for s in rows:
        speed, facts = s.get("speed") or {}, s.get("facts") or {}
        print(f"{s['name'][:16]:<16} {s['state']:<10} {s['frames_done']:>6} {str(facts.get('blender', '?'))[:12]:<12} "
              f"{','.join(facts.get('capabilities') or []) or '-':<8} {_seconds(speed.get('frame_seconds')):>8} "
              f"{_seconds(speed.get('tile_seconds_per_mpix')):>8} {_seconds(speed.get('machine_seconds')):>8} "
              f"{_seconds(speed.get('file_seconds')):>8}")
    return 0


def speedtest(args: argparse.Namespace) -> int:
    """Run the speed tests on every slave, then print each one's times and speed relative to the fastest."""
    client = Client(_master(args), access=_access(args))
    job = client.speedtest(args.blend, frame=args.frame, scale=args.scale).job
    print(f"speed test job {job['id']}: {job['frame_count']['total']} test(s) on the slaves alive", file=sys.stderr)
    deadline = time.monotonic() + args.timeout
    final = client.wait(job["id"], sleep=lambda s: time.sleep(s) if time.monotonic() < deadline else _give_up())
    names = {s["id"]: s["name"] for s in client.slaves()}
    times: dict[str, dict[str, float]] = {}
    for task in final["frames"]:
        if task["status"] == "done" and task.get("task"):
            times.setdefault(task["slave_id"], {})[task["task"]["kind"]] = task["render_time"]
    fastest = {kind: min(t[kind] for t in times.values() if kind in t) for kind in ("machine", "file")
               if any(kind in t for t in times.values())}
    print(f"{'slave':<20} {'machine s':>10} {'file s':>10} {'speed':>6}")
    for slave_id, measured in sorted(times.items(), key=lambda kv: kv[1].get("machine", 1e9)):
        relative = fastest["machine"] / measured["machine"] if "machine" in measured else 0.0
        print(f"{names.get(slave_id, slave_id)[:20]:<20} {_seconds(measured.get('machine')):>10} "
              f"{_seconds(measured.get('file')):>10} {relative:>6.2f}")
    return 0 if final["status"] == "finished" else EXIT_FAILED


def _give_up() -> None:
    raise NetrenderError("the speed test did not end in time: a slave may be busy or gone")


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def results(args: argparse.Namespace) -> int:
    if args.session:
        session = SessionFolder.existing(args.sessions, args.session)
        client = Client(_session_master(args, session), BarProgress(), access=_access(args))
        session.fill(client, int(session.info["job"]))
        print(f"session {session.name} fetched again into {session.path}", file=sys.stderr)
        return 0
    if args.job is not None and args.blend is not None:
        client = Client(_master(args), BarProgress(), access=_access(args))
        return 0 if bakes.install(client, args.job, args.blend, args.blender) else EXIT_FAILED
    if args.job is None or args.output is None:
        raise InvalidConfig("give a job and --output (a bake job: --blend FILE), or --session NAME")
    saved = Client(_master(args), BarProgress(), access=_access(args)).download(args.job, args.output)
    print(f"{len(saved)} frame(s) written to {args.output}", file=sys.stderr)
    return 0


def clean(args: argparse.Namespace) -> int:
    """Remove exactly what the options name: the job on the master (default), the nodes' outputs, the folder."""
    session = SessionFolder.existing(args.sessions, args.session) if args.session else None
    if args.local and session is None:
        raise InvalidConfig("--local removes a session's folder: name it with --session")
    if not args.local and not args.remote:
        job = args.job if args.job is not None else int(session.info["job"]) if session else None
        if job is None:
            raise InvalidConfig("name the job, or its --session")
        client = Client(_session_master(args, session), access=_access(args))
        client.conn.request("DELETE", f"/api/jobs/{job}", params={"delete_files": "true"})
        print(f"job {job} and its files removed from the master", file=sys.stderr)
    if args.remote:
        client = Client(_session_master(args, session), access=_access(args))
        for name, text in client.conn.post("/api/nodes/clean", {"what": "outputs"})["cleaned"].items():
            print(f"{name}: frames rendered there {'removed' if text == 'cleaned' else text}", file=sys.stderr)
    if args.local and session is not None:
        session.remove()
        print(f"session folder {session.path} removed", file=sys.stderr)
    return 0


def _session_master(args: argparse.Namespace, session: SessionFolder | None) -> str:
    """The master a session's job is on, unless --master says another."""
    if session is not None and not args.discover and args.master == "[default]":
        return str(session.info["master"])
    return _master(args)


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
    "master": run_master, "slave": run_slave, "submit": submitting.submit, "bake": bakes.bake, "status": status,
    "check-frames": frames.check_frames, "disable": switches.switch, "enable": switches.switch,
    "render-local": local.render_local, "queue": queue.show_or_set,
    "start": queue.act, "stop": queue.act, "enqueue": queue.act,
    "results": results,
    "slaves": slaves, "speedtest": speedtest, "clean": clean, "nodes": nodes, "doctor": doctor,
    "cancel": cancel, "remove": remove, "demo": demo,
}

if __name__ == "__main__":
    sys.exit(main())
