# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender as a subprocess: the command line, its output, and stopping it.

:func:`render_argv` (one process per chunk) and :func:`session_argv` (one
persistent process per job, driven by :mod:`netrender.node.session`) are pure and
their results are asserted exactly by the tests.
:func:`run` starts Blender, writes everything it prints to a log, and kills it
when asked to stop (cancellation) within one poll interval.
"""

from __future__ import annotations

import ctypes
import os
import posixpath
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Blender's line after writing a frame: ``Saved: '/path/000001.exr'``.
SAVED_RE = re.compile(r"^Saved: '(?P<path>.+)'")
#: Blender's lines when a file cannot be opened.
LOAD_ERROR_RE = re.compile(r"^(Error: (Cannot read file|Failed to read blend file|File format is not supported).*)")
#: Blender's lines for a file the loaded .blend names but that is not there: a missing file (from
#: ``report_missing_files``, which 4.x follows with ", from linked data-block …") or library.
MISSING_RE = re.compile(r"^Warning: (?:Path '(?P<path>.+)' not found(?:$|, from )|Unable to open '(?P<lib>.+)': )")
OUTPUT_PATTERN = "######"
#: Run inside the slave's Blender by ``render_argv(..., thumbnails=True)``; absolute,
#: since Blender resolves ``--python`` against its own working directory.
THUMBNAIL_SCRIPT = Path(__file__).resolve().parent / "in_blender" / "thumbnails.py"
#: Run first by both command lines: Blender lists what the file names but cannot find (see :func:`missing_sent`).
MISSING_SCRIPT = THUMBNAIL_SCRIPT.with_name("missing.py")
#: Run last by :func:`session_argv`: it keeps Blender and its loaded file, rendering frames on request.
DRIVER_SCRIPT = THUMBNAIL_SCRIPT.with_name("driver.py")
#: Run first by a slave that renders on one Cycles device only (``slave --gpus``).
DEVICE_SCRIPT = THUMBNAIL_SCRIPT.with_name("device.py")
#: Lists, bakes and installs point caches (``bake`` jobs, and a render after one).
CACHES_SCRIPT = THUMBNAIL_SCRIPT.with_name("caches.py")
#: Renders the frames no other process has claimed in a shared folder (``render-local``).
CLAIM_SCRIPT = THUMBNAIL_SCRIPT.with_name("claim.py")
#: What a Blender on another machine needs of this package: the scripts it runs.
SCRIPTS = (MISSING_SCRIPT, THUMBNAIL_SCRIPT, DRIVER_SCRIPT, DEVICE_SCRIPT)
#: The environment variable that hands the driver its token.
SESSION_TOKEN_ENV = "NETRENDER_SESSION_TOKEN"


def render_argv(
    blender: str,
    blend: Path | str,
    output_dir: Path | str,
    engine: str,
    threads: int,
    frames: Sequence[int],
    *,
    thumbnails: bool = False,
    allow_scripts: bool = False,
    device: bool = False,
) -> list[str]:
    """The command line that renders ``frames`` of ``blend`` to multilayer EXR.

    Order matters to Blender: the file is loaded first, then the options change
    its scene, then ``-f`` renders. ``--disable-autoexec`` keeps scripts inside
    an untrusted file from running; ``-x 1`` adds the ``.exr`` extension, so a
    frame lands as ``<output_dir>/000001.exr``.

    ``allow_scripts`` lets the file's own auto-run scripts run
    (``--enable-autoexec``); the slave passes it only when both the job and
    the slave allow scripts.

    With ``thumbnails`` our own script (``--disable-autoexec`` does not block a
    ``--python`` one) runs just before ``-f``, after the file has loaded, and
    writes :func:`thumbnail_file` beside each frame.

    Our missing-files script always runs first, so Blender's log says which
    files the .blend names but are not there (:func:`missing_sent` reads it).
    """
    return [
        *_scene_argv(blender, blend, output_dir, engine, threads, allow_scripts),
        *_script_argv(thumbnails=thumbnails, device=device),
        "-f", ",".join(str(f) for f in frames),
    ]


def session_argv(
    blender: str,
    blend: Path | str,
    output_dir: Path | str,
    engine: str,
    threads: int,
    port: int,
    *,
    thumbnails: bool = False,
    allow_scripts: bool = False,
    persistent_data: bool = False,
    scripts: str | None = None,
    device: bool = False,
) -> list[str]:
    """The command line of a persistent Blender that renders frames on request (see :mod:`netrender.node.session`).

    It is :func:`render_argv` without ``-f``: the same options, so the scene
    is set up exactly as for a one-off render, then :data:`DRIVER_SCRIPT` runs
    last and connects back to the slave on loopback ``port``. Its token is not
    here but in the :data:`SESSION_TOKEN_ENV` environment variable: any user
    on the machine can read another's command line, only its owner its
    environment.
    """
    driver = str(DRIVER_SCRIPT) if scripts is None else posixpath.join(scripts, DRIVER_SCRIPT.name)
    return [
        *_scene_argv(blender, blend, output_dir, engine, threads, allow_scripts),
        *_script_argv(thumbnails=thumbnails, scripts=scripts, device=device),
        "--python", driver,
        "--", str(port), *(["--persistent-data"] if persistent_data else []),
    ]


def caches_argv(blender: str, blend: Path | str, threads: int, action: Sequence[str], report: Path | str, *,
                allow_scripts: bool = False) -> list[str]:
    """The command line that runs :data:`CACHES_SCRIPT` on ``blend``: ``action`` is ``list``,
    ``bake OBJECT CACHE`` or ``install MANIFEST``; its findings go to the JSON file ``report``.

    The file's own scripts stay off unless allowed, as for a render (a driver
    may move what the simulation collides with), ``-t`` gives the bake the
    slave's threads, and the missing-files report comes first, as for a render.
    """
    return [blender, "-b", str(blend), "--enable-autoexec" if allow_scripts else "--disable-autoexec", "-noaudio",
            "-t", str(threads), "--python-exit-code", "1", "--python", str(MISSING_SCRIPT),
            "--python", str(CACHES_SCRIPT), "--", *action, "--report", str(report)]


def claim_argv(blender: str, blend: Path | str, threads: int, output: Path | str, frames: Sequence[int]) -> list[str]:
    """A ``render-local`` worker: the file's scripts off, its threads, then :data:`CLAIM_SCRIPT`, which renders
    each of ``frames`` no other process has claimed in ``output``."""
    return [blender, "-b", str(blend), "--disable-autoexec", "-noaudio", "-t", str(threads),
            "--python-exit-code", "1", "--python", str(CLAIM_SCRIPT), "--", str(output), *map(str, frames)]


def _scene_argv(blender: str, blend: Path | str, output_dir: Path | str, engine: str, threads: int,
                allow_scripts: bool) -> list[str]:
    """Load the file and set up its scene for the farm: shared so both modes render the same pixels."""
    return [
        blender,
        "-b",
        str(blend),
        "--enable-autoexec" if allow_scripts else "--disable-autoexec",
        "-noaudio",
        "-E", engine,
        "-t", str(threads),
        "-o", os.path.join(str(output_dir), OUTPUT_PATTERN),
        "-F", "OPEN_EXR_MULTILAYER",
        "-x", "1",
    ]


def _script_argv(*, thumbnails: bool, scripts: str | None = None, device: bool = False) -> list[str]:
    """Our ``--python`` scripts, the missing-files report first: it belongs with the file's loading.

    ``device``: the slave renders on one Cycles device (``DEVICE_SCRIPT`` first, told by its environment).
    ``scripts``: the folder holding them where Blender runs (another machine's, over SSH); else this package's.
    """
    def where(script: Path) -> str:
        return str(script) if scripts is None else posixpath.join(scripts, script.name)

    return [*(["--python", where(DEVICE_SCRIPT)] if device else []), "--python", where(MISSING_SCRIPT),
            *(["--python", where(THUMBNAIL_SCRIPT)] if thumbnails else [])]


def _die_with_parent() -> None:
    """Linux: Blender gets SIGKILL if its slave dies, rather than render on for nobody.

    Its own session keeps it from the slave's Ctrl-C; this keeps it from
    outliving a slave that was killed outright (SIGKILL, out of memory).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1


def frame_file(output_dir: Path, frame: int) -> Path:
    """Where Blender writes ``frame`` given ``render_argv``'s ``-o``."""
    return output_dir / f"{frame:06d}.exr"


def thumbnail_file(output_dir: Path, frame: int) -> Path:
    """Where the thumbnails script writes ``frame``'s PNG, next to :func:`frame_file`."""
    return output_dir / f"{frame:06d}.thumb.png"


#: Blender's line when a frame is written: `` Time: 01:02.35 (Saving: 00:00.10)``.
TIME_RE = re.compile(r"^Time: (?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)")


def render_seconds(lines: Iterable[str]) -> float | None:
    """The render time Blender printed last (its own clock: loading the file not counted); ``None`` if none."""
    found = None
    for line in lines:
        match = TIME_RE.match(line.strip())
        if match:
            found = int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + float(match["s"])
    return found


def saved_path(line: str) -> str | None:
    match = SAVED_RE.match(line.strip())
    return match.group("path") if match else None


def load_error(line: str) -> str | None:
    match = LOAD_ERROR_RE.match(line.strip())
    return match.group(1) if match else None


def missing_path(line: str) -> str | None:
    """The path in Blender's line about a file it cannot find; ``None`` for any other line."""
    match = MISSING_RE.match(line.strip())
    return None if match is None else match.group("path") or match.group("lib")


def missing_sent(lines: Iterable[str], sent: Collection[str]) -> list[str]:
    """Blender's lines saying that a file of ``sent`` (absolute, normalised paths) is not there.

    A job renders without the files its client could not find, as Blender
    would on the artist's machine; but a file the client did send must be
    there, or the frame would come out wrong while looking finished. Blender
    prints absolute paths, relative ones resolved against their own library.
    """
    out = []
    for line in lines:
        path = missing_path(line)
        if path is not None and os.path.normpath(path) in sent:
            out.append(line.strip())
    return list(dict.fromkeys(out))


def missing_message(lines: list[str]) -> str:
    """A frame's error when Blender lacks files the job carries: Blender's own words first."""
    shown = "; ".join(lines[:5]) + (f"; and {len(lines) - 5} more" if len(lines) > 5 else "")
    return f"{shown} (Blender cannot find files the job carries: the slave's copy of the job is incomplete)"


def popen(argv: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start Blender with its output piped line by line, as :func:`run` and the sessions need it.

    ``env`` is added to the slave's own environment.
    """
    return subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, errors="replace", bufsize=1, env=None if env is None else {**os.environ, **env},
        # Its own session: a Ctrl-C meant for the slave must not kill the render
        # behind its back; the slave decides (via should_stop) what happens to it.
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


@dataclass
class RunResult:
    returncode: int
    cancelled: bool
    saved: list[str]
    error: str | None
    seconds: float
    missing: list[str] = field(default_factory=list)  # Blender's lines about files it cannot find


def run(
    argv: Sequence[str],
    log_path: Path,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_line: Callable[[str], None] = lambda line: None,
    poll: float = 0.5,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run Blender to completion, logging its output; kill it once ``should_stop()``.

    ``should_stop`` is asked every ``poll`` seconds while Blender runs, so a
    cancelled job stops within about that time. Output is read on a thread so
    a chatty Blender never blocks on a full pipe.
    """
    started = time.monotonic()
    result = RunResult(returncode=-1, cancelled=False, saved=[], error=None, seconds=0.0)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        proc = popen(argv, env)

        def read_output() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                on_line(line)
                path = saved_path(line)
                if path:
                    result.saved.append(path)
                result.error = result.error or load_error(line)
                if missing_path(line) is not None:
                    result.missing.append(line)

        reader = threading.Thread(target=read_output, name="blender-output", daemon=True)
        reader.start()
        while True:
            try:
                proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                if should_stop():
                    result.cancelled = True
                    proc.kill()
                    proc.wait()
                    break
        reader.join(timeout=10)
    result.returncode = proc.returncode
    result.seconds = time.monotonic() - started
    return result
