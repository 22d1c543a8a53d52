#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build netrender as a Blender 4.2+ extension: one zip per platform, each checked by Blender's own validator.

    .venv/bin/python scripts/build_extension.py [--output dist/] [--platforms linux-x64 ...]

It copies ``netrender/`` to a temporary folder, downloads the wheels of the
dependencies pinned in ``pyproject.toml`` (and of theirs) from PyPI for each
platform, writes their names and the platforms into the copy's
``blender_manifest.toml``, then runs Blender's extension tool
(``blender_ext.py``) to ``build --split-platforms`` and to ``validate`` every
zip. The tool comes from the ``bpy`` wheel (the ``blender45`` extra; beside the
``test`` extra, whose numpy bpy refuses: ``pip install --no-deps bpy==4.5.15
packaging==26.3``) or from any Blender 4.2+ (``--blender-ext``).
"""

from __future__ import annotations

import argparse
import email
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "netrender"
MANIFEST = "blender_manifest.toml"
PYPI = "https://pypi.org/simple"
PYTHON = "3.11"  # Blender 4.2 to 4.5 all embed CPython 3.11

# Blender's platform name -> the wheel platform tags it runs (pip expands macosx_11_0 to older macOS,
# and manylinux2014 to manylinux2010/1, but not manylinux_2_28 to older glibc: list those) and the
# environment markers (PEP 508) that pip would see there.
PLATFORMS: dict[str, tuple[list[str], dict[str, str]]] = {
    "linux-x64": (
        [f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)] + ["manylinux2014_x86_64"],
        {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64"},
    ),
    "windows-x64": (
        ["win_amd64"],
        {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"},
    ),
    "macos-arm64": (
        ["macosx_11_0_arm64"],
        {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"},
    ),
    "macos-x64": (
        ["macosx_11_0_x86_64"],
        {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "x86_64"},
    ),
}


def blender_ext_path() -> Path:
    """``blender_ext.py`` inside the installed ``bpy`` wheel, found without importing ``bpy``."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bpy is not installed: pip install --no-deps bpy==4.5.15, or pass --blender-ext")
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit("no blender_ext.py in the bpy package")
    return found[-1]


