# SPDX-License-Identifier: GPL-3.0-or-later
"""The balancing rules' settings: one immutable object, checked whole, read from and written as JSON.

:mod:`netrender.balancing` applies them; the farm keeps them in its store,
the API shows and changes them, the monitor edits them. Every value is
checked on construction, so rules built from a request are safe as they are.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import InvalidRequest


@dataclass(frozen=True)
class BalanceRules:
    """The balancer's settings: a switch per rule and its thresholds.

    ``half_life`` and ``lost_timeout`` are seconds, ``starve_minutes`` minutes.
    Constructing one checks every value and raises :class:`InvalidRequest`
    naming the bad field, so rules built from JSON are safe to use as they are.
    """

    fair_share: bool = True
    half_life: float = 300.0
    categories: bool = True
    cap: bool = True
    cap_percent: float = 75.0
    new_first: bool = True
    starvation: bool = True
    starve_minutes: float = 2.0
    retry: bool = True
    max_retries: int = 3
    auto_blacklist: bool = True
    blacklist_after: int = 3
    lost_timeout: float = 60.0
    tags: bool = True  # off: any slave takes any job, whatever its tags
    chunks: bool = True  # off: one frame per dispatch, whatever the job's chunk size
    lost: bool = True  # off: a silent slave keeps its frames however long it is away
    fifo: bool = False  # a queue instead: jobs render one at a time in order (netrender.farm.queue)
    autostart: bool = True  # fifo: the next waiting job starts when none is rendering

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in _LIMITS:
                if not isinstance(value, bool):
                    raise InvalidRequest(f"balancing rule '{f.name}' must be true or false")
                continue
            kind, low, high = _LIMITS[f.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequest(f"balancing rule '{f.name}' must be a number")
            if kind is int and not isinstance(value, int):
                raise InvalidRequest(f"balancing rule '{f.name}' must be an integer")
            if not (math.isfinite(value) and low <= value <= high):
                raise InvalidRequest(f"balancing rule '{f.name}' must be between {low:g} and {high:g}, not {value}")
            if kind is float:
                object.__setattr__(self, f.name, float(value))

    def to_json(self) -> dict[str, Any]:
        """Every setting by name, ready for ``json.dumps``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, base: BalanceRules | None = None) -> BalanceRules:
        """Rules from a JSON object; settings it leaves out keep ``base``'s (default: the defaults).

        Raises :class:`InvalidRequest` for a non-object, an unknown setting, a
        wrong type or a value out of range.
        """
        if not isinstance(data, dict):
            raise InvalidRequest("the balancing rules must be a JSON object")
        unknown = sorted(str(name) for name in data if name not in _NAMES)
        if unknown:
            raise InvalidRequest(f"unknown balancing rule(s): {', '.join(unknown)}", details={"unknown": unknown})
        values = (base or cls()).to_json()
        values.update(data)
        return cls(**values)


# The numeric settings: their type and inclusive range. The others are switches.
_LIMITS: dict[str, tuple[type, float, float]] = {
    "half_life": (float, 1.0, 7 * 24 * 3600.0),
    "cap_percent": (float, 1.0, 100.0),
    "starve_minutes": (float, 0.1, 24 * 60.0),
    "max_retries": (int, 0, 100),
    "blacklist_after": (int, 1, 1000),
    "lost_timeout": (float, 1.0, 24 * 3600.0),
}
_NAMES = frozenset(f.name for f in fields(BalanceRules))

DEFAULT_RULES = BalanceRules()
