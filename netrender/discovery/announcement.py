# SPDX-License-Identifier: GPL-3.0-or-later
"""The announcement itself: its payload, the service it names, and the sockets that carry it.

Pure functions check what the network sends, so they are tested without sockets.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
from collections.abc import Iterable, Mapping, Sequence

import ifaddr
from zeroconf import (
    InterfaceChoice,
    Zeroconf,
)

from ..common.errors import MasterUnreachable

log = logging.getLogger(__name__)

DISCOVERY_PORT = 8000  # the original add-on's: its masters broadcast there too (an ASCII port, ignored here)
SERVICE_TYPE = "_netrender._tcp.local."
PROTOCOL = 1  # bumped only when an older receiver could not use a newer announcement
DEFAULT_INTERVAL = 10.0
DEFAULT_TIMEOUT = 11.0  # one broadcast interval and a margin: a master that broadcasts is always heard
MAX_PAYLOAD = 512  # real announcements are ~50 bytes; anything longer is not ours
SCHEMES = ("http", "https")
ZEROCONF_RESOLVE_MS = 3000


class DiscoveryError(MasterUnreachable):
    """No master announced itself in time (or discovery could not listen at all).

    A kind of :class:`MasterUnreachable`, so whatever already handles an
    unreachable master (the CLI's exit code 3, a slave's retry loop, the add-on's
    report) handles this too.
    """

    code = "master_not_found"
    status = 503


# -- pure parts -----------------------------------------------------------------


def is_default(address: str) -> bool:
    """Whether a ``--master`` value asks for discovery rather than naming a master."""
    return address.strip() in ("", "[default]")


def base_url(host: str, port: int, scheme: str = "http") -> str:
    """``scheme://host:port``, with an IPv6 literal in brackets."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def encode_announcement(port: int, scheme: str = "http") -> bytes:
    """The broadcast's payload: what a receiver cannot learn from the packet itself."""
    return json.dumps({"netrender": PROTOCOL, "port": port, "scheme": scheme}, separators=(",", ":")).encode()


def parse_announcement(data: bytes, sender: str) -> str | None:
    """The master URL a datagram from ``sender`` announces, or ``None`` when it is not a valid announcement.

    Whatever else shares the port (the original add-on's ASCII port, other
    programs, a newer protocol) is ignored rather than raised: a listener runs
    for days and must not stop for a stray packet.
    """
    if len(data) > MAX_PAYLOAD:
        return None
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(message, dict):
        return None
    version, port, scheme = message.get("netrender"), message.get("port"), message.get("scheme", "http")
    # type() rather than isinstance(): JSON true and 1.0 are not 1 here
    if type(version) is not int or version != PROTOCOL or type(port) is not int or not 0 < port < 65536:
        return None
    if scheme not in SCHEMES or not _usable_ip(sender):
        return None
    return base_url(sender, port, scheme)


def service_name(hostname: str, port: int) -> str:
    """The zeroconf instance name: host and port, so two masters (even on one host) never clash."""
    label = re.sub(r"[^a-z0-9-]+", "-", hostname.split(".")[0].lower()).strip("-") or "host"
    suffix = f"-{port}"
    return "netrender-" + label[: 63 - len("netrender-") - len(suffix)] + suffix


def service_properties(scheme: str = "http") -> dict[str, str]:
    """The service's TXT record: the protocol version, as in the broadcast, and the scheme."""
    return {"netrender": str(PROTOCOL), "scheme": scheme}


def url_from_service(addresses: Sequence[str], port: int | None,
                     properties: Mapping[bytes, bytes | None]) -> str | None:
    """The master URL a resolved zeroconf service names, or ``None`` for a foreign or incomplete one."""
    if properties.get(b"netrender") != str(PROTOCOL).encode() or not port:
        return None
    scheme = (properties.get(b"scheme") or b"http").decode("ascii", "replace")
    host = pick_address(addresses)
    if scheme not in SCHEMES or host is None:
        return None
    return base_url(host, port, scheme)


def pick_address(addresses: Sequence[str]) -> str | None:
    """The address a remote machine most likely reaches: IPv4 before IPv6, loopback last.

    Link-local IPv6 is skipped: it is useless without a scope id, which a URL
    handed to ``requests`` cannot carry.
    """
    usable = [ipaddress.ip_address(a) for a in addresses if _usable_ip(a)]
    usable = [ip for ip in usable if not (ip.version == 6 and ip.is_link_local)]
    usable.sort(key=lambda ip: (ip.is_loopback, ip.version))
    return str(usable[0]) if usable else None


def subnet_broadcasts(interfaces: Iterable[tuple[str, int]]) -> list[str]:
    """The broadcast address of each (IPv4 address, prefix length) subnet, loopback and /31-/32 left out.

    What ``<broadcast>`` means to :class:`Announcer`: 255.255.255.255 leaves by
    one interface only, and not at all from a host without a default route (a
    farm's private switch often has none), while a subnet's own broadcast
    address reaches that subnet from any host on it.
    """
    networks = {ipaddress.IPv4Interface(f"{ip}/{prefix}").network for ip, prefix in interfaces if ":" not in ip}
    return sorted(str(net.broadcast_address) for net in networks if not net.is_loopback and net.prefixlen < 31)


def host_ipv4() -> list[tuple[str, int]]:
    """This host's IPv4 addresses with their prefix lengths, as the interfaces are now."""
    return [(ip.ip, ip.network_prefix) for adapter in ifaddr.get_adapters() for ip in adapter.ips
            if isinstance(ip.ip, str)]


def host_addresses() -> list[str]:
    """This host's IPv4 addresses for the zeroconf record: loopback only when there is nothing else."""
    found = {ip for ip, _ in host_ipv4() if _usable_ip(ip) and not ipaddress.ip_address(ip).is_loopback}
    return sorted(found) or ["127.0.0.1"]


def _usable_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (ip.is_unspecified or ip.is_multicast)


def _interfaces(interfaces: Sequence[str] | None) -> list[str] | InterfaceChoice:
    return InterfaceChoice.All if interfaces is None else list(interfaces)


def _close(zc: Zeroconf) -> None:
    """Close a Zeroconf and the event loop it made: close() only stops it, which leaks two sockets each time."""
    zc.close()
    if zc.loop is not None and not zc.loop.is_running() and not zc.loop.is_closed():
        zc.loop.close()


def _listening_socket(bind: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # every slave and client on a host hears each one
    if hasattr(socket, "SO_REUSEPORT"):  # macOS and the BSDs need it for that; Linux does with either
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((bind, port))
    except OSError:
        sock.close()
        raise
    return sock
