# SPDX-License-Identifier: GPL-3.0-or-later
"""A Blender kept open on an SSH node: the slave's session, with the process, the files and the frames over there.

Everything else is :class:`~netrender.node.session.BlenderSession`'s: the
driver's protocol, the token, the missing-files check, the log. Here: before
Blender starts, the job's files are placed on the node (:mod:`.mirror`); it
runs there through the node's SSH connection; its driver calls back on a port
of the node's loopback forwarded to this machine; each frame it saves (and
its thumbnail) is fetched here, where the slave uploads it as its own. Cut
the connection and Blender ends with it (the driver dies with its parent, the
SSH server's session); cancel the frame and it is killed on the node.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..node import blender
from ..node.session import BlenderSession, Listener, SessionSpec
from .link import Link
from .mirror import Mirror


class RemoteSession(BlenderSession):
    """One Blender on the node behind ``link``, for one job; ``sha_of`` knows the job files' hashes."""

    def __init__(self, spec: SessionSpec, log_path: Path, link: Link, mirror: Mirror,
                 sha_of: Callable[[str], str | None], **options: Any) -> None:
        super().__init__(spec, log_path, launch=link.start, **options)
        self.link, self.mirror, self.sha_of = link, mirror, sha_of

    fetches = True

    def _listen(self) -> Listener:
        return self.link.listener()

    def _argv(self, port: int) -> list[str]:
        spec = self.spec
        files = [(Path(spec.blend), self.sha_of(str(spec.blend)))]
        files += [(Path(path), self.sha_of(path)) for path in sorted(spec.sent) if os.path.isfile(path)]
        self.mirror.place(dict.fromkeys(files), folders=[spec.output_dir])
        return blender.session_argv(
            spec.blender, self.mirror.remote(spec.blend), self.mirror.remote(spec.output_dir), spec.engine,
            spec.threads, port, thumbnails=spec.thumbnails, allow_scripts=spec.allow_scripts,
            persistent_data=spec.persistent_data, scripts=self.mirror.scripts,
        )

    def _is_blend(self, loaded: object) -> bool:
        return isinstance(loaded, str) and posixpath.normpath(loaded) == self.mirror.remote(self.spec.blend)

    def _sent_paths(self) -> frozenset[str]:
        return frozenset(self.mirror.remote(path) for path in self.spec.sent)

    def _result(self, path: str, frame: int) -> Path:
        """Fetch the frame Blender saved on the node, and its thumbnail if it made one, beside the local output."""
        name = posixpath.basename(path)
        local = Path(self.spec.output_dir) / name
        if not self.mirror.fetch(path, local):
            raise FileNotFoundError(f"{self.link.spec.name} has no {path}")
        stem = name[: -len(".exr")] if name.endswith(".exr") else name
        thumbnail = posixpath.join(posixpath.dirname(path), f"{stem}.thumb.png")
        if self.spec.thumbnails:
            self.mirror.fetch(thumbnail, local.with_name(f"{stem}.thumb.png"))
        return local
