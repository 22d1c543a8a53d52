# SPDX-License-Identifier: GPL-3.0-or-later
"""Talking to the master from a slave or a client.

One ``requests`` session with connect and read timeouts; error answers become
:class:`ApiError` with the master's own code and message, and a master that
cannot be reached becomes :class:`MasterUnreachable`, so callers handle two
exceptions instead of every way HTTP can fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import requests

from .blobs import write_stream
from .errors import ApiError, MasterUnreachable

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0
DEFAULT_MASTER = "http://localhost:8000"


def master_url(address: str) -> str:
    """Turn what a user types (``host``, ``host:port``, a URL, ``[default]``) into a base URL."""
    address = address.strip()
    if address in ("", "[default]"):
        return DEFAULT_MASTER
    if "://" not in address:
        address = "http://" + address
    scheme, _, rest = address.partition("://")
    if ":" not in rest.split("/", 1)[0].rsplit("]", 1)[-1]:
        host, _, path = rest.partition("/")
        rest = f"{host}:8000" + (f"/{path}" if path else "")
    return f"{scheme}://{rest}".rstrip("/")


class ProgressFile:
    """A file object that reports how many bytes were read, for upload progress."""

    def __init__(self, fh: BinaryIO, size: int, on_bytes: Callable[[int], None]) -> None:
        self.fh, self.size, self.on_bytes = fh, size, on_bytes

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        block = self.fh.read(n)
        self.on_bytes(len(block))
        return block


class Connection:
    def __init__(self, url: str, *, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)) -> None:
        self.url = master_url(url)
        self.session = session or requests.Session()
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url + path, **kwargs)
        except requests.ConnectionError as exc:
            raise MasterUnreachable(f"cannot reach the master at {self.url}: {_reason(exc)}") from exc
        except requests.Timeout as exc:
            raise MasterUnreachable(f"the master at {self.url} did not answer in time") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, payload: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=payload if payload is not None else {}, **kwargs).json()

    def put_file(self, path: str, file: Path, *, params: dict[str, Any] | None = None,
                 on_bytes: Callable[[int], None] = lambda n: None) -> Any:
        """Stream a file's bytes as the body, never reading it whole."""
        size = os.path.getsize(file)
        with open(file, "rb") as fh:
            body = ProgressFile(fh, size, on_bytes)
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            return self.request("PUT", path, data=body, params=params, headers=headers).json()

    def download(self, path: str, dest: Path, on_bytes: Callable[[int], None] = lambda n: None,
                 expect_sha256: str | None = None) -> int:
        """Stream a download to ``dest`` atomically; return its size."""
        with self.request("GET", path, stream=True) as response:
            chunks: Iterator[bytes] = response.iter_content(1 << 20)
            return write_stream(chunks, dest, expect_sha256=expect_sha256, on_bytes=on_bytes)[1]


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker in text:
            return marker.lower()
    return text[:200]


def _api_error(response: requests.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"], error.get("details"))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", f"HTTP {response.status_code} from the master")
