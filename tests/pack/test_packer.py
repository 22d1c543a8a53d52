# SPDX-License-Identifier: GPL-3.0-or-later
"""Packing with BAT on real projects: where files go in the job, what is rewritten, what repeats exactly.

The farm's tests (``tests/e2e/test_farm_projects.py``) prove the packs render
right; these pin down the layout and the properties the upload relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from projects import Built

from netrender.pack.hashes import HashCache
from netrender.pack.packer import LocalFile, MissingDependencies, Pack, pack, project_root, survey
from netrender.pack.scene import denoises, frame_range, render_size

pytestmark = pytest.mark.blender


def packed(blend: Path, **options: object) -> tuple[Pack, list[LocalFile]]:
    sent: list[LocalFile] = []
    result = pack(blend, sent.extend, hashes=HashCache(None), **options)  # type: ignore[arg-type]
    return result, sent


def test_the_root_holds_every_relative_dependency(built_project: Callable[[str], Built]) -> None:
    project = built_project("library_of_library").project
    assert project_root(project.blend) == project.root  # shots/ and assets/ both inside
    absolute = built_project("image_absolute").project
    assert project_root(absolute.blend) == absolute.blend.parent  # an absolute path does not pull the root up


def test_send_gets_every_file_once_the_blend_first(built_project: Callable[[str], Built]) -> None:
    project = built_project("image_sequence").project
    result, sent = packed(project.blend)
    assert sorted(sent, key=lambda f: f.path) == sorted(result.files, key=lambda f: f.path)
    assert result.blend == "shot.blend"  # everything sits in the shot's folder: that is the root
    assert [f.path for f in result.files] == ["shot.blend", "seq/tex_0001.png", "seq/tex_0002.png"]
    assert all(f.size == f.abspath.stat().st_size for f in sent)


def test_a_rewritten_compressed_blend_packs_to_the_same_bytes_twice(built_project: Callable[[str], Built]) -> None:
    """BAT writes a changed compressed .blend back as gzip, with a time and a temporary name in its header:
    stored plain instead, an unchanged project hashes the same, so a resubmit uploads nothing."""
    project = built_project("compressed_absolute").project
    first, _ = packed(project.blend)
    second, _ = packed(project.blend)
    assert [(f.path, f.sha256) for f in first.files] == [(f.path, f.sha256) for f in second.files]
    blend = first.files[0]
    assert blend.path == "shot.blend" and blend.abspath != project.blend  # BAT's rewritten copy
    assert first.files[1].path.startswith("_outside_project/")


def test_missing_files_are_listed_or_refused(built_project: Callable[[str], Built]) -> None:
    project = built_project("missing_files").project
    result, sent = packed(project.blend)
    assert result.missing == sorted(project.missing) and sent
    with pytest.raises(MissingDependencies) as refused:
        packed(project.blend, allow_missing=False)
    assert refused.value.details == {"missing": [str(p) for p in sorted(project.missing)]}
    found, missing = survey(project.blend)
    assert missing == sorted(project.missing) and project.blend not in found and found


def test_the_scene_is_read_without_blender(built_project: Callable[[str], Built]) -> None:
    blend = built_project("image_sequence").project.blend
    assert frame_range(blend)[:2] == [1, 2]
    assert render_size(blend) == (64, 48)  # the projects' size
    assert not denoises(blend)  # the projects turn Cycles' denoising off
