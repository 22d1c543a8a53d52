# SPDX-License-Identifier: GPL-3.0-or-later
"""Talking to the master from a slave or a client.

One ``requests`` session with connect and read timeouts; error answers become
:class:`ApiError` with the master's own code and message, and a master that
cannot be reached becomes :class:`MasterUnreachable` (:class:`TLSFailed` when
its certificate is not trusted), so callers handle two exceptions instead of
every way HTTP can fail. :class:`Access` holds the farm token and the trust in
the master's certificate; the session ignores proxies, ``.netrc`` and CA
bundles from the environment, so nothing but these settings decides where
the token goes and which certificate is accepted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import requests

from . import tls
from .blobs import write_stream
from .errors import ApiError, InvalidConfig, MasterUnreachable, TLSFailed
from .token import token_from

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0
DEFAULT_MASTER = "http://localhost:8000"


def master_url(address: str, scheme: str = "http") -> str:
    """Turn what a user types (``host``, ``host:port``, a URL, ``[default]``) into a base URL.

    ``scheme`` is used when the address names none.
    """
    address = address.strip()
    if address in ("", "[default]"):
        address = DEFAULT_MASTER.split("://", 1)[1]
    if "://" not in address:
        address = f"{scheme}://{address}"
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


@dataclass(frozen=True)
class Access:
    """What a slave or client needs to talk to a guarded master.

    ``ca_file`` or ``fingerprint`` (or both, then both must match) say which
    certificate to trust and make ``https`` the default scheme; see :mod:`tls`.
    """

    token: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    fingerprint: str | None = None

    @property
    def tls(self) -> bool:
        return bool(self.ca_file or self.fingerprint)

    @classmethod
    def from_env(cls) -> Access:
        """The token from ``NETRENDER_TOKEN``, if set: a slave or client given nothing else uses it."""
        return cls(token=token_from())


class Connection:
    def __init__(self, url: str, *, access: Access | None = None, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)) -> None:
        self.access = access if access is not None else Access.from_env()
        self.url = master_url(url, "https" if self.access.tls else "http")
        if self.access.tls and not self.url.startswith("https://"):
            raise InvalidConfig(f"a CA file or fingerprint is given, but the master's address {self.url} is not https")
        self.session = session or requests.Session()
        self.session.trust_env = False
        self.session.mount("https://", tls.MasterAdapter(self.access.ca_file, self.access.fingerprint))
        if self.access.token:
            self.session.headers["Authorization"] = f"Bearer {self.access.token}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url + path, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise TLSFailed(f"TLS with the master at {self.url} failed: {tls.describe_failure(exc)}") from exc
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
            try:
                return self.request("PUT", path, data=body, params=params, headers=headers).json()
            except MasterUnreachable:
                self.check_access()
                raise

    def check_access(self) -> None:
        """Raise the master's 401 if it refuses this connection's token.

        A master that refuses an upload closes the connection without reading
        the body, which the sender sees as a broken connection; a small request
        tells whether the token was the reason.
        """
        with contextlib.suppress(MasterUnreachable):
            self.get("/api/version")

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
