# SPDX-License-Identifier: GPL-3.0-or-later
"""A host before logging in: does SSH answer there, which key does it show, and trusting that key on purpose.

An unknown host is refused by :class:`~.link.Link` with its fingerprint;
:func:`trust` is the one way to accept it, and only when the key shown is the
one the admin read out (``netrender nodes trust HOST --fingerprint SHA256:…``).
"""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko

from ..common.nodes import NodeSpec
from .link import HostKeyChanged, Link, SshError, fingerprint, known_hosts_entry


def is_port_open(host: str, port: int, timeout: float = 2.0) -> str | None:
    """The SSH server's banner if one answers at ``host:port``, else ``None``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(256).decode("ascii", "replace").strip()
    except OSError:
        return None
    return banner if banner.startswith("SSH-") else None


def host_key(spec: NodeSpec, timeout: float = 15.0) -> paramiko.PKey:
    """The key the host shows, read without logging in."""
    try:
        with socket.create_connection((spec.host, spec.port), timeout=timeout) as sock:
            transport = paramiko.Transport(sock)
            try:
                transport.start_client(timeout=timeout)
                return transport.get_remote_server_key()
            finally:
                transport.close()
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise SshError(f"cannot reach {spec.name}: {exc or type(exc).__name__}") from exc


def trust(spec: NodeSpec, expected: str, timeout: float = 15.0) -> Path:
    """Add the host's key to the node's ``known_hosts``, only if its fingerprint is ``expected``; the file."""
    key = host_key(spec, timeout)
    shown = fingerprint(key)
    if shown != expected.strip():
        raise HostKeyChanged(f"{spec.name} shows the key {shown}, not {expected.strip()}: nothing was trusted")
    path = Link(spec).known_hosts
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="ascii") as fh:
        fh.write(f"{known_hosts_entry(spec)} {key.get_name()} {key.get_base64()}\n")
    return path
