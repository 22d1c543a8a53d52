# SPDX-License-Identifier: GPL-3.0-or-later
"""One JSON error shape for every answer the master refuses, whatever raised it.

Clients, slaves and the monitor read ``{"error": {"code", "message", "details"}}``
(``Error`` in ``openapi.yaml``) and nothing else: our own errors carry their
status and code; Werkzeug's 404/405/413 are reshaped; a full disk or a busy
database says so with 507 or 503; anything unexpected is logged with its
traceback here and answers a short 500 that shows none of it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..common.errors import NetrenderError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return Response(json.dumps({"error": error}), status=status, mimetype="application/json")


def install_error_handlers(app: Flask) -> None:
    """One JSON error shape for everything, including Werkzeug's 404/405/413."""

    @app.errorhandler(NetrenderError)
    def on_netrender_error(exc: NetrenderError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(sqlite3.OperationalError)
    def on_database_error(exc: sqlite3.OperationalError) -> Response:
        """A full disk or a busy database is a state of the machine, not a bug: say which."""
        text = str(exc)
        if "full" in text:
            return error_response(507, "storage_full", "the master's disk is full: free space, then retry")
        if "locked" in text or "busy" in text:
            response = error_response(503, "busy", "the master's database is busy: retry shortly")
            response.headers["Retry-After"] = "1"
            return response
        log.exception("database error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the master's database failed")

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", f"the master failed: {type(exc).__name__}")
