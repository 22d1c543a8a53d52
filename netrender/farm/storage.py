# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's view of storage it shares with clients and slaves.

On a farm whose machines mount the same project storage, files need not cross
the network to be rendered. The master is told which folders are shared
(``--storage-root``) and where a client's paths are on this machine
(``--path-map``, :mod:`netrender.common.pathmap`); it then

- takes a file a client offers by path into its store by a local copy instead
  of an upload, once it has checked the bytes hash as the client said (unless
  ``force_upload``, the original add-on's *Force Dependency Upload*);
- accepts jobs rendered in place (``shared``): their .blend must be a file it
  can see under a root, and their output folder must lie under one.

It reads nothing outside its roots: a path is followed through its symlinks
before it is checked, so none can lead out, and only regular files are read.
Without a root the master shares nothing and every file is uploaded.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common import validation as v
from ..common.blobs import BlobStore, read_chunks
from ..common.errors import HashMismatch, InvalidRequest
from ..common.pathmap import PathMap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Offer:
    """A file the client has at ``path`` (its own path), which the master may copy instead of receiving."""

    sha256: str
    size: int
    path: str

    @classmethod
    def from_json(cls, data: Any) -> Offer:
        data = v.json_object(data, "source")
        return cls(v.sha256_hex(data.get("sha256")), v.int_in(data, "size", 0, 2**50),
                   v.client_path(data.get("path"), "path"))


@dataclass(frozen=True)
class SharedStorage:
    roots: tuple[Path, ...] = ()
    path_map: PathMap = field(default_factory=PathMap)
    force_upload: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(Path(os.path.realpath(r)) for r in self.roots))

    def locate(self, client_path: str) -> Path | None:
        """Where the client's path is on this machine, if that is under a shared root; else ``None``."""
        if not self.roots:
            return None
        try:
            local = Path(os.path.realpath(self.path_map.local(client_path)))
        except (OSError, ValueError):  # a name this system cannot hold, or a link loop
            return None
        return local if any(local.is_relative_to(root) for root in self.roots) else None

    def adopt(self, blobs: BlobStore, offers: list[Offer], limit: int | None = None) -> list[str]:
        """Copy into ``blobs`` the offered files this master can read with the right bytes; their hashes.

        A file that is not there, not a regular file, of another size or other
        bytes is simply left for the client to upload.
        """
        if self.force_upload or not self.roots:
            return []
        adopted = []
        for offer in offers:
            if blobs.has(offer.sha256):
                continue
            local = self.locate(offer.path)
            try:
                if local is None or not stat.S_ISREG((st := local.stat()).st_mode) or st.st_size != offer.size:
                    continue
                with open(local, "rb") as fh:
                    blobs.put(offer.sha256, read_chunks(fh), limit=limit)
            except (OSError, HashMismatch) as exc:
                log.info("not taking %s from shared storage: %s", offer.path, exc)
                continue
            adopted.append(offer.sha256)
        return adopted

    def check_job(self, blend: str, output_dir: str, shared: bool) -> None:
        """A job may render in place, or write to a shared folder, only where this master shares storage.

        :raise InvalidRequest: naming what is wrong.
        """
        if not (shared or output_dir):
            return
        if not self.roots:
            raise InvalidRequest("this master shares no storage (start it with --storage-root): "
                                 "jobs cannot render in place or write frames to a shared folder")
        if shared:
            local = self.locate(blend)
            if local is None or not local.is_file():
                raise InvalidRequest(f"the master cannot see {blend} in its shared storage "
                                     f"({', '.join(map(str, self.roots))}); check its --storage-root and --path-map")
        if output_dir and self.locate(output_dir) is None:
            raise InvalidRequest(f"the output folder {output_dir} is not in the master's shared storage "
                                 f"({', '.join(map(str, self.roots))})")
