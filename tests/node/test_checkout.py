# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave's working copies against real Git repositories made by the test (no Blender: the files are stand-ins)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from netrender.common.work import Assignment
from netrender.node.checkout import CheckoutFailed, WorkingCopies

ENV = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
       "GIT_COMMITTER_EMAIL": "a@example.com"}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=ENV).stdout.strip()


def commit(repo: Path, files: dict[str, bytes], message: str) -> str:
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    return path


def job(job_id: int, repo: Path, revision: str, blend: str = "shots/shot.blend") -> Assignment:
    return Assignment(job_id, (1,), blend, "CYCLES", (), vcs="git", remote=str(repo), revision=revision)


def test_each_job_keeps_its_revision_while_the_next_is_checked_out(repo: Path, tmp_path: Path) -> None:
    first = commit(repo, {"shots/shot.blend": b"blend", "shots/tex.png": b"old"}, "A")
    second = commit(repo, {"shots/tex.png": b"new"}, "B")
    copies = WorkingCopies(tmp_path / "vcs")
    one = copies.checkout(job(1, repo, first), tmp_path / "job_1" / "files")
    two = copies.checkout(job(2, repo, second), tmp_path / "job_2" / "files")
    assert one is not None and two is not None and (one.fetched, two.fetched) == (5, 4)  # B: commit, 2 trees, blob
    assert (tmp_path / "job_1/files/shots/tex.png").read_bytes() == b"old"  # hard links, but not shared by B
    assert (tmp_path / "job_2/files/shots/tex.png").read_bytes() == b"new"
    assert not (tmp_path / "job_2/files/.git").exists()
    assert copies.checkout(job(2, repo, second), tmp_path / "job_2" / "files") is None  # a later chunk: as it is


def test_a_revision_or_file_that_is_not_there_is_a_clear_failure(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"shots/shot.blend": b"blend"}, "A")
    copies = WorkingCopies(tmp_path / "vcs")
    with pytest.raises(CheckoutFailed, match=f"git could not get 0123abcd of {repo}"):
        copies.checkout(job(1, repo, "0123abcd"), tmp_path / "job_1" / "files")
    with pytest.raises(CheckoutFailed, match=f"shots/other.blend is not in {repo} at main"):
        copies.checkout(job(2, repo, "main", "shots/other.blend"), tmp_path / "job_2" / "files")


@pytest.mark.skipif(shutil.which("git-lfs") is not None, reason="git lfs is installed here")
def test_a_repository_with_lfs_files_needs_git_lfs_and_says_so(repo: Path, tmp_path: Path) -> None:
    head = commit(repo, {".gitattributes": b"*.png filter=lfs diff=lfs merge=lfs -text\n",
                         "shots/shot.blend": b"blend", "shots/tex.png": b"version https://git-lfs..."}, "A")
    with pytest.raises(CheckoutFailed, match="keeps files in Git LFS, and git lfs is not installed on this slave"):
        WorkingCopies(tmp_path / "vcs").checkout(job(1, repo, head), tmp_path / "job_1" / "files")
