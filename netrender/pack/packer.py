# SPDX-License-Identifier: GPL-3.0-or-later
"""A job's files, packed by blender-asset-tracer (BAT) so that every path a slave's Blender reads is inside the job.

Paths in a studio's files are written in many ways: relative to the shot,
relative to each library (``//textures/skin.png`` inside
``assets/props/props.blend`` means ``assets/props/textures/skin.png``),
absolute (``/srv/fonts/…``, ``P:\\lib\\…``), in modifiers, caches, sequencer
strips, volumes and fonts. BAT knows them all: its :class:`Packer` decides
where each file goes (``strategise``), then writes a copy of every .blend
whose paths must change and hands each file to a *transfer* (``execute``).

Here the transfer is :class:`_Transfer`: it copies nothing, but names each
file in the job, hashes it (through :class:`~netrender.pack.hashes.HashCache`)
and gives the list to a ``send`` function, which uploads by SHA-256 only what
the master lacks. The rewritten .blend copies live in BAT's temporary folder
until :func:`pack` returns, so ``send`` runs inside it.

The job's root (:func:`project_root`) is the deepest folder holding the .blend
and everything it reaches by a relative path, so those files keep their places
and their .blend files need no rewriting: an unchanged project packs to the
same bytes every time, and a resubmit uploads nothing. Files written with an
absolute path go under ``_outside_project/`` and the .blend files naming them
are rewritten to find them there.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from blender_asset_tracer import blendfile, bpathlib
from blender_asset_tracer import pack as bat_pack
from blender_asset_tracer import trace as bat_trace
from blender_asset_tracer.pack import progress as bat_progress
from blender_asset_tracer.pack import transfer

from ..common.blobs import file_sha256
from ..common.errors import NetrenderError
from .hashes import HashCache

log = logging.getLogger(__name__)

#: BAT's folder for files that sit outside the project (``Packer._find_new_paths``).
OUTSIDE = "_outside_project"
#: Threads hashing a job's files at once: the disk and two cores are busy enough with four.
HASHERS = 4


class PackError(NetrenderError):
    """The .blend cannot be read, or its files cannot be packed."""

    code = "pack_error"
    status = 400


class MissingDependencies(PackError):
    """A strict pack: the .blend names files that are not there."""

    code = "missing_dependencies"

    def __init__(self, missing: list[Path]) -> None:
        listed = "\n  ".join(str(p) for p in missing)
        super().__init__(f"the .blend names {len(missing)} file(s) that do not exist:\n  {listed}",
                         details={"missing": [str(p) for p in missing]})
        self.missing = missing


@dataclass(frozen=True)
class LocalFile:
    """One file of a job: where its bytes are read from, its name in the job, its hash and size."""

    abspath: Path
    path: str
    sha256: str
    size: int

    def ref(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass
class Pack:
    """A packed job: its files (the .blend first), and what the .blend names but could not be found."""

    root: Path
    blend: str
    files: list[LocalFile]
    missing: list[Path]


#: Receives every file of the job, once all are hashed; uploads what the master lacks.
Send = Callable[[list[LocalFile]], None]


def project_root(blend: Path) -> Path:
    """The deepest folder holding ``blend`` and every existing file it or its libraries reach by a relative path.

    Files inside it keep their relative places in the job, so a library at
    ``//../../assets/props/props.blend`` and its own ``//textures/skin.png``
    resolve on the slave exactly as on the artist's machine, unchanged.
    Folders on different drives have no common folder: then the .blend's own
    folder is the root, and BAT rewrites the paths that leave it.
    """
    blend = bpathlib.make_absolute(blend)
    folders = [str(blend.parent)]
    try:
        for usage in bat_trace.deps(blend):
            if not usage.asset_path.is_blendfile_relative():
                continue
            path = Path(os.path.normpath(usage.abspath))
            folder = path if path.is_dir() else path.parent
            if folder.is_dir():
                folders.append(str(folder))
        return Path(os.path.commonpath(folders))
    except ValueError:
        return blend.parent
    except blendfile.exceptions.BlendFileError as exc:
        raise PackError(f"cannot read {blend.name}: {exc}") from exc


class _Transfer(transfer.FileTransferer):
    """BAT's transfer stage made into a manifest: each file named and hashed, then all handed to ``send``.

    BAT queues files one by one to a thread that copies them; here nothing is
    copied, so a file queued is only noted, and once BAT is done they are
    hashed by a few threads at once (``hashlib`` lets go of the interpreter
    lock while it hashes) before ``send`` gets them all.
    """

    def __init__(self, target: PurePath, hashes: HashCache, send: Send) -> None:
        super().__init__()
        self.name = "netrender-pack"
        self.target, self.hashes, self.send = target, hashes, send
        self.queued: dict[str, tuple[Path, bool]] = {}  # name in the job -> source, rewritten by BAT
        self.files: list[LocalFile] = []
        self.failure: BaseException | None = None

    def queue_copy(self, src: Path, dst: PurePath) -> None:
        # BAT queues a sequence's first file twice: as the asset and in its sequence.
        self.queued.setdefault(PurePath(dst).relative_to(self.target).as_posix(), (src, False))

    def queue_move(self, src: Path, dst: PurePath) -> None:
        self.queued[PurePath(dst).relative_to(self.target).as_posix()] = (src, True)

    def run(self) -> None:
        try:
            while not self.done.wait(0.05):
                if self._abort.is_set():
                    return
            with ThreadPoolExecutor(max_workers=HASHERS, thread_name_prefix="netrender-hash") as pool:
                self.files = list(pool.map(self._hashed, self.queued, *zip(*self.queued.values(), strict=True)))
            if self._abort.is_set():
                return
            self.hashes.save()
            self.send(self.files)
        except BaseException as exc:  # raised again by pack(), on the caller's thread
            self.failure = exc
            self.error_set(f"{type(exc).__name__}: {exc}")

    def _hashed(self, name: str, src: Path, rewritten: bool) -> LocalFile:
        if rewritten:  # a .blend BAT rewrote, in its temporary folder: new every time, never in the cache
            _decompress(src)
            sha = file_sha256(src)
        else:
            sha = self.hashes.sha256(src)
        return LocalFile(src, name, sha, src.stat().st_size)


def _decompress(path: Path) -> None:
    """Store a rewritten gzip .blend uncompressed, so the same project packs to the same bytes every time.

    BAT writes a changed compressed .blend back as gzip, whose header holds the
    time and the temporary file's name; Blender reads the plain file as well.
    """
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return
    plain = path.with_name(path.name + ".plain")
    with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(plain, path)


class _Missing(bat_progress.Callback):
    def __init__(self, on_missing: Callable[[Path], None]) -> None:
        self.on_missing = on_missing

    def missing_file(self, filename: Path) -> None:
        self.on_missing(filename)


class _JobPacker(bat_pack.Packer):
    """BAT's packer with our transfer, two rules of its layout changed, and no readme at the top.

    BAT moves every file written with an absolute path to ``_outside_project/``,
    even one inside the project, and rewrites only the paths that point at
    moved files. A library written absolute, moved so, still holds its own
    relative paths (``//textures/skin.png``), which then point nowhere. Here a
    file inside the project keeps its place whatever path names it (only that
    path is rewritten, to a relative one), and a .blend that does move has all
    its paths written again from its new place.
    """

    def __init__(self, blend: Path, root: Path, target: Path, hashes: HashCache, send: Send) -> None:
        super().__init__(blend, root, str(target))
        self._hashes, self._send = hashes, send
        self.transfer: _Transfer | None = None

    def __enter__(self) -> _JobPacker:
        return self

    def _find_new_paths(self) -> None:
        super()._find_new_paths()  # type: ignore[no-untyped-call]
        project = bpathlib.make_absolute(self.project)
        for path in self._new_location_paths:
            absolute = bpathlib.make_absolute(path)
            if absolute.is_relative_to(project):
                self._actions[path].new_path = self._target_path / absolute.relative_to(project)

    def _group_rewrites(self) -> None:
        super()._group_rewrites()
        project = bpathlib.make_absolute(self.project)
        moved = {path for path, action in self._actions.items()
                 if action.path_action is bat_pack.PathAction.FIND_NEW_LOCATION
                 and not bpathlib.make_absolute(path).is_relative_to(project)}
        for action in list(self._actions.values()):
            for usage in action.usages:
                holder = bpathlib.make_absolute(usage.block.bfile.filepath)
                if holder in moved and action.new_path is not None and usage not in self._actions[holder].rewrites:
                    self._actions[holder].rewrites.append(usage)

    def _create_file_transferer(self) -> transfer.FileTransferer:
        self.transfer = _Transfer(self._target_path, self._hashes, self._send)
        return self.transfer

    def _write_info_file(self) -> None:
        pass


def pack(blend: Path, send: Send, *, hashes: HashCache | None = None,
         on_missing: Callable[[Path], None] = lambda path: None, allow_missing: bool = True) -> Pack:
    """Pack ``blend`` and everything it needs, calling ``send`` with the job's files.

    :raise PackError: the .blend cannot be read.
    :raise MissingDependencies: ``allow_missing`` is off and the .blend names
        files that are not there; ``send`` was not called.
    Whatever ``send`` raises is raised here.
    """
    blend = absolute(blend)
    if not blend.is_file():
        raise PackError(f"{blend} does not exist")
    hashes = hashes or HashCache()
    try:
        root = project_root(blend)
        with tempfile.TemporaryDirectory(prefix="netrender-pack-") as target, \
                _JobPacker(blend, root, Path(target) / "job", hashes, send) as packer:
            packer.progress_cb = _Missing(on_missing)
            packer.strategise()
            if packer.missing_files and not allow_missing:
                raise MissingDependencies(sorted(packer.missing_files))
            try:
                packer.execute()
            except bat_pack.Aborted:
                failure = packer.transfer.failure if packer.transfer else None
                if failure is not None:
                    raise failure from None
                raise
            name = packer.output_path.relative_to(packer._target_path).as_posix()
            files = packer.transfer.files if packer.transfer else []
    except blendfile.exceptions.BlendFileError as exc:
        raise PackError(f"cannot read {blend.name}: {exc}") from exc
    finally:
        blendfile.close_all_cached()
    files.sort(key=lambda f: (f.path != name, f.path))  # the .blend first, the rest by name
    return Pack(root, name, files, sorted(packer.missing_files))


def absolute(path: Path) -> Path:
    """``path`` made absolute the way BAT does it: ``..`` resolved, symlinks kept (they may be a mount's name)."""
    return bpathlib.make_absolute(Path(path))


def survey(blend: Path, *, on_missing: Callable[[Path], None] = lambda path: None,
           allow_missing: bool = True) -> tuple[list[Path], list[Path]]:
    """The files ``blend`` and its libraries name that exist, and those that do not; nothing is copied.

    For a job rendered in place: the slaves read the files where they are,
    and must find every one the client found.

    :raise MissingDependencies: ``allow_missing`` is off and some are missing.
    """
    blend = absolute(blend)
    if not blend.is_file():
        raise PackError(f"{blend} does not exist")
    found: dict[Path, None] = {}
    missing: dict[Path, None] = {}
    try:
        for usage in bat_trace.deps(blend):
            files = list(usage.files())
            if files:
                found.update(dict.fromkeys(files))
            elif usage.abspath not in missing:
                missing[usage.abspath] = None
                on_missing(usage.abspath)
    except blendfile.exceptions.BlendFileError as exc:
        raise PackError(f"cannot read {blend.name}: {exc}") from exc
    finally:
        blendfile.close_all_cached()
    if missing and not allow_missing:
        raise MissingDependencies(sorted(missing))
    return list(found), sorted(missing)
