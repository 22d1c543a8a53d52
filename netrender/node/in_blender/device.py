# SPDX-License-Identifier: GPL-3.0-or-later
"""Inside the slave's Blender: render with one Cycles device only, the one ``NETRENDER_DEVICE`` names.

``netrender slave --gpus`` runs one slave per GPU; each one's Blender runs
this first, with ``NETRENDER_DEVICE`` set to ``{"type": "CUDA", "id": "…"}``
(or ``OPTIX``, ``HIP``, ``METAL``, ``ONEAPI``; ``CPU`` for the CPU slave): the
backend is chosen, exactly that device is used, every other one (the CPU
too) is not, and every scene renders on the GPU (or the CPU). A device that
is not there stops Blender with the reason, rather than render elsewhere.
Without the variable it does nothing.

It imports nothing from netrender: the slave's Blender does not have the
package. :func:`pick` is pure, so the choice is tested without Blender.
"""

from __future__ import annotations

import json
import os
from typing import Any

DEVICE_ENV = "NETRENDER_DEVICE"


def pick(devices: list[Any], kind: str, device_id: str) -> list[bool]:
    """For each of Cycles' devices (``.type``, ``.id``), whether it renders: only the one named."""
    return [device.type == kind and device.id == device_id for device in devices]


def apply(bpy: Any, wanted: dict[str, str]) -> list[str]:
    """Make Blender render with the device ``wanted`` only; the names of the devices in use."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    kind = wanted["type"]
    prefs.compute_device_type = "NONE" if kind == "CPU" else kind
    if hasattr(prefs, "get_devices_for_type"):
        prefs.get_devices_for_type(prefs.compute_device_type)
    else:
        prefs.get_devices()
    devices = list(prefs.devices)
    chosen = pick(devices, kind, wanted["id"])
    if not any(chosen):
        found = ", ".join(f"{d.type} {d.id}" for d in devices) or "none"
        raise SystemExit(f"netrender: Cycles has no {kind} device {wanted['id']!r} here (it has: {found})")
    for device, use in zip(devices, chosen, strict=True):
        device.use = use
    for scene in bpy.data.scenes:
        scene.cycles.device = "CPU" if kind == "CPU" else "GPU"
    return [d.name for d in devices if d.use]


def main() -> None:
    spec = os.environ.get(DEVICE_ENV)
    if not spec:
        return
    import bpy

    used = apply(bpy, json.loads(spec))
    print(f"netrender: rendering with {', '.join(used)} only", flush=True)


if __name__ == "__main__":
    main()
