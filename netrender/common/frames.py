# SPDX-License-Identifier: GPL-3.0-or-later
"""Frame lists as people type them (``1-12,20``), for the command line and the add-on."""

from __future__ import annotations

from .errors import InvalidRequest


def parse_frames(text: str) -> list[int]:
    """``"1-12,20,30-32"`` → the frames, in order, each once."""
    frames: dict[int, None] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            low, high = int(first), int(last) if sep else int(first)
        except ValueError:
            raise InvalidRequest(f"{part!r} is not a frame or a range like 1-12") from None
        if high < low:
            raise InvalidRequest(f"frame range {part!r} ends before it starts")
        frames.update(dict.fromkeys(range(low, high + 1)))
    if not frames:
        raise InvalidRequest("no frames given")
    return list(frames)
