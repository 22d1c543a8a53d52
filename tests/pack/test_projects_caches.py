# SPDX-License-Identifier: GPL-3.0-or-later
"""Every cache project renders the same pixels twice, and different pixels without its cache.

The farm's tests compare a farm render of each project with a local one, pixel
by pixel, and take "different without the cache" as proof that the cache
travelled. Here that proof is checked to hold for each kind: the local render
is repeatable, and moving the ``needed`` files aside changes it. The Alembic
kinds render with ``netrender-bpy`` (Blender's command line on the bpy 4.5
module), the others with Debian's Blender 3.4.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pixels import differences
from projects import Built, caches, render_local, render_without

pytestmark = pytest.mark.blender


@pytest.mark.parametrize("kind", sorted(caches.KINDS))
def test_the_cache_makes_the_pixels(kind: str, built_project: Callable[[str], Built], tmp_path: Path) -> None:
    built = built_project(kind)
    project, local = built.project, built.local
    assert project.blend.is_file()
    for path in project.needed:
        assert path.exists() and project.root in path.parents, path
    again = render_local(project, tmp_path / "again")
    without = render_without(project, tmp_path / "without")
    for frame in project.frames:
        assert differences(local[frame], again[frame]) == [], f"{kind} frame {frame} is not repeatable"
        assert differences(local[frame], without[frame]) != [], f"{kind} frame {frame} ignores its cache"
    assert all(path.exists() for path in project.needed)  # put back
