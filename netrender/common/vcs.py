# SPDX-License-Identifier: GPL-3.0-or-later
"""Jobs whose files come from version control (Git, Subversion) instead of uploads: what a job names, checked.

A job names the system, the remote, the revision and the .blend's path in the
repository (the original netrender's "versioned" jobs). Each slave keeps a
working copy per remote (:mod:`netrender.node.checkout`), so a file crosses
once. A remote may carry credentials (``https://user:token@host/repo``): the
master keeps them for the slaves, but everything shown (the API, the monitor,
logs) goes through :func:`redact`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from .errors import InvalidRequest

SYSTEMS = ("git", "svn")
#: A commit, a branch or tag name, or an svn revision number; never an option (no leading "-").
REVISION_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./@^~+-]{0,199}$")
MAX_REMOTE = 2048


def check(system: str, remote: str, revision: str) -> tuple[str, str, str]:
    """The three, as a job may name them; :class:`InvalidRequest` says what is wrong."""
    if system not in SYSTEMS:
        raise InvalidRequest(f"'vcs' must be one of {', '.join(SYSTEMS)}, not {system!r}")
    if not remote or len(remote) > MAX_REMOTE or remote.startswith("-") or any(c in remote for c in "\0\n\r"):
        raise InvalidRequest("'remote' must be the repository's URL or path (not starting with '-')")
    if remote.lower().startswith("ext::"):
        raise InvalidRequest("'remote' must not use git's ext:: transport: it runs commands")
    if not REVISION_RE.match(revision):
        raise InvalidRequest("'revision' must be a commit, branch, tag or revision number")
    return system, remote, revision


def redact(remote: str) -> str:
    """``remote`` without its password or token: ``https://user:secret@host/x`` → ``https://user:***@host/x``."""
    parts = urlsplit(remote)
    if not parts.netloc or "@" not in parts.netloc:
        return remote
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    shown = f"{user}:***" if ":" in userinfo else "***"  # a lone user part may be a token (https://TOKEN@host)
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def hide(text: str, remote: str) -> str:
    """``text`` (a tool's message) with ``remote``'s secret, wherever it appears, replaced by ``***``."""
    parts = urlsplit(remote)
    if "@" not in parts.netloc:
        return text
    userinfo = parts.netloc.rsplit("@", 1)[0]
    secret = userinfo.split(":", 1)[1] if ":" in userinfo else userinfo
    return text.replace(remote, redact(remote)).replace(secret, "***") if secret else text
