# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks on untrusted input: JSON fields and the paths that name job files.

Every check raises :class:`InvalidRequest` with a message naming the field, so
a malformed request gets a clear 400 and never reaches the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .errors import InvalidRequest

T = TypeVar("T")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_NAME = 256
MAX_INT = 2**63 - 1  # what SQLite stores; ids and numbers beyond it cannot name anything


def field(data: Mapping[str, Any], name: str, kind: type[T], default: Any = ...) -> T:
    """Return ``data[name]`` if it has type ``kind`` (bool is not an int here)."""
    if name not in data or data[name] is None:
        if default is ...:
            raise InvalidRequest(f"'{name}' is required")
        return default  # type: ignore[no-any-return]
    value = data[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    # JSON's true/false are Python ints too; they are never a number here.
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise InvalidRequest(f"'{name}' must be {_kind_name(kind)}, not {_kind_name(type(value))}")
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise InvalidRequest(f"'{name}' is out of range")
    return value


def int_in(data: Mapping[str, Any], name: str, low: int, high: int, default: Any = ...) -> int:
    value = field(data, name, int, default)
    if value is None and default is None:
        return value
    if not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be between {low} and {high}, not {value}")
    return value


def text(data: Mapping[str, Any], name: str, default: Any = ..., limit: int = MAX_NAME) -> str:
    value = field(data, name, str, default)
    if len(value) > limit or "\x00" in value:
        raise InvalidRequest(f"'{name}' must be at most {limit} characters with no NUL")
    return value


def string_list(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list of short non-empty strings, e.g. tags; given or empty."""
    values = field(data, name, list, [])
    out = []
    for item in values:
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_NAME:
            raise InvalidRequest(f"'{name}' must be a list of non-empty strings")
        out.append(item.strip())
    return tuple(dict.fromkeys(out))


def json_object(data: Any, what: str = "body", allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """A JSON object; with ``allowed``, one naming no other key (a typo must not pass silently)."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"the {what} must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise InvalidRequest(f"unknown field(s) in the {what}: {', '.join(unknown)}")
    return data


def sha256_hex(value: Any) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise InvalidRequest(f"{value!r:.80} is not a lowercase SHA-256 hex digest")
    return value


def safe_relpath(value: Any) -> str:
    """Accept a job file's name only if it stays inside the job's folder.

    Refuses absolute paths, Windows drive and UNC paths, backslashes, NUL bytes,
    and ``.``/``..``/empty parts: the master and slaves join this name to a
    folder they own, so it must not be able to climb out of it.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRequest("a file path must be a non-empty string")
    if len(value) > 1024:
        raise InvalidRequest("a file path must be at most 1024 characters")
    if "\x00" in value or "\\" in value:
        raise InvalidRequest(f"file path {value!r:.80} holds a NUL byte or a backslash")
    if value.startswith("/") or _DRIVE.match(value):
        raise InvalidRequest(f"file path {value!r:.80} must be relative")
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidRequest(f"file path {value!r:.80} must not hold empty, '.' or '..' parts")
    return value


#: Paths as a client's machine writes them: POSIX, a Windows drive or a UNC share.
_ABSOLUTE = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\[^\\])")
MAX_PATH = 4096
MAX_PATHS = 100_000


def client_path(value: Any, name: str) -> str:
    """An absolute path on a client's machine, any OS's: the master stores it, never opens it as given."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_PATH or "\x00" in value:
        raise InvalidRequest(f"'{name}' must be a path of 1 to {MAX_PATH} characters with no NUL")
    if not _ABSOLUTE.match(value):
        raise InvalidRequest(f"'{name}' {value!r:.80} must be an absolute path")
    return value


def path_list(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list of paths as a client wrote them (any OS), for reports: given or empty."""
    values = field(data, name, list, [])
    if len(values) > MAX_PATHS:
        raise InvalidRequest(f"'{name}' holds more than {MAX_PATHS} paths")
    for item in values:
        if not isinstance(item, str) or not 0 < len(item) <= MAX_PATH or "\x00" in item:
            raise InvalidRequest(f"'{name}' must be a list of paths of 1 to {MAX_PATH} characters with no NUL")
    return tuple(values)


def _kind_name(kind: type) -> str:
    return {int: "an integer", str: "a string", list: "a list", dict: "an object",
            float: "a number", bool: "true or false"}.get(kind, kind.__name__)
