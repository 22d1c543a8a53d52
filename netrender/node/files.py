# SPDX-License-Identifier: GPL-3.0-or-later
"""A job's files on a slave: fetched by hash into its cache and laid out as on the client, or seen in place.

Files come from the master by SHA-256 into ``<path>/cache`` (so each crosses
once per slave, however many jobs use it) and are hard-linked under
``slave_<id>/job_<id>/files``; a job rendered in place on shared storage is
read where it is, through the slave's path map. Assignments come without the
job's file list, which :meth:`JobFiles.listed` reads once per job. :func:`sent_paths` says where
Blender will look for each of them, so that its missing-file lines can be
checked against them; :func:`publish` puts a finished frame in a shared
output folder.
"""

from __future__ import annotations

import os
import shutil
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from ..common import retry
from ..common.blobs import BlobStore
from ..common.errors import ApiError, HashMismatch, InvalidRequest, NetrenderError
from ..common.model import FileRef
from ..common.pathmap import PathMap
from ..common.retry import FETCH_BACKOFF
from ..common.work import Assignment, listing_from_json
from . import blender
from .checkout import CheckoutFailed, WorkingCopies
from .identity import Identity

LISTINGS_KEPT = 8  # jobs whose file lists a slave keeps (a slave renders few jobs at once)


class FetchFailed(NetrenderError):
    """A job file could not be fetched from the master after a few tries."""

    code = "fetch_failed"


class JobFiles(Identity):
    """The files part of :class:`~netrender.slave.Slave`, which provides what is declared here."""

    cache: BlobStore
    working_copies: WorkingCopies | None = None
    listings: OrderedDict[int, tuple[tuple[FileRef, ...], tuple[str, ...]]] | None = None  # see listed()
    #: Job id -> what checking its files out took, said at the top of its frames' logs.
    checkout_notes: dict[int, str]
    clock: Callable[[], float]
    sleep: Callable[[float], object]

    def listed(self, work: Assignment) -> Assignment:
        """``work`` with its job's file list, which assignments leave out: read from the master once per job.

        The last :data:`LISTINGS_KEPT` jobs' lists are kept; a job's next chunks need no request.

        :raise FetchFailed: the master refused (the job was removed) or sent a list that does not parse.
        :raise MasterUnreachable: as :meth:`fetch`.
        """
        if not work.listed:
            return work
        if self.listings is None:
            self.listings = OrderedDict()
        listing = self.listings.get(work.job_id)
        if listing is None:
            try:
                answer = retry.call(lambda: self.conn.get(f"/api/jobs/{work.job_id}/files"), FETCH_BACKOFF,
                                    sleep=self.sleep, clock=self.clock, retry_if=retry.server_fault)
                listing = listing_from_json(answer)
            except (ApiError, InvalidRequest) as exc:
                raise FetchFailed(f"cannot read the list of job {work.job_id}'s files from the master: {exc}") from exc
            self.listings[work.job_id] = listing
            while len(self.listings) > LISTINGS_KEPT:
                self.listings.popitem(last=False)
        self.listings.move_to_end(work.job_id)
        return work.with_listing(*listing)

    def fetch(self, work: Assignment) -> Path:
        """Lay the job's files out under ``job_<id>/files``; return the main .blend's path.

        Each missing file is downloaded into the cache, tried again a few
        times if the master fails (``FETCH_BACKOFF``).

        :raise FetchFailed: the master answered with an error every time, or
            sent bytes that do not hash right: the chunk cannot render here.
        :raise MasterUnreachable: the master cannot be reached (the chunk is
            given back, as for any lost connection).
        """
        if work.vcs:
            return self._checkout(work)
        if work.shared:
            local = self.config.path_map.local
            unseen = [path for path in (work.blend, *work.found) if not os.path.exists(local(path))]
            if unseen:
                raise FetchFailed(f"this slave cannot see the job's file {local(unseen[0])} (the client's "
                                  f"{unseen[0]}){f' and {len(unseen) - 1} more' if len(unseen) > 1 else ''} on "
                                  "shared storage: mount it, or map its path with --path-map")
            return Path(local(work.blend))
        root = self.folder / f"job_{work.job_id}" / "files"
        for ref in work.files:
            if not self.cache.has(ref.sha256):
                self.on_status(f"downloading {ref.path}")
                try:
                    retry.call(lambda ref=ref: self.conn.download(  # type: ignore[misc]
                        f"/api/files/{ref.sha256}", self.cache.path(ref.sha256), expect_sha256=ref.sha256),
                        FETCH_BACKOFF, sleep=self.sleep, clock=self.clock, retry_if=retry.server_fault)
                except (ApiError, HashMismatch) as exc:
                    raise FetchFailed(f"cannot fetch the job's file {ref.path!r} from the master: {exc}") from exc
            dest = root / ref.path
            if not dest.is_file() or dest.stat().st_size != ref.size:
                self.cache.link(ref.sha256, dest)
        return root / work.blend

    def _checkout(self, work: Assignment) -> Path:
        """The job's files from version control, checked out once per job (see :mod:`.checkout`)."""
        if self.working_copies is None:
            self.working_copies = WorkingCopies(self.folder / "vcs")
        files = self.folder / f"job_{work.job_id}" / "files"
        self.on_status(f"checking out {work.blend} at {work.revision}")
        try:
            done = self.working_copies.checkout(work, files)
        except CheckoutFailed as exc:
            raise FetchFailed(str(exc)) from exc
        if done is not None:
            self.checkout_notes[work.job_id] = done.note(work)
        return files / work.blend

    def _sent(self, work: Assignment, job_dir: Path) -> frozenset[str]:
        return sent_paths(work, job_dir / "files", self.config.path_map)


def sent_paths(work: Assignment, root: Path, path_map: PathMap) -> frozenset[str]:
    """The job's files as Blender will look for them: absolute and normalised, like its missing-file lines.

    Those the job carries, laid out under ``root``; or, for a job rendered in
    place, those its client found on shared storage, as this slave sees them.
    """
    if work.listed:  # an empty list would hide every missing file of the job's from the check
        raise ValueError(f"job {work.job_id}'s files were never read: call JobFiles.listed first")
    if work.shared:  # where this slave sees them, and where the client did: a .blend may name either
        return frozenset(os.path.normpath(p) for path in work.found for p in (path_map.local(path), path))
    return frozenset(os.path.normpath(root / ref.path) for ref in work.files)


def publish(saved: Path, folder: Path, frame: int) -> Path:
    """Put a finished frame into a shared output folder, whole or not at all (a temporary name, then a rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = blender.frame_file(folder, frame)
    partial = final.with_name(f".{final.name}.part")
    shutil.copyfile(saved, partial)
    os.replace(partial, final)
    return final
