# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the browser tests: Debian's Chromium under Playwright, and a farm driven over its API."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import requests
from conftest import EXR_BYTES

CHROMIUM = os.environ.get("NETRENDER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain-colour PNG, written by hand so the fake slave needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


class FarmApi:
    """The master's API as the CLI and a slave use it: enough to fill a farm without Blender."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.url}/api/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def job(self, job_id: int) -> dict[str, Any]:
        return self.get(f"jobs/{job_id}")  # type: ignore[no-any-return]

    def status(self, job_id: int) -> int:
        return self.http.get(f"{self.url}/api/jobs/{job_id}?frames=false", timeout=30).status_code

    def slave(self, slave_id: str) -> dict[str, Any]:
        return next(s for s in self.get("slaves")["slaves"] if s["id"] == slave_id)

    def submit(self, name: str, frames: list[int], **options: Any) -> dict[str, Any]:
        """A job whose scene is a few bytes: fine for the master, which never opens it."""
        blend = f"{name}.blend".encode() + b" stand-in"
        digest = hashlib.sha256(blend).hexdigest()
        self.call("PUT", f"files/{digest}", data=blend)
        body = {"name": name, "blend": f"{name}.blend", "frames": frames,
                "files": [{"path": f"{name}.blend", "sha256": digest, "size": len(blend)}], **options}
        return self.call("POST", "jobs", json=body)  # type: ignore[no-any-return]

    def submit_tiles(self, name: str, frames: list[int], tiles: int, size: tuple[int, int], denoise: bool = False,
                     **options: Any) -> dict[str, Any]:
        """A job of tiles: each frame cut into about ``tiles`` regions of its ``size``, then stitched."""
        return self.submit(name, frames, kind="tiles", tiles=tiles, size=list(size), denoise=denoise,
                           engine="CYCLES", **options)

    def register(self, name: str, tags: tuple[str, ...] = (), cores: int = 8, gpu: Any = None,
                 **more_facts: Any) -> str:
        """A slave; ``more_facts`` such as ``blender="4.2.3"`` or ``capabilities=["denoise"]``."""
        facts = {"os": "Linux 6.1.0", "cpu": "x86_64", "cores": cores, "gpu": gpu, **more_facts}
        return str(self.call("POST", "slaves", json={"name": name, "facts": facts, "tags": list(tags)})["id"])

    def take(self, slave_id: str) -> dict[str, Any] | None:
        return self.call("POST", f"slaves/{slave_id}/work")["work"]  # type: ignore[no-any-return]

    def finish(self, slave_id: str, job_id: int, frame: int, seconds: float = 2.5,
               rgb: tuple[int, int, int] = (60, 110, 200)) -> None:
        """What a slave sends for a rendered frame: its log, its result, then its thumbnail."""
        frame_url = f"jobs/{job_id}/frames/{frame}"
        log = f"Blender 4.2 (fake slave)\nFra:{frame} Mem:12M | Rendering 1 / 1 samples\nSaved: '{frame:06d}.exr'\n"
        self.call("PUT", f"{frame_url}/log", data=log.encode())
        self.call("PUT", f"{frame_url}/result", params={"slave": slave_id, "render_time": seconds}, data=EXR_BYTES)
        self.call("PUT", f"{frame_url}/thumbnail", params={"slave": slave_id}, data=png_bytes(64, 36, rgb))

    def fail(self, slave_id: str, job_id: int, frame: int, message: str = "Blender quit with exit code 1") -> None:
        self.call("POST", f"jobs/{job_id}/frames/{frame}/error", json={"slave": slave_id, "message": message})