def blender_ext(tool: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run Blender's extension tool as ``blender --command extension`` does: with Blender's list of valid tags."""
    tags = tool.parents[3] / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    return subprocess.run([sys.executable, str(tool), *argv, "--valid-tags", str(tags)], capture_output=True, text=True)


def dist_name(wheel: str) -> str:
    return canonicalize_name(parse_wheel_filename(Path(wheel).name)[0])


def missing_requirements(wheels: list[Path], markers: dict[str, str]) -> set[str]:
    """Requirements of ``wheels`` that apply on the target platform but have no wheel yet.

    pip evaluates markers for the machine it runs on, so ``pip download --platform win_amd64``
    leaves out ``colorama; platform_system == "Windows"``: this finds such requirements.
    """
    # Marker.evaluate() starts from this machine's environment and updates it with these.
    env = {**markers, "python_version": PYTHON, "python_full_version": PYTHON, "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": ""}
    have = {dist_name(wheel.name) for wheel in wheels}
    missing = set()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            metadata = next(name for name in zf.namelist() if name.endswith(".dist-info/METADATA"))
            requires = email.message_from_bytes(zf.read(metadata)).get_all("Requires-Dist") or []
        for line in requires:
            req = Requirement(line)
            if canonicalize_name(req.name) not in have and (req.marker is None or req.marker.evaluate(env)):
                req.marker = None
                missing.add(str(req))
    return missing


def download(platform: str, requirements: list[str], dest: Path, index_url: str) -> list[Path]:
    """Binary cp311 wheels of ``requirements`` and their dependencies for one Blender platform."""
    tags, markers = PLATFORMS[platform]
    wanted = list(requirements)
    while True:
        # --isolated: ignore the user's pip config and PIP_* variables (find-links, extra indexes),
        # so that every wheel comes, unmodified, from the index.
        argv = [sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--quiet",
                "--index-url", index_url, "--only-binary=:all:", "--implementation", "cp",
                "--python-version", PYTHON, "--abi", "cp" + PYTHON.replace(".", ""),
                *(f"--platform={tag}" for tag in tags), "--dest", str(dest), *wanted]
        subprocess.run(argv, check=True)
        wheels = sorted(dest.glob("*.whl"))
        missing = missing_requirements(wheels, markers)
        if not missing:
            return wheels
        wanted += sorted(missing)


def with_wheels(manifest: str, wheels: list[str], platforms: list[str]) -> str:
    """The manifest with top-level ``platforms`` and ``wheels`` keys, inserted before its first table."""
    if {"wheels", "platforms"} & tomllib.loads(manifest).keys():
        raise SystemExit(f"{MANIFEST} must not list wheels or platforms: the build writes them")
    generated = (f"platforms = {json.dumps(platforms)}\nwheels = [\n"
                 + "".join(f"    {json.dumps(wheel)},\n" for wheel in wheels) + "]\n\n")
    first_table = re.search(r"^\[", manifest, re.MULTILINE)
    at = first_table.start() if first_table else len(manifest)
    result = manifest[:at] + generated + manifest[at:]
    data = tomllib.loads(result)
    assert data["wheels"] == wheels and data["platforms"] == platforms
    return result


def check_zip(path: Path, expected: list[Path]) -> int:
    """Beyond Blender's validator: the zip holds the manifest, every wheel it names, one wheel per package,
    and every wheel pip chose for its platform. Returns the number of wheels."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        listed = tomllib.loads(zf.read(MANIFEST).decode())["build"]["generated"]["wheels"]
    in_zip = sorted(name for name in names if name.endswith(".whl"))
    problems = []
    if {"__init__.py", MANIFEST} - names:
        problems.append("no __init__.py or manifest")
    if sorted(wheel.removeprefix("./") for wheel in listed) != in_zip:
        problems.append(f"manifest lists {listed}, zip holds {in_zip}")
    if len({dist_name(wheel) for wheel in in_zip}) != len(in_zip):
        problems.append(f"two wheels of one package: {in_zip}")
    if missing := {f"wheels/{wheel.name}" for wheel in expected} - set(in_zip):
        problems.append(f"missing wheels: {sorted(missing)}")
    if problems:
        raise SystemExit(f"{path}: " + "; ".join(problems))
    return len(in_zip)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build and validate the Blender 4.2+ extension zips.")
    parser.add_argument("--output", type=Path, default=ROOT / "dist", help="folder for the zips (default: dist/)")
    parser.add_argument("--platforms", nargs="+", choices=list(PLATFORMS), default=list(PLATFORMS),
                        help="Blender platforms to build for (default: all)")
    parser.add_argument("--blender-ext", type=Path, help="blender_ext.py of a Blender 4.2+ (default: from bpy)")
    parser.add_argument("--index-url", default=PYPI, help=f"package index for the wheels (default: {PYPI})")
    args = parser.parse_args(argv)
    tool: Path = args.blender_ext or blender_ext_path()
    platforms: list[str] = args.platforms
    requirements: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    manifest_data = tomllib.loads((SOURCE / MANIFEST).read_text())
    zip_stem = f"{manifest_data['id']}-{manifest_data['version']}"

    with tempfile.TemporaryDirectory(prefix="netrender-extension-") as tmp:
        stage = Path(tmp) / "netrender"
        shutil.copytree(SOURCE, stage, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]", ".*"))
        (stage / "wheels").mkdir()
        per_platform = {p: download(p, requirements, Path(tmp) / "downloads" / p, args.index_url) for p in platforms}
        for downloaded in per_platform.values():
            for wheel in downloaded:
                shutil.copy2(wheel, stage / "wheels" / wheel.name)
        wheels = [f"./wheels/{wheel.name}" for wheel in sorted((stage / "wheels").iterdir())]
        manifest = stage / MANIFEST
        manifest.write_text(with_wheels(manifest.read_text(), wheels, platforms))

        args.output.mkdir(parents=True, exist_ok=True)
        built = blender_ext(tool, "build", "--source-dir", str(stage), "--output-dir", str(args.output),
                            "--split-platforms")
        print(built.stdout, end="")
        if built.returncode != 0:
            raise SystemExit(f"blender_ext build failed:\n{built.stderr}")

    for platform in platforms:
        path = args.output / f"{zip_stem}-{platform.replace('-', '_')}.zip"  # blender_ext's naming
        checked = blender_ext(tool, "validate", str(path))
        print(checked.stdout, end="")
        if checked.returncode != 0:
            raise SystemExit(f"blender_ext validate failed for {path}:\n{checked.stderr}")
        count = check_zip(path, per_platform[platform])
        print(f"{path}  {path.stat().st_size / 1e6:.1f} MB  {count} wheels  ({platform})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
