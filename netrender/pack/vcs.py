# SPDX-License-Identifier: GPL-3.0-or-later
"""Which repository a .blend is in, as a versioned job names it: the system, remote, revision and path.

The add-on's *Refresh* and ``netrender submit --vcs`` fill the job's three
settings from here. The farm renders what is committed (and, for Git, pushed
to the remote): changes only in the artist's working copy are listed, so the
artist is told they will not be in the render.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from ..common.errors import NetrenderError


class NotVersioned(NetrenderError):
    """The file is not in a working copy this machine's tools can read."""


@dataclass
class Repository:
    system: str  # "git" or "svn"
    remote: str
    revision: str
    path: str  # the .blend's path in the repository, with "/"
    changed: list[str] = field(default_factory=list)  # files changed here but not committed


def _out(argv: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=60,
                              stdin=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NotVersioned(f"cannot run {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise NotVersioned(said[-1] if said else f"{argv[0]} failed ({done.returncode})")
    return done.stdout.rstrip()  # the first line may start with a space (git status --porcelain)


def detect(blend: Path, system: str = "auto", remote: str = "", revision: str = "") -> Repository:
    """The repository ``blend`` is in; ``remote`` and ``revision`` replace what the working copy says."""
    blend = Path(os.path.abspath(blend))
    folder = blend.parent
    tried = []
    for name in (("git", "svn") if system == "auto" else (system,)):
        if shutil.which(name) is None:
            tried.append(f"{name} is not installed")
            continue
        try:
            return (_git if name == "git" else _svn)(blend, folder, remote, revision)
        except NotVersioned as exc:
            tried.append(f"{name}: {exc}")
    raise NotVersioned(f"{blend} is not in a Git or Subversion working copy ({'; '.join(tried)})")


def _git(blend: Path, folder: Path, remote: str, revision: str) -> Repository:
    top = Path(_out(["git", "rev-parse", "--show-toplevel"], folder))
    path = blend.relative_to(top.resolve() if not blend.is_relative_to(top) else top).as_posix()
    remote = remote or _out(["git", "remote", "get-url", "origin"], folder)
    revision = revision or _out(["git", "rev-parse", "HEAD"], folder)
    changed = [line[3:] for line in _out(["git", "status", "--porcelain", "--untracked-files=no"], folder)
               .splitlines() if line]
    return Repository("git", remote, revision, path, changed)


def _svn(blend: Path, folder: Path, remote: str, revision: str) -> Repository:
    info = ElementTree.fromstring(_out(["svn", "info", "--xml", str(blend)], folder))
    entry = info.find("entry")
    root = info.findtext("entry/repository/root") or ""
    url = info.findtext("entry/url") or ""
    top = info.findtext("entry/wc-info/wcroot-abspath") or ""
    if entry is None or not url or not top:
        raise NotVersioned("svn info says nothing of the file")
    path = blend.relative_to(Path(top)).as_posix()
    top_url = url[: len(url) - len(path)].rstrip("/") if url.endswith(path) else root
    # The newest commit any file of the working copy comes from ("2:7M" means 2 to 7, changed here).
    revision = revision or _out(["svnversion", "-c", top], folder).split(":")[-1].rstrip("MSP")
    changed = [line[8:] for line in _out(["svn", "status", "-q", top], folder).splitlines() if line]
    return Repository("svn", remote or top_url, revision, path, changed)
