# SPDX-License-Identifier: GPL-3.0-or-later
"""One slave per GPU: the devices chosen (pure), and each Blender kept to its own device (in real Blender)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from netrender.cli.commands import main
from netrender.common.errors import InvalidConfig
from netrender.node.blender import DEVICE_SCRIPT, MISSING_SCRIPT, render_argv
from netrender.node.config import SlaveConfig
from netrender.node.devices import Device, choose, distinct, list_gpus, slave_configs
from netrender.node.in_blender.device import pick

GPUS = [Device("CUDA", "CUDA_NVIDIA RTX A4000_0000:01:00", "NVIDIA RTX A4000"),
        Device("OPTIX", "OPTIX_NVIDIA RTX A4000_0000:01:00", "NVIDIA RTX A4000"),
        Device("CUDA", "CUDA_NVIDIA RTX A4000_0000:02:00", "NVIDIA RTX A4000"),
        Device("HIP", "HIP_AMD Radeon PRO W7800_0000:03:00", "AMD Radeon PRO W7800")]


def test_a_gpu_two_backends_see_is_one_device_under_its_preferred_backend() -> None:
    assert [(d.type, d.id.rsplit("_", 1)[1]) for d in distinct(GPUS)] == [
        ("OPTIX", "0000:01:00"), ("CUDA", "0000:02:00"), ("HIP", "0000:03:00")]


def test_gpus_are_chosen_by_all_or_by_number() -> None:
    gpus = distinct(GPUS)
    assert [i for i, _ in choose(gpus, "all")] == [0, 1, 2]
    assert [(i, d.type) for i, d in choose(gpus, "0,2")] == [(0, "OPTIX"), (2, "HIP")]
    with pytest.raises(InvalidConfig, match="this machine's GPUs are 0: NVIDIA RTX A4000 \\(OPTIX\\)"):
        choose(gpus, "3")
    with pytest.raises(InvalidConfig, match="'all' or device numbers"):
        choose(gpus, "first")
    with pytest.raises(InvalidConfig, match="Cycles finds no GPU on this machine"):
        choose([], "all")


def test_each_gpu_gets_its_slave_named_after_the_host() -> None:
    base = SlaveConfig(name="render-07", path=Path("/var/tmp/nr"))
    configs = slave_configs(base, choose(distinct(GPUS), "0,2"), with_cpu=True)
    assert [(c.name, str(c.path)) for c in configs] == [
        ("render-07-gpu0", "/var/tmp/nr/gpu0"), ("render-07-gpu2", "/var/tmp/nr/gpu2"),
        ("render-07-cpu", "/var/tmp/nr/cpu")]
    assert [json.loads(c.device) for c in configs] == [
        {"type": "OPTIX", "id": "OPTIX_NVIDIA RTX A4000_0000:01:00"},
        {"type": "HIP", "id": "HIP_AMD Radeon PRO W7800_0000:03:00"}, {"type": "CPU", "id": "CPU"}]


def test_only_the_named_device_renders() -> None:
    devices = [SimpleNamespace(type="CUDA", id="a"), SimpleNamespace(type="OPTIX", id="a"),
               SimpleNamespace(type="CPU", id="CPU")]
    assert pick(devices, "OPTIX", "a") == [False, True, False]
    assert pick(devices, "CPU", "CPU") == [False, False, True]
    assert pick(devices, "HIP", "a") == [False, False, False]


def test_the_device_script_runs_first_when_the_slave_has_a_device() -> None:
    argv = render_argv("blender", "/j/s.blend", "/j/out", "CYCLES", 2, [1], device=True)
    scripts = [argv[i + 1] for i, a in enumerate(argv) if a == "--python"]
    assert scripts == [str(DEVICE_SCRIPT), str(MISSING_SCRIPT)]
    assert str(DEVICE_SCRIPT) not in render_argv("blender", "/j/s.blend", "/j/out", "CYCLES", 2, [1])


@pytest.mark.blender
def test_in_blender_the_cpu_device_alone_is_used_and_a_missing_gpu_stops_blender(tmp_path: Path) -> None:
    check = tmp_path / "check.py"
    check.write_text("import bpy\nprefs = bpy.context.preferences.addons['cycles'].preferences\n"
                     "print('USED', prefs.compute_device_type, [(d.type, d.use) for d in prefs.devices],"
                     " [s.cycles.device for s in bpy.data.scenes])\n")

    def run(device: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["blender", "-b", "--factory-startup", "--python-exit-code", "1", "--python",
                               str(DEVICE_SCRIPT), "--python", str(check)], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "NETRENDER_DEVICE": json.dumps(device)})

    cpu = run({"type": "CPU", "id": "CPU"})
    assert cpu.returncode == 0, cpu.stdout + cpu.stderr
    used = next(line for line in cpu.stdout.splitlines() if line.startswith("USED"))
    assert used == "USED NONE [('CPU', True)] ['CPU']"
    missing = run({"type": "CUDA", "id": "CUDA_Nothing_0000:09:00"})
    assert missing.returncode == 1 and "Cycles has no CUDA device 'CUDA_Nothing_0000:09:00'" in missing.stderr


@pytest.mark.blender
def test_on_a_machine_without_gpus_the_slave_says_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert list_gpus("blender") == []  # Debian's Blender 3.4, no GPU here
    assert main(["slave", "--gpus", "all", "--master", "http://127.0.0.1:9"]) == 2
    assert "Cycles finds no GPU on this machine" in capsys.readouterr().err
