# SPDX-License-Identifier: GPL-3.0-or-later
"""The farm token as master, slaves and clients read it: from a file, or from ``NETRENDER_TOKEN``.

Never from the command line, where ``ps`` would show it to every user of the
machine. The master's side of it, checking every request, is
:mod:`netrender.server.auth`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import InvalidConfig

ENV_VAR = "NETRENDER_TOKEN"


def check_token(text: str, source: str) -> str:
    """The token without surrounding whitespace; it must fit in an HTTP header as it is."""
    token = text.strip()
    if not token:
        raise InvalidConfig(f"the farm token in {source} is empty")
    if not all("!" <= c <= "~" for c in token):
        raise InvalidConfig(f"the farm token in {source} must be printable ASCII without spaces")
    return token


def read_token_file(path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"cannot read the token file {path}: {exc.__class__.__name__}") from None
    return check_token(text, str(path))


def token_from(token_file: Path | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The token from ``token_file`` if given, else from ``NETRENDER_TOKEN``; ``None``: no token."""
    if token_file:
        return read_token_file(token_file)
    value = environ.get(ENV_VAR, "")
    return check_token(value, ENV_VAR) if value.strip() else None
