# SPDX-License-Identifier: GPL-3.0-or-later
"""netrender's exceptions.

Each carries a stable ``code`` (the ``error.code`` of the JSON error shape) and
the HTTP ``status`` it maps to. Code raises them where the problem is found; only
the edges turn them into JSON (``api``), an exit code (``cli``) or an operator
report (the add-on).
"""

from __future__ import annotations

from typing import Any


class NetrenderError(Exception):
    """Base of every error netrender raises on purpose."""

    code = "netrender_error"
    status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class InvalidRequest(NetrenderError):
    """The request is malformed: bad JSON, a wrong type, an unsafe path."""

    code = "invalid_request"
    status = 400


class HashMismatch(InvalidRequest):
    """An upload's bytes do not hash to the name it was sent under."""

    code = "hash_mismatch"


class Unauthorized(NetrenderError):
    """The request lacks the farm token, or carries a wrong one; the master did nothing."""

    code = "unauthorized"
    status = 401


class Forbidden(NetrenderError):
    """The request names something this master will not show: a path outside its shared storage."""

    code = "forbidden"
    status = 403


class NotFound(NetrenderError):
    code = "not_found"
    status = 404


class UnknownJob(NotFound):
    code = "unknown_job"


class UnknownSlave(NotFound):
    """The master does not know this slave id: the slave should register again."""

    code = "unknown_slave"


class Conflict(NetrenderError):
    """The request is well formed but the state does not allow it now."""

    code = "conflict"
    status = 409


class MissingFiles(Conflict):
    """A job names files the master has not received yet."""

    code = "missing_files"


class FrameNotReady(Conflict):
    code = "frame_not_ready"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class TooLarge(NetrenderError):
    code = "too_large"
    status = 413


class StorageFull(NetrenderError):
    """The master's disk refused a write; nothing half-written was kept."""

    code = "storage_full"
    status = 507


# Raised on the caller's side (slave, client) rather than by the master.


class MasterUnreachable(NetrenderError):
    code = "master_unreachable"
    status = 503


class TLSFailed(MasterUnreachable):
    """The master answered, but the TLS connection to it could not be trusted or agreed on."""

    code = "tls_failed"


class InvalidConfig(NetrenderError):
    """A setting cannot be used: an unreadable certificate or token file, a malformed fingerprint."""

    code = "invalid_config"
    status = 400


class ApiError(NetrenderError):
    """An error answer from the master, rebuilt on the caller's side."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.status = status
        self.code = code


class RenderFailed(NetrenderError):
    code = "render_failed"
