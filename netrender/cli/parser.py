# SPDX-License-Identifier: GPL-3.0-or-later
"""``netrender``'s options: one command for the master, slaves, jobs and the demo, each with its own.

Kept apart from what the commands do (:mod:`.commands`) so the help a user
reads is in one place.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..node.config import SlaveConfig
from . import bakes, frames, local, nodes, queue, switches
from .options import job_options, master_option, node_options, path_map_option, sessions_option, token_option


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
    path_map_option(p)
    token_option(p)
    p.add_argument("--ssh-node", action="append", default=[], metavar="USER@HOST[:PORT]",
                   help="render on this machine over SSH too, as a slave (repeatable): it needs Blender and an SSH "
                        "server, nothing of netrender; its host key must be in known_hosts")
    p.add_argument("--ssh-config", type=Path, metavar="FILE", help="SSH nodes from a YAML file (see the README)")
    node_options(p, "ssh-")

    p = sub.add_parser("slave", help="run a render slave until Ctrl-C")
    master_option(p)
    p.add_argument("--path", type=Path, help="where job files and the file cache are kept")
    p.add_argument("--threads", type=int, default=0, help="render threads (0: all cores)")
    p.add_argument("--tags", default="", help="semicolon-separated tags, e.g. gpu;linux")
    p.add_argument("--name", help="name shown on the master (default: host name)")
    p.add_argument("--blender", default="blender", help="Blender executable")
    p.add_argument("--gpus", metavar="all|0,2",
                   help="one slave per GPU Cycles sees (named HOST-gpuN), each rendering on that device only")
    p.add_argument("--with-cpu", action="store_true", help="with --gpus: one more slave on the CPU (HOST-cpu)")
    p.add_argument("--device", help=argparse.SUPPRESS)  # one slave's device, as --gpus sets it (JSON)
    p.add_argument("--bpy", action="store_true",
                   help="render with the bpy module (pip install \"netrender[bpy]\") instead of a Blender binary")
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
    path_map_option(p)
    p.add_argument("--no-denoise", dest="denoise", action="store_false",
                   help="never take a tiled frame to denoise whole, even if this Blender can")
    p.add_argument("--on-stop", choices=("requeue", "finish"), default="requeue",
                   help="what Ctrl-C does to the chunk being rendered: requeue (default) gives its frames back "
                        "to the master at once; finish lets Blender finish and delivers it, and a second Ctrl-C "
                        "requeues. Results the master cannot take wait in PATH/outbox for the next start; "
                        "frames of a slave that does not come back are requeued by the master's lost-slave timeout")

    p = sub.add_parser("submit", help="send .blend files and their dependencies, a job each")
    master_option(p)
    p.add_argument("blend", type=Path, nargs="*", help="one or more .blend files, or patterns like 'shots/*.blend'")
    p.add_argument("--queue-file", type=Path, metavar="FILE",
                   help="also the files listed in FILE, one a line (relative to it; # starts a comment)")
    p.add_argument("--quiet", action="store_true", help="print only errors and the closing summary")
    job_options(p)
    p.add_argument("--engine", default="CYCLES")
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
    p.add_argument("--tiles", type=int, default=0, metavar="N",
                   help="cut each frame into about N tiles rendered by whichever slave is free, then stitched: "
                        "a still (or a few frames) across the whole farm; Cycles only")
    p.add_argument("--denoise", choices=("auto", "on", "off"), default="auto",
                   help="with --tiles: denoise each stitched frame whole, on a slave whose Blender can "
                        "(auto: as the scene's own Denoise setting)")
    p.add_argument("--wait", action="store_true", help="follow the job until it ends")
    p.add_argument("--output", type=Path, help="with --wait: download the frames here")
    p.add_argument("--session", nargs="?", const="", metavar="NAME",
                   help="keep a session folder: the frames, a log per host and a summary (implies --wait; "
                        "NAME defaults to the start time, YYYY_MM_DD_HH_mm_ss)")
    sessions_option(p)

    p.add_argument("--vcs", nargs="?", const="auto", choices=("auto", "git", "svn"),
                   help="the slaves check the file out of its Git or Subversion repository instead of receiving "
                        "uploads: the committed revision, from the remote (default: found from the working copy)")
    p.add_argument("--remote", default="", help="with --vcs: the repository's URL (default: the working copy's)")
    p.add_argument("--revision", default="", help="with --vcs: the commit or revision (default: the current one)")
    p.add_argument("--after", type=int, default=0, metavar="JOB",
                   help="start only when job JOB has finished (after a bake job: with its caches)")
    bakes.add_parser(sub)

    p = sub.add_parser("status", help="list jobs, or show one job's frames")
    master_option(p)
    p.add_argument("job", type=int, nargs="?")

    p = sub.add_parser("slaves", help="list the slaves: state, Blender, what they can do, how fast they are")
    master_option(p)

    p = sub.add_parser("speedtest", help="measure every slave: a fixed test scene, and a small render of a file")
    master_option(p)
    p.add_argument("blend", type=Path, nargs="?", help="also render this file's frame, small, on every slave")
    p.add_argument("--frame", type=int, default=1, help="the file's frame to render (default 1)")
    p.add_argument("--scale", type=int, default=25, help="the file's resolution in percent (default 25)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every slave (default 600)")

    p = sub.add_parser("results", help="download a job's finished frames, or a session's again")
    master_option(p)
    p.add_argument("job", type=int, nargs="?")
    p.add_argument("--output", type=Path, help="where to put the frames (with --session: the session's folder)")
    p.add_argument("--session", metavar="NAME", help="fetch a previous session's frames, logs and summary again")
    p.add_argument("--blend", type=Path, help="a bake job: put its caches into this .blend (beside it, marked baked)")
    p.add_argument("--blender", default="blender", help="with --blend: this machine's Blender (default: blender)")
    sessions_option(p)

    p = sub.add_parser("clean", help="remove results: a job's on the master (default), the SSH nodes' (--remote), "
                                     "or a session folder (--local)")
    master_option(p)
    p.add_argument("job", type=int, nargs="?", help="the job (default: the --session's)")
    p.add_argument("--session", metavar="NAME")
    sessions_option(p)
    p.add_argument("--remote", action="store_true", help="the frames rendered on every SSH node of the master")
    p.add_argument("--local", action="store_true", help="the session's folder here")

    nodes.add_parser(sub)
    frames.add_parser(sub)
    switches.add_parser(sub)
    queue.add_parser(sub)
    local.add_parser(sub)

    p = sub.add_parser("doctor", help="which tools netrender finds on this machine, and what is missing")
    p.add_argument("--blender", default="blender", help="the Blender to check (default: blender)")

    for name, text in (("cancel", "cancel a job"), ("remove", "remove a job and its files")):
        p = sub.add_parser(name, help=text)
        master_option(p)
        p.add_argument("job", type=int)

    p = sub.add_parser("demo", help="render the sample scene on a local master with two slaves")
    p.add_argument("--folder", type=Path, default=Path("netrender-demo"), help="scene, farm and frames go here")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--slaves", type=int, default=2)
    p.add_argument("--blender", default="blender")
    return parser
