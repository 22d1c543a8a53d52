# SPDX-License-Identifier: GPL-3.0-or-later
"""A machine's render devices as Blender's Cycles lists them, and one slave per GPU (``slave --gpus``).

Blender is asked once (:func:`list_gpus`): every backend it was built with
(OptiX, CUDA, HIP, Metal, oneAPI) lists its devices. A GPU both OptiX and
CUDA see is one device, rendered with OptiX. :func:`choose` picks the ones
``--gpus`` names (``all``, or indices like ``0,2``); each becomes a slave
named ``<host>-gpu<N>`` with its own folder, whose Blender renders on that
device only (``in_blender/device.py``, told by :data:`DEVICE_ENV`).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from ..common.errors import InvalidConfig
from .config import SlaveConfig
from .in_blender.device import DEVICE_ENV

#: Backends in the order one is preferred over another for the same GPU.
BACKENDS = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
MARK = "netrender devices:"
LIST_SCRIPT = (
    "import bpy, json\n"
    "prefs = bpy.context.preferences.addons['cycles'].preferences\n"
    "found = []\n"
    f"for kind in {BACKENDS!r}:\n"
    "    try:\n"
    "        prefs.compute_device_type = kind\n"
    "    except TypeError:\n"
    "        continue\n"
    "    prefs.get_devices_for_type(kind) if hasattr(prefs, 'get_devices_for_type') else prefs.get_devices()\n"
    "    found += [{'type': kind, 'id': d.id, 'name': d.name} for d in prefs.devices if d.type == kind]\n"
    f"print({MARK!r}, json.dumps(found), flush=True)\n"
)
CPU = {"type": "CPU", "id": "CPU", "name": "CPU"}

__all__ = ["DEVICE_ENV", "Device", "choose", "distinct", "list_gpus", "slave_configs"]


@dataclass(frozen=True)
class Device:
    type: str  # a Cycles backend, or "CPU"
    id: str
    name: str

    def to_env(self) -> str:
        return json.dumps({"type": self.type, "id": self.id})


def list_gpus(blender: str, timeout: float = 120.0) -> list[Device]:
    """The GPUs Cycles can render with on this machine, as this Blender sees them."""
    try:
        done = subprocess.run([blender, "-b", "--factory-startup", "--python-expr", LIST_SCRIPT],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidConfig(f"cannot ask Blender ({blender}) for its devices: {exc}") from exc
    line = next((line for line in done.stdout.splitlines() if line.startswith(MARK)), None)
    if line is None:
        raise InvalidConfig(f"Blender ({blender}) did not list its devices: {done.stderr.strip()[-300:]}")
    return distinct([Device(d["type"], d["id"], d["name"]) for d in json.loads(line[len(MARK):])])


def distinct(devices: list[Device]) -> list[Device]:
    """One entry per GPU: a device seen by two backends (OptiX and CUDA) under its preferred one."""
    best: dict[str, Device] = {}
    for device in sorted(devices, key=lambda d: BACKENDS.index(d.type) if d.type in BACKENDS else len(BACKENDS)):
        best.setdefault(device.id.split("_", 1)[-1], device)
    order = {d.id.split("_", 1)[-1]: i for i, d in enumerate(devices)}
    return sorted(best.values(), key=lambda d: order[d.id.split("_", 1)[-1]])


def choose(gpus: list[Device], wanted: str) -> list[tuple[int, Device]]:
    """The GPUs ``wanted`` names (``all``, or indices like ``0,2``), with their index."""
    if not gpus:
        raise InvalidConfig("Cycles finds no GPU on this machine (no OptiX, CUDA, HIP, oneAPI or Metal device): "
                            "run the slave without --gpus to render on the CPU")
    if wanted.strip().lower() == "all":
        return list(enumerate(gpus))
    try:
        indices = [int(part) for part in wanted.split(",") if part.strip()]
    except ValueError:
        raise InvalidConfig(f"--gpus is 'all' or device numbers like 0,2, not {wanted!r}") from None
    bad = [i for i in indices if not 0 <= i < len(gpus)]
    if bad or not indices:
        listed = "; ".join(f"{i}: {d.name} ({d.type})" for i, d in enumerate(gpus))
        raise InvalidConfig(f"--gpus {wanted}: this machine's GPUs are {listed}")
    return [(i, gpus[i]) for i in dict.fromkeys(indices)]


def slave_configs(base: SlaveConfig, chosen: list[tuple[int, Device]], with_cpu: bool) -> list[SlaveConfig]:
    """A slave per chosen GPU (``<name>-gpu<N>``, in ``<path>/gpu<N>``), and one for the CPU if asked."""
    configs = [replace(base, name=f"{base.name}-gpu{i}", path=Path(base.path) / f"gpu{i}", device=device.to_env())
               for i, device in chosen]
    if with_cpu:
        cpu = Device(**CPU)
        configs.append(replace(base, name=f"{base.name}-cpu", path=Path(base.path) / "cpu", device=cpu.to_env()))
    return configs
