# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's guard: every call to its API must carry the farm token.

The master, its slaves and its clients get the same token from a file or from
``NETRENDER_TOKEN`` (:mod:`netrender.common.token`), never from the command
line. Requests carry it as ``Authorization: Bearer <token>``. Once a master has a
token, a request to ``/api`` without it is answered 401 before its view runs,
so it changes nothing and its body (an upload) is not read; the web monitor's
page and static files stay public, they hold no farm data.

``<img src>`` and download links cannot send a header, so the monitor asks
``/api/auth/media`` for a signature and adds it as ``?auth=`` to image and
download URLs (see ``web/static/api.js``). The signature is an HMAC of its
expiry time, lasts :data:`MEDIA_TTL` seconds, and opens only ``GET`` on
thumbnails, frame results and result zips: a link copied out of the browser
gives read access to those for a few minutes, and nothing else.

Tokens are compared in constant time, are never logged, and are kept hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, current_app, request

from ..common.errors import Unauthorized
from .httpserver import CLOSE_CONNECTION

log = logging.getLogger(__name__)

MEDIA_TTL = 600
MEDIA_PARAM = "auth"
MEDIA_ENDPOINTS = frozenset({"api.get_thumbnail", "api.get_result", "api.get_output", "api.results_zip"})
EXTENSION = "netrender.auth"


class Guard:
    """What the master knows of its token: a hash to compare with and a key to sign media links."""

    def __init__(self, token: str) -> None:
        self._digest = _sha256(token.encode())
        self._media_key = hmac.new(token.encode(), b"netrender media links", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "Guard(<token hidden>)"

    def allows(self, req: Request, now: float) -> bool:
        scheme, _, value = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(_sha256(value.strip().encode()), self._digest):
            return True
        if req.method in ("GET", "HEAD") and req.endpoint in MEDIA_ENDPOINTS:
            return self.media_signature_ok(req.args.get(MEDIA_PARAM, ""), now)
        return False

    def media_link(self, now: float) -> dict[str, Any]:
        expires = int(now) + MEDIA_TTL
        return {"query": {MEDIA_PARAM: f"{expires}.{self._sign(expires)}"}, "expires": expires}

    def media_signature_ok(self, value: str, now: float) -> bool:
        expires_text, _, signature = value.partition(".")
        if not (expires_text.isascii() and expires_text.isdigit()) or not now <= int(expires_text) <= now + MEDIA_TTL:
            return False
        return hmac.compare_digest(signature.encode(), self._sign(int(expires_text)).encode())

    def _sign(self, expires: int) -> str:
        return hmac.new(self._media_key, f"media:{expires}".encode(), hashlib.sha256).hexdigest()


def _sha256(data: bytes) -> bytes:
    """Comparing digests rather than tokens hides the token's length from timing too."""
    return hashlib.sha256(data).digest()


def install(app: Flask, token: str | None, clock: Callable[[], float]) -> None:
    """Guard every ``/api`` request of ``app`` with ``token``; no token: the API stays open."""
    app.extensions[EXTENSION] = Guard(token) if token else None
    if token:
        app.before_request(lambda: _require_token(clock))


def _require_token(clock: Callable[[], float]) -> Response | None:
    """Runs before routing errors and views, so even an unknown /api path says only 401."""
    if not (request.path == "/api" or request.path.startswith("/api/")):
        return None
    guard: Guard = current_app.extensions[EXTENSION]
    if guard.allows(request, clock()):
        return None
    given = "Authorization" in request.headers or MEDIA_PARAM in request.args
    log.info("refused %s %s from %s: %s", request.method, request.path, request.remote_addr,
             "wrong farm token" if given else "no farm token")
    error = Unauthorized("the farm token is wrong" if given else
                         "this master needs the farm token: send 'Authorization: Bearer <token>'")
    request.environ[CLOSE_CONNECTION] = True  # drop an upload's body rather than read it to keep the connection
    return Response(json.dumps(error.to_json()), status=error.status, mimetype="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="netrender"'})


def media_link(now: float) -> dict[str, Any]:
    """The query to add to media URLs; empty when the master has no token."""
    guard: Guard | None = current_app.extensions.get(EXTENSION)
    return guard.media_link(now) if guard else {"query": {}, "expires": None}
