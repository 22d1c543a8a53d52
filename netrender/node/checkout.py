# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's working copies: a job's files from Git or Subversion, a revision at a time, each file fetched once.

One working copy per remote lives in ``<slave>/vcs/<hash of the remote>/``
and is kept between jobs: Git fetches only the objects it lacks, Subversion
updates only what changed. The job gets its own copy of the revision's tree in
``job_<id>/files`` as hard links (no bytes copied): both tools replace a
changed file with a new one, so a job rendering from an older revision keeps
its files while the next job's are checked out.

Git LFS objects are pulled when ``git lfs`` is installed; a repository that
uses LFS on a slave without it fails the job's frames saying so, rather than
render the pointer files. The remote's credentials never reach a message:
every tool's output goes through :func:`netrender.common.vcs.hide`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from ..common import vcs
from ..common.errors import NetrenderError
from ..common.work import Assignment

#: Git may not run a remote's commands, nor ask for a password on a terminal nobody watches.
GIT = ["git", "-c", "protocol.ext.allow=never", "-c", "advice.detachedHead=false"]
SVN = ["svn", "--non-interactive"]
ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
TIMEOUT = 3600.0


class CheckoutFailed(NetrenderError):
    """The revision cannot be had here: the job's frames fail with this, and the master's rules retry them."""


@dataclass
class Checkout:
    folder: Path  # the job's copy of the tree
    fetched: int  # Git: objects fetched for this job; Subversion: files it updated
    unit: str  # "objects" or "files"

    def note(self, work: Assignment) -> str:
        return (f"netrender: files from {work.vcs} {vcs.redact(work.remote)} at {work.revision}: "
                f"{self.fetched} {self.unit} fetched for this job")


class WorkingCopies:
    """The working copies under ``root``; one checkout at a time per remote."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def checkout(self, work: Assignment, dest: Path) -> Checkout | None:
        """The job's tree at its revision in ``dest``, and what it took; ``None`` if ``dest`` has it already
        (a later chunk of the job: its Blender may be reading those files)."""
        key = hashlib.sha256(f"{work.vcs} {work.remote}".encode()).hexdigest()[:16]
        stamp = f"{key} {work.revision}"
        marker = dest.parent / "checkout"
        if marker.is_file() and marker.read_text(encoding="utf-8") == stamp and (dest / work.blend).is_file():
            return None
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            copy = self.root / key
            fetched = (self._git if work.vcs == "git" else self._svn)(work, copy)
            if dest.exists():
                shutil.rmtree(dest)
            _link_tree(copy, dest, skip=".git" if work.vcs == "git" else ".svn")
        if not (dest / work.blend).is_file():
            raise CheckoutFailed(f"{work.blend} is not in {vcs.redact(work.remote)} at {work.revision}")
        marker.write_text(stamp, encoding="utf-8")
        return Checkout(dest, fetched, "objects" if work.vcs == "git" else "paths")

    def _git(self, work: Assignment, copy: Path) -> int:
        if not (copy / ".git").is_dir():
            copy.mkdir(parents=True, exist_ok=True)
            self._run(work, [*GIT, "init", "-q", str(copy)])
            self._run(work, [*GIT, "-C", str(copy), "remote", "add", "origin", work.remote])
        before = _git_objects(copy)
        wanted = work.revision
        if self._run(work, [*GIT, "-C", str(copy), "fetch", "-q", "--no-tags", "origin", wanted], check=False):
            # Not a name the server gives out (a commit some servers will not fetch by itself): all it has, then.
            self._run(work, [*GIT, "-C", str(copy), "fetch", "-q", "--tags", "origin",
                             "+refs/heads/*:refs/remotes/origin/*"])
        else:
            wanted = "FETCH_HEAD"
        self._run(work, [*GIT, "-C", str(copy), "checkout", "-q", "--force", "--detach", wanted])
        self._run(work, [*GIT, "-C", str(copy), "clean", "-q", "-ffdx"])
        self._lfs(work, copy)
        return _git_objects(copy) - before

    def _lfs(self, work: Assignment, copy: Path) -> None:
        attributes = copy / ".gitattributes"
        if not attributes.is_file() or "filter=lfs" not in attributes.read_text(encoding="utf-8", errors="replace"):
            return
        if self._run(work, [*GIT, "-C", str(copy), "lfs", "version"], check=False):
            raise CheckoutFailed(f"{vcs.redact(work.remote)} keeps files in Git LFS, and git lfs is not installed "
                                 "on this slave (apt-get install git-lfs): its frames would render the pointers")
        self._run(work, [*GIT, "-C", str(copy), "lfs", "pull"])

    def _svn(self, work: Assignment, copy: Path) -> int:
        if (copy / ".svn").is_dir():
            said = self._run_out(work, [*SVN, "update", "-r", work.revision, str(copy)])
        else:
            said = self._run_out(work, [*SVN, "checkout", "-r", work.revision, work.remote, str(copy)])
        self._run(work, [*SVN, "revert", "-R", "-q", str(copy)])  # nothing local survives from an earlier job
        return sum(1 for line in said.splitlines() if line[:1] in "AUGR" and line[1:5].strip() == ""
                   and len(line) > 5)

    def _run(self, work: Assignment, argv: list[str], *, check: bool = True) -> int:
        return self._call(work, argv, check).returncode

    def _run_out(self, work: Assignment, argv: list[str]) -> str:
        return self._call(work, argv, True).stdout

    @staticmethod
    def _call(work: Assignment, argv: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=TIMEOUT,
                                  stdin=subprocess.DEVNULL, env={**os.environ, **ENV})
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CheckoutFailed(f"cannot run {argv[0]}: {vcs.hide(str(exc), work.remote)}") from exc
        if check and done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise CheckoutFailed(f"{argv[0]} could not get {work.revision} of {vcs.redact(work.remote)}: "
                                 f"{vcs.hide(said[-1] if said else f'exit code {done.returncode}', work.remote)}")
        return done


def _git_objects(copy: Path) -> int:
    """Objects in the repository, loose and packed."""
    done = subprocess.run(["git", "-C", str(copy), "count-objects", "-v"], capture_output=True, text=True,
                          check=True)
    counts = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return int(counts.get("count", 0)) + int(counts.get("in-pack", 0))


def _link_tree(source: Path, dest: Path, skip: str) -> None:
    """``source``'s files in ``dest`` as hard links (symbolic links as they are), without ``skip``."""
    for folder, dirs, files in os.walk(source):
        if skip in dirs:
            dirs.remove(skip)
        target = dest / os.path.relpath(folder, source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            src = os.path.join(folder, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), target / name)
            else:
                try:
                    os.link(src, target / name)
                except OSError:  # another file system
                    shutil.copy2(src, target / name)
