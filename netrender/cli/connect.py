# SPDX-License-Identifier: GPL-3.0-or-later
"""Which master a command talks to, and with what token and trust: shared by every command module."""

from __future__ import annotations

import argparse
import sys

from ..common import tls
from ..common.connection import Access, Connection
from ..common.errors import NetrenderError
from ..common.token import token_from


def master(args: argparse.Namespace) -> str:
    """The master's URL: as given, else this machine's if one answers there, else discovered."""
    from ..discovery import find_master, is_default

    if not args.discover and not is_default(args.master):
        return str(args.master)
    trust = access(args)
    if not args.discover:
        local = Connection("[default]", access=trust, timeout=(1.0, 5.0))
        try:
            local.get("/api/version")
            return local.url
        except NetrenderError:
            pass
    print("looking for the master on the network…", file=sys.stderr)
    url = find_master(https_only=trust.tls)
    print(f"found the master at {url}", file=sys.stderr)
    return url


def access(args: argparse.Namespace) -> Access:
    """The token and trust settings of a slave or client command."""
    fingerprint = tls.parse_fingerprint(args.fingerprint) if args.fingerprint else None
    return Access(token=token_from(args.token_file), ca_file=args.ca_file, fingerprint=fingerprint)
