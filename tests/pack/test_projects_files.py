# SPDX-License-Identifier: GPL-3.0-or-later
"""The file-dependency projects are what they claim: each renders, and each dependency shows.

These are the projects the farm's packing tests render remotely and compare with a local render;
they prove nothing unless leaving a dependency behind really changes the result. So for every
kind: it builds, renders locally, Blender finds every file it names except those meant to be
missing, and a render without its ``needed`` files differs (or, for a sound, Blender reports it
missing). Each project is built and rendered once per module.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pixels import differences
from projects import BLENDER, Built, files, render_local, render_without

pytestmark = pytest.mark.blender

KINDS = list(files.KINDS)
#: What the first bytes of each kind's .blend files must be (Blender 3.4 saves plain unless asked).
GZIP, ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"
MAGIC = {"compressed_gzip": GZIP, "compressed_zstd": ZSTD, "compressed_absolute": ZSTD}
PLAIN = b"BLENDER"
#: The kinds with several needed files, each of which must matter by itself.
SEVERAL_NEEDED = ["library_relative_outside", "library_absolute", "library_of_library", "library_same_relative_string",
                  "image_udim", "compressed_zstd", "names_unicode_spaces"]


def reported_missing(blend: Path) -> set[Path]:
    """The paths Blender's File > External Data > Report Missing Files names for ``blend``."""
    script = "import bpy; bpy.ops.file.report_missing_files()"
    proc = subprocess.run([BLENDER, "-b", str(blend), "--python-expr", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {Path(path) for path in re.findall(r"Warning: Path '(.*)' not found", proc.stdout + proc.stderr)}


@pytest.mark.parametrize("kind", KINDS)
def test_project_is_laid_out_as_described(kind: str, built_project: Callable[[str], Built]) -> None:
    project = built_project(kind).project
    assert project.kind == kind
    assert project.blend.is_file()
    assert project.needed or kind == "font_absolute"
    assert (len(project.needed) > 1) == (kind in SEVERAL_NEEDED)
    for path in project.needed:
        assert path.exists(), path
        assert project.root in path.parents, path
    for path in project.missing:
        assert not path.exists(), path
    for blend in project.root.rglob("*.blend"):
        assert blend.read_bytes().startswith(MAGIC.get(kind, PLAIN)), blend


@pytest.mark.parametrize("kind", KINDS)
def test_blender_finds_every_file_but_the_missing_ones(kind: str, built_project: Callable[[str], Built]) -> None:
    project = built_project(kind).project
    assert reported_missing(project.blend) == set(project.missing)


@pytest.mark.parametrize("kind", KINDS)
def test_the_dependency_matters(kind: str, built_project: Callable[[str], Built]) -> None:
    """Without its needed files, the project renders differently, or Blender says they are missing."""
    done = built_project(kind)
    project = done.project
    if not project.pixels_matter:
        moved = [path.with_name(path.name + ".aside") for path in project.needed]
        for path, aside in zip(project.needed, moved, strict=True):
            path.rename(aside)
        try:
            reported = reported_missing(project.blend)
        finally:
            for path, aside in zip(project.needed, moved, strict=True):
                aside.rename(path)
        assert set(project.needed) <= reported
        return
    if kind == "font_absolute":  # a system font can't be moved aside: render the twin naming a lost copy
        without = render_local(replace(project, blend=project.root / files.NOFONT), done.scratch / "without")
    else:
        without = render_without(project, done.scratch / "without")
    for frame in project.frames:
        assert differences(done.local[frame], without[frame]), f"frame {frame} is the same without {project.needed}"


@pytest.mark.parametrize("kind", SEVERAL_NEEDED)
def test_each_needed_file_matters_alone(kind: str, built_project: Callable[[str], Built]) -> None:
    """Every file listed as needed changes the pixels by itself: none is there for show."""
    done = built_project(kind)
    for index, path in enumerate(done.project.needed):
        without = render_without(replace(done.project, needed=[path]), done.scratch / f"without-{index}")
        assert any(differences(done.local[f], without[f]) for f in done.project.frames), f"{path} changes nothing"


@pytest.mark.parametrize("kind", KINDS)
def test_renders_the_same_twice(kind: str, built_project: Callable[[str], Built]) -> None:
    """The scenes are deterministic, so a farm's frame can be compared with a local one pixel for pixel."""
    done = built_project(kind)
    again = render_local(done.project, done.scratch / "again")
    for frame in done.project.frames:
        assert differences(done.local[frame], again[frame]) == [], frame


def test_sequences_show_a_different_image_each_frame(built_project: Callable[[str], Built]) -> None:
    for kind in ("image_sequence", "sequencer_image_sequence"):
        local = built_project(kind).local
        assert differences(local[1], local[2]), kind


def test_the_font_twin_names_a_lost_copy_of_the_font(built_project: Callable[[str], Built]) -> None:
    project = built_project("font_absolute").project
    gone = project.root / "fonts_gone" / files.FONT.name
    assert reported_missing(project.root / files.NOFONT) == {gone}
