# SPDX-License-Identifier: GPL-3.0-or-later
"""Session folders, as Surrender keeps them: a job's frames, one log per host, and a summary, on the client.

``netrender submit --session [NAME]`` makes ``<sessions>/<NAME>/`` (NAME
defaults to the start time, ``YYYY_MM_DD_HH_mm_ss``) and, once the job ends,
fills it::

    session.json          which master and job, which file, when
    frames/000001.exr …   the finished frames
    <host>_log.txt        Blender's log of every frame that host rendered, in frame order
    summary.txt           frames and seconds per host, the slowest and fastest frame, the wall time,
                          and the speed-up over the sum of the render times

``netrender results --session NAME`` fills it again from the master;
``netrender clean --session NAME --local`` removes it. :func:`summarise` is
pure, so the numbers are tested without a farm.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client import Client
from ..common.errors import InvalidConfig

STAMP = "%Y_%m_%d_%H_%M_%S"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class HostLine:
    host: str
    frames: int
    seconds: float


@dataclass
class Summary:
    hosts: list[HostLine]
    slowest: tuple[int, float, str] | None  # task number, render seconds, host
    fastest: tuple[int, float, str] | None
    wall: float  # from the first task handed out to the last one done
    render_total: float  # the render times added up

    @property
    def speedup(self) -> float:
        return self.render_total / self.wall if self.wall > 0 else 0.0


def summarise(job: dict[str, Any], names: dict[str, str]) -> Summary:
    """The numbers of a finished job's tasks (its detail); ``names``: slave id -> the name to show."""
    done = [t for t in job["frames"] if t["status"] == "done" and t.get("render_time") is not None]
    hosts: dict[str, HostLine] = {}
    for task in done:
        host = names.get(task["slave_id"], task["slave_id"] or "?")
        line = hosts.setdefault(host, HostLine(host, 0, 0.0))
        line.frames += 1
        line.seconds += task["render_time"]
    timed = sorted(done, key=lambda t: (t["render_time"], t["number"]))

    def pick(task: dict[str, Any]) -> tuple[int, float, str]:
        return task["number"], task["render_time"], names.get(task["slave_id"], task["slave_id"] or "?")

    starts = [t["dispatched_at"] for t in done if t.get("dispatched_at") is not None]
    ends = [t["finished_at"] for t in done if t.get("finished_at") is not None]
    return Summary(hosts=sorted(hosts.values(), key=lambda h: h.host),
                   slowest=pick(timed[-1]) if timed else None, fastest=pick(timed[0]) if timed else None,
                   wall=max(ends) - min(starts) if starts and ends else 0.0,
                   render_total=sum(t["render_time"] for t in done))


def format_summary(summary: Summary, job: dict[str, Any]) -> str:
    lines = [f"job {job['id']} ({job.get('name') or job.get('blend', '')}): {job['status']}, "
             f"{job['frame_count']['done']} of {job['frame_count']['total']} done", "",
             f"{'host':<32} {'frames':>6} {'seconds':>9} {'s/frame':>8}"]
    for host in summary.hosts:
        lines.append(f"{host.host:<32} {host.frames:>6} {host.seconds:>9.2f} {host.seconds / host.frames:>8.2f}")
    lines.append("")
    for label, item in (("slowest", summary.slowest), ("fastest", summary.fastest)):
        if item is not None:
            lines.append(f"{label} frame: {item[0]}, {item[1]:.2f} s on {item[2]}")
    lines.append(f"wall time: {summary.wall:.2f} s; render time added up: {summary.render_total:.2f} s; "
                 f"speed-up: {summary.speedup:.2f}x")
    return "\n".join(lines) + "\n"


def host_file(host: str) -> str:
    """``<host>_log.txt``, the host made safe for a file name on any system."""
    return re.sub(r"[^A-Za-z0-9@._-]", "_", host) + "_log.txt"


class SessionFolder:
    """One session's folder under ``root``."""

    def __init__(self, root: Path, name: str) -> None:
        if not NAME_RE.match(name):
            raise InvalidConfig(f"{name!r} is not a session name: letters, digits, '.', '_' and '-' only")
        self.name, self.path = name, Path(root) / name

    @classmethod
    def new(cls, root: Path, name: str, now: float | None = None) -> SessionFolder:
        folder = cls(root, name or time.strftime(STAMP, time.localtime(now)))
        if folder.path.exists():
            raise InvalidConfig(f"session {folder.name} exists already in {root}: choose another name, or "
                                f"remove it (netrender clean --session {folder.name} --local)")
        folder.path.mkdir(parents=True)
        return folder

    @classmethod
    def existing(cls, root: Path, name: str) -> SessionFolder:
        folder = cls(root, name)
        if not (folder.path / "session.json").is_file():
            raise InvalidConfig(f"there is no session {name} in {root}")
        return folder

    @property
    def info(self) -> dict[str, Any]:
        return json.loads((self.path / "session.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def start(self, master: str, job: dict[str, Any], blend: Path) -> None:
        (self.path / "session.json").write_text(json.dumps({
            "name": self.name, "master": master, "job": job["id"], "blend": str(blend),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }, indent=1) + "\n", encoding="utf-8")

    def fill(self, client: Client, job_id: int) -> Summary:
        """Fetch the job's frames, write a log per host and the summary; return it."""
        job = client.job(job_id)
        names = {s["id"]: s["name"] for s in client.slaves()}
        frames = self.path / "frames"
        shutil.rmtree(frames, ignore_errors=True)
        client.download(job_id, frames)
        for old in self.path.glob("*_log.txt"):
            old.unlink()
        logs: dict[str, list[str]] = {}
        for task in sorted(job["frames"], key=lambda t: t["number"]):
            if task["slave_id"] is None:
                continue
            host = names.get(task["slave_id"], task["slave_id"])
            text = client.conn.request("GET", f"/api/jobs/{job_id}/frames/{task['number']}/log").text
            seconds = f", {task['render_time']:.2f} s" if task.get("render_time") is not None else ""
            logs.setdefault(host, []).append(f"==== job {job_id} frame {task['number']}: {task['status']}{seconds}"
                                             f" ====\n{text.rstrip()}\n")
        for host, parts in logs.items():
            (self.path / host_file(host)).write_text("\n".join(parts), encoding="utf-8")
        summary = summarise(job, names)
        (self.path / "summary.txt").write_text(format_summary(summary, job), encoding="utf-8")
        return summary

    def remove(self) -> None:
        shutil.rmtree(self.path)
