# SPDX-License-Identifier: GPL-3.0-or-later
"""The add-on layer: the only part of netrender that imports bpy."""

from __future__ import annotations

from . import engine, operators, props, ui, versioned

MODULES = (props, engine, operators, versioned, ui)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
