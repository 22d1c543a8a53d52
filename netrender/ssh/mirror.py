# SPDX-License-Identifier: GPL-3.0-or-later
"""A node's copy of the job files: each file crosses once per node, kept by its content hash.

On the node, under its work folder (absolute, resolved at :meth:`Mirror.prepare`)::

    cache/<sha256>                    one blob per content, whatever job or name it came with
    scripts/<digest>/driver.py …      what the node's Blender runs of netrender, by their digest
    work/<path under the slave's own folder>   the job's files, hard links to their blobs (a copy
                                      where links fail), and the outputs Blender writes

so a file's relative paths in a job stay as BAT laid them out, and a second
job of the same project sends no byte it sent before. :attr:`Mirror.sent_files`
and :attr:`sent_bytes` count what crossed.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
import threading
from collections.abc import Iterable
from pathlib import Path

import paramiko

from ..common.blobs import file_sha256
from ..node import blender
from .link import Link, SshError


class Mirror:
    """Where ``local_root`` (the slave's folder on this machine) is on the node, and its files put there."""

    def __init__(self, link: Link, local_root: Path, work_dir: str) -> None:
        self.link, self.local_root, self.work_dir = link, Path(local_root), work_dir
        self.root = ""  # the work folder, absolute on the node, once prepared
        self.known: set[str] = set()
        self.scripts = ""
        self.sent_files = 0
        self.sent_bytes = 0
        self._threads = threading.local()

    def prepare(self) -> None:
        """Make the folders, learn which blobs the node has, and put the scripts there."""
        quoted = shlex.quote(self.work_dir)
        out = self.link.check(f"mkdir -p {quoted}/cache {quoted}/work {quoted}/scripts && cd {quoted} && pwd && "
                              "ls cache")
        lines = out.splitlines()
        self.root = lines[0].strip()
        self.known = {name for name in lines[1:] if len(name) == 64}
        self.scripts = self._put_scripts()

    def remote(self, local: Path | str) -> str:
        """Where a path of this machine is on the node: under the work folder if it is the slave's, else as it is."""
        path = Path(os.path.abspath(local))
        try:
            relative = path.relative_to(self.local_root)
        except ValueError:
            return str(path)  # shared storage: the node sees it where the job names it
        return posixpath.join(self.root, "work", *relative.parts)

    def place(self, files: Iterable[tuple[Path, str | None]], folders: Iterable[Path] = ()) -> None:
        """Put each (local file, its sha256 or None) at its :meth:`remote` path, and make ``folders`` there.

        A blob the node lacks is uploaded (under a temporary name, then
        renamed, so a cut upload is never taken for the file); then one shell
        script links them all into place.
        """
        script = ["set -e"]
        for folder in folders:
            script.append(f"mkdir -p {shlex.quote(self.remote(folder))}")
        for local, sha in files:
            target = self.remote(local)
            if not target.startswith(self.root + "/"):
                continue  # not ours to place: shared storage
            sha = sha or file_sha256(local)
            if sha not in self.known:
                self._upload(local, sha)
            blob = shlex.quote(posixpath.join(self.root, "cache", sha))
            quoted = shlex.quote(target)
            script.append(f"mkdir -p {shlex.quote(posixpath.dirname(target))}; "
                          f"ln -f {blob} {quoted} 2>/dev/null || cp -f {blob} {quoted}")
        if len(script) > 1:
            self._run_script("\n".join(script) + "\n")

    def fetch(self, remote: str, local: Path) -> bool:
        """Copy a node's file here (whole or not at all); False if the node has no such file.

        Each thread fetches through an SFTP session of its own: frames come
        back in the background while the node's thread places the next job.
        """
        sftp = getattr(self._threads, "sftp", None)
        if sftp is None or sftp.sock.closed:
            sftp = self._threads.sftp = self.link.open_sftp()
        partial = local.with_name(f".{local.name}.part")
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            sftp.get(remote, str(partial))
        except FileNotFoundError:
            partial.unlink(missing_ok=True)
            return False
        except (OSError, paramiko.SSHException, EOFError) as exc:
            partial.unlink(missing_ok=True)
            raise SshError(f"{self.link.spec.name}: cannot fetch {remote}: {exc or type(exc).__name__}") from exc
        os.replace(partial, local)
        return True

    def clean(self, what: str = "outputs") -> str:
        """Remove on the node the jobs' outputs (``outputs``), or everything netrender keeps there (``all``)."""
        quoted = shlex.quote(self.root or self.work_dir)
        if what == "all":
            command = f"rm -rf {quoted}/cache {quoted}/work {quoted}/scripts"
        else:
            command = f"find {quoted}/work -type d -name output -prune -exec rm -rf {{}} + 2>/dev/null; true"
        return self.link.check(command, timeout=600.0)

    def _upload(self, local: Path, sha: str) -> None:
        sftp = self.link.sftp()
        final = posixpath.join(self.root, "cache", sha)
        partial = f"{final}.part"
        try:
            sftp.put(str(local), partial)
            sftp.posix_rename(partial, final)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise SshError(f"{self.link.spec.name}: cannot upload {local.name}: {exc or type(exc).__name__}") from exc
        self.known.add(sha)
        self.sent_files += 1
        self.sent_bytes += local.stat().st_size

    def _put_scripts(self) -> str:
        """netrender's in-Blender scripts in a folder named by their digest: sent once per version."""
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in blender.SCRIPTS)).hexdigest()[:16]
        folder = posixpath.join(self.root, "scripts", digest)
        sftp = self.link.sftp()
        try:
            sftp.stat(posixpath.join(folder, blender.DRIVER_SCRIPT.name))
            return folder
        except FileNotFoundError:
            pass
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise SshError(f"{self.link.spec.name}: cannot look into {folder}: {exc}") from exc
        self.link.check(f"mkdir -p {shlex.quote(folder)}")
        for script in blender.SCRIPTS:
            sftp.put(str(script), posixpath.join(folder, script.name))
        return folder

    def _run_script(self, script: str) -> None:
        done = self.link.run("sh -s", timeout=600.0, stdin=script.encode())
        if done.code != 0:
            raise SshError(f"{self.link.spec.name}: laying out the job's files failed: {done.output.strip()[-500:]}")

