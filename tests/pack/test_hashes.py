# SPDX-License-Identifier: GPL-3.0-or-later
"""The client's hash cache: an unchanged file is not read again, a changed one is, whatever the cache holds."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from netrender.pack.hashes import ENV_VAR, HashCache, default_path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_unchanged_file_is_hashed_once_even_by_the_next_process(tmp_path: Path) -> None:
    texture = tmp_path / "skin.png"
    texture.write_bytes(b"red pixels")
    first = HashCache(tmp_path / "hashes.sqlite")
    assert first.sha256(texture) == sha(b"red pixels")
    assert first.sha256(texture) == sha(b"red pixels")
    assert (first.misses, first.hits) == (1, 1)
    first.close()
    later = HashCache(tmp_path / "hashes.sqlite")
    assert later.sha256(texture) == sha(b"red pixels") and (later.misses, later.hits) == (0, 1)


@pytest.mark.parametrize("change", ["content", "same-size-content", "replaced"])
def test_a_changed_file_is_hashed_again(tmp_path: Path, change: str) -> None:
    texture = tmp_path / "skin.png"
    texture.write_bytes(b"red pixels")
    cache = HashCache(tmp_path / "hashes.sqlite")
    cache.sha256(texture)
    cache.close()
    stat = texture.stat()
    if change == "content":
        texture.write_bytes(b"blue pixels, more of them")
    elif change == "same-size-content":  # same size, a later modification time
        texture.write_bytes(b"red pixelz")
        os.utime(texture, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    else:  # another file renamed over it: another inode
        (tmp_path / "new.png").write_bytes(b"red pixelz")
        os.utime(tmp_path / "new.png", ns=(stat.st_atime_ns, stat.st_mtime_ns))
        (tmp_path / "new.png").replace(texture)
    again = HashCache(tmp_path / "hashes.sqlite")
    assert again.sha256(texture) == sha(texture.read_bytes()) and again.misses == 1


def test_a_cache_that_cannot_be_opened_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = HashCache(blocker / "hashes.sqlite")
    texture = tmp_path / "skin.png"
    texture.write_bytes(b"red pixels")
    assert cache.sha256(texture) == sha(b"red pixels")
    cache.close()


def test_the_cache_lives_where_the_environment_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine.sqlite"))
    assert default_path() == tmp_path / "mine.sqlite"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_path() == tmp_path / "cache" / "netrender" / "hashes.sqlite"
