# SPDX-License-Identifier: GPL-3.0-or-later
"""The Blender 4.2+ extension zip, built and validated by Blender's own tool; one version for 3.x and 4.2+."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = tomllib.loads((ROOT / "netrender" / "blender_manifest.toml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

needs_bpy = pytest.mark.skipif(
    importlib.util.find_spec("bpy") is None,
    reason="Blender's extension tool ships in the bpy wheel, which is not installed: "
    "pip install --no-deps bpy==4.5.15 (the [blender45] extra); the build also needs PyPI",
)


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "scripts" / "build_extension.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """``blender --command extension validate PATH``, run with plain Python."""
    script = build_script()
    result: subprocess.CompletedProcess[str] = script.blender_ext(script.blender_ext_path(), "validate", str(path))
    return result


@pytest.fixture(scope="module")
def linux_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    argv = [sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--output", str(out), "--platforms",
            "linux-x64"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    zips = sorted(out.glob("*.zip"))
    assert [z.name for z in zips] == [f"{MANIFEST['id']}-{MANIFEST['version']}-linux_x64.zip"]
    return zips[0]


@needs_bpy
def test_linux_zip_passes_blenders_validator(linux_zip: Path) -> None:
    result = validate(linux_zip)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success parsing TOML" in result.stdout


@needs_bpy
def test_linux_zip_holds_manifest_code_and_linux_wheels(linux_zip: Path) -> None:
    with zipfile.ZipFile(linux_zip) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    wanted = {"blender_manifest.toml", "__init__.py", "master.py", "server/openapi.yaml", "web/static/index.html"}
    assert wanted <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    wheels = sorted(name for name in names if name.endswith(".whl"))
    assert manifest["platforms"] == ["linux-x64"]
    assert manifest["build"]["generated"] == {"platforms": ["linux-x64"], "wheels": [f"./{w}" for w in wheels]}
    stems = [Path(w).name.lower() for w in wheels]
    for requirement in PYPROJECT["project"]["dependencies"]:  # pinned: "flask==3.1.3" -> flask-3.1.3-...
        name, version = requirement.split("==")
        assert any(s.startswith(f"{name.replace('-', '_')}-{version}-") for s in stems), (requirement, stems)
    for dependency in ("werkzeug", "jinja2", "itsdangerous", "click", "blinker", "urllib3", "idna", "certifi"):
        assert any(s.startswith(dependency + "-") for s in stems), (dependency, stems)
    # MarkupSafe is compiled: the Linux zip holds the CPython 3.11 Linux build, and only that one.
    markupsafe = [s for s in stems if s.startswith("markupsafe-")]
    assert len(markupsafe) == 1, markupsafe
    assert "-cp311-cp311-manylinux" in markupsafe[0] and markupsafe[0].endswith("_x86_64.whl"), markupsafe


@needs_bpy
def test_committed_manifest_passes_blenders_validator() -> None:
    result = validate(ROOT / "netrender")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_bpy
def test_validator_rejects_a_bad_manifest(linux_zip: Path, tmp_path: Path) -> None:
    """The check above means something: the same zip with a tag Blender does not know fails."""
    bad = tmp_path / linux_zip.name
    with zipfile.ZipFile(linux_zip) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "blender_manifest.toml":
                data = data.replace(b'tags = ["Render"]', b'tags = ["Not A Blender Tag"]')
            dst.writestr(item, data)
    result = validate(bad)
    assert result.returncode != 0
    assert "Not A Blender Tag" in result.stdout + result.stderr


def test_bl_info_version_is_the_manifest_version() -> None:
    """Blender 3.x reads bl_info (without running the module, as here), 4.2+ the manifest: they must agree."""
    tree = ast.parse((ROOT / "netrender" / "__init__.py").read_text())
    values = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name) and target.id in ("bl_info", "__version__")
    }
    version = MANIFEST["version"]
    assert values["bl_info"]["version"] == tuple(int(part) for part in version.split("."))
    assert values["__version__"] == version == PYPROJECT["project"]["version"]


def test_readme_pins_the_legacy_dependencies_like_pyproject() -> None:
    """The README's pip command for Blender 3.x installs exactly what pyproject.toml pins."""
    readme = (ROOT / "README.rst").read_text()
    command = readme.split("pip install --target ", 1)[1].split("\n\n", 1)[0]
    pins = [word for word in command.replace("\\\n", " ").split() if "==" in word]
    assert sorted(pins) == sorted(PYPROJECT["project"]["dependencies"])
