# SPDX-License-Identifier: GPL-3.0-or-later
"""Files addressed by their SHA-256, written without ever holding one in memory.

The master keeps every uploaded job file once under ``store/``; the slaves keep
a cache of the same shape, so a file is downloaded once per slave however many
jobs use it. Writes go to a temporary name and are renamed only once the bytes
hash right, so a broken upload never leaves a complete-looking file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from .errors import HashMismatch, StorageFull, TooLarge
from .validation import sha256_hex

CHUNK = 1 << 20


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def write_stream(
    chunks: Iterable[bytes],
    dest: Path,
    *,
    expect_sha256: str | None = None,
    limit: int | None = None,
    on_bytes: Callable[[int], None] = lambda n: None,
) -> tuple[str, int]:
    """Stream ``chunks`` into ``dest`` atomically; return (sha256, size).

    :raise HashMismatch: the bytes do not hash to ``expect_sha256``.
    :raise TooLarge: more than ``limit`` bytes arrived.
    :raise StorageFull: the disk is full; nothing is left behind.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in chunks:
                size += len(block)
                if limit is not None and size > limit:
                    raise TooLarge(f"upload is larger than the limit of {limit} bytes")
                digest.update(block)
                out.write(block)
                on_bytes(len(block))
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        if expect_sha256 is not None and sha != expect_sha256:
            raise HashMismatch(f"the upload hashes to {sha}, not {expect_sha256}")
        os.replace(tmp, dest)
        return sha, size
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"no space left to store {dest.name}") from exc
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_chunks(stream: IO[bytes], size: int = CHUNK) -> Iterable[bytes]:
    return iter(lambda: stream.read(size), b"")


class BlobStore:
    """A folder of files named by their SHA-256 (``ab/abcdef…``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        sha256_hex(sha256)
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def missing(self, hashes: Iterable[str]) -> list[str]:
        return [h for h in dict.fromkeys(hashes) if not self.has(h)]

    def put(self, sha256: str, chunks: Iterable[bytes], limit: int | None = None) -> int:
        """Store the bytes under ``sha256`` after checking they hash to it."""
        return write_stream(chunks, self.path(sha256), expect_sha256=sha256, limit=limit)[1]

    def link(self, sha256: str, dest: Path) -> None:
        """Place a stored file at ``dest``: a hard link where the disk allows, else a copy."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.unlink()
        try:
            os.link(self.path(sha256), dest)
        except OSError:
            shutil.copyfile(self.path(sha256), dest)
