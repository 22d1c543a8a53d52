# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's side: a UDP broadcast every interval, and a zeroconf service."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from zeroconf import Error as ZeroconfError
from zeroconf import (
    ServiceInfo,
    Zeroconf,
)

from .announcement import (
    DEFAULT_INTERVAL,
    DISCOVERY_PORT,
    SCHEMES,
    SERVICE_TYPE,
    _close,
    _interfaces,
    _usable_ip,
    encode_announcement,
    host_addresses,
    host_ipv4,
    service_name,
    service_properties,
    subnet_broadcasts,
)

log = logging.getLogger(__name__)

# -- the master's side ----------------------------------------------------------


class Announcer:
    """Broadcasts the master's port every ``interval`` seconds and publishes its zeroconf service.

    ``broadcast_address`` ``<broadcast>`` sends to every subnet this host is on
    (:func:`subnet_broadcasts`, looked up each round so a new address is used at
    once); tests give a loopback address. ``interfaces`` limits zeroconf to those
    addresses (default: all); ``addresses`` are the ones the service record
    names (default: the ``interfaces`` given, else this host's non-loopback IPv4
    addresses, looked up each interval: when they change the service is
    published anew, so slaves follow a master whose address changed). A failure
    to send or register is logged and tried again next interval, never raised:
    the master serves whether or not it can be discovered.
    """

    def __init__(self, port: int, scheme: str = "http", interval: float = DEFAULT_INTERVAL, *,
                 broadcast: bool = True, zeroconf: bool = True, broadcast_address: str = "<broadcast>",
                 discovery_port: int = DISCOVERY_PORT, addresses: Sequence[str] | None = None,
                 interfaces: Sequence[str] | None = None, hostname: str | None = None,
                 service_type: str = SERVICE_TYPE) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
        if not interval > 0:
            raise ValueError("the broadcast interval must be positive")
        self.port, self.scheme, self.interval = port, scheme, interval
        self.broadcast, self.zeroconf = broadcast, zeroconf
        self.broadcast_address, self.discovery_port = broadcast_address, discovery_port
        self.interfaces, self.service_type = interfaces, service_type
        self.fixed_addresses = list(addresses or interfaces or ()) or None
        self.payload = encode_announcement(port, scheme)
        self.sent = 0  # datagrams sent, for tests and the log
        self.registered = threading.Event()  # set while the zeroconf service is on the network
        self.instance = service_name(hostname or socket.gethostname(), port)
        self.info: ServiceInfo | None = None  # the published record; its name may differ if zeroconf renamed it
        self._next = float("-inf")
        self._failing: set[str] = set()  # broadcast targets that failed last round
        self._failing_zeroconf = False
        self._sock: socket.socket | None = None
        self._zc: Zeroconf | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def targets(self) -> list[str]:
        """Where this round's broadcast goes."""
        if self.broadcast_address != "<broadcast>":
            return [self.broadcast_address]
        return subnet_broadcasts(host_ipv4()) or ["255.255.255.255"]

    def run_once(self, now: float) -> bool:
        """Broadcast if it is due at ``now`` (monotonic seconds) and on; return whether a datagram went out."""
        if not self.broadcast or now < self._next:
            return False
        self._next = now + self.interval
        sent = False
        for target in self.targets():
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                self._sock.sendto(self.payload, (target, self.discovery_port))
            except OSError as exc:  # no network yet, cable out: said once, tried again each round
                if target not in self._failing:
                    log.warning("discovery broadcast to %s:%s fails: %s", target, self.discovery_port, exc)
                    self._failing.add(target)
                continue
            self._failing.discard(target)
            self.sent += 1
            sent = True
        return sent

    def publish_once(self) -> bool:
        """Publish the zeroconf service, or publish it anew if the addresses changed; return whether it is up.

        Blocks for the ~2 s zeroconf spends probing the network before it
        registers. Each publication gets a new Zeroconf, because an old one's
        sockets stay bound to the old addresses.
        """
        addresses = self.fixed_addresses or host_addresses()
        if self.info is not None and self.registered.is_set() and self.info.parsed_addresses() == addresses:
            return True
        self.withdraw()
        info = ServiceInfo(  # its own server name, not the host's: no clash with avahi's or Bonjour's record
            self.service_type, f"{self.instance}.{self.service_type}", port=self.port,
            properties=service_properties(self.scheme), parsed_addresses=addresses,
            server=f"{self.instance}.local.",
        )
        try:
            self._zc = Zeroconf(interfaces=_interfaces(self.interfaces))
            self._zc.register_service(info, allow_name_change=True)
        except (ZeroconfError, OSError) as exc:
            if not self._failing_zeroconf:  # said once, tried again each interval
                log.warning("zeroconf: cannot publish %s (trying again every %g s): %s", info.name, self.interval, exc)
            self._failing_zeroconf = True
            self.withdraw()
            return False
        self._failing_zeroconf = False
        self.info = info
        self.registered.set()
        log.info("zeroconf: published %s at %s", info.name, ", ".join(addresses))
        return True

    def withdraw(self) -> None:
        """Unregister the service (its goodbye tells listeners at once) and close zeroconf."""
        if self._zc is None:
            return
        if self.registered.is_set() and self.info is not None:
            try:
                self._zc.unregister_service(self.info)
            except (ZeroconfError, OSError) as exc:
                log.warning("zeroconf: unregistering %s failed: %s", self.info.name, exc)
        self.registered.clear()
        _close(self._zc)
        self._zc = None

    def start(self) -> Announcer:
        """Broadcast and publish in background threads; returns at once."""
        if self._threads:
            return self
        if self.broadcast:
            self._threads.append(threading.Thread(target=self._broadcast_loop, name="netrender-announce",
                                                  daemon=True))
        if self.zeroconf:
            self._threads.append(threading.Thread(target=self._zeroconf_loop, name="netrender-zeroconf",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop broadcasting and withdraw the service."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.withdraw()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Announcer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _broadcast_loop(self) -> None:
        while not self._stopping.is_set():
            self.run_once(time.monotonic())
            self._stopping.wait(max(0.0, self._next - time.monotonic()))

    def _zeroconf_loop(self) -> None:
        while not self._stopping.is_set():
            self.publish_once()
            self._stopping.wait(self.interval)


def announcer_for(bind_host: str, port: int, scheme: str = "http", interval: float = DEFAULT_INTERVAL, *,
                  broadcast: bool = True, zeroconf: bool = True) -> Announcer:
    """The Announcer for a master listening on ``bind_host``: announce only where it can be reached.

    Every interface for ``""``/``0.0.0.0``; that address's subnet and interface
    for one address; nothing at all for loopback (no other machine could reach
    it, and local slaves are given its URL), so a master started for a test or
    the demo on 127.0.0.1 stays off the network.
    """
    if bind_host in ("", "0.0.0.0"):
        return Announcer(port, scheme, interval, broadcast=broadcast, zeroconf=zeroconf)
    try:
        address = socket.gethostbyname(bind_host)  # what the server binds to, for a host name
    except OSError:
        address = bind_host
    if not _usable_ip(address) or ipaddress.ip_address(address).is_loopback:
        return Announcer(port, scheme, interval, broadcast=False, zeroconf=False)
    subnet = subnet_broadcasts((ip, prefix) for ip, prefix in host_ipv4() if ip == address)
    return Announcer(port, scheme, interval, broadcast=broadcast, zeroconf=zeroconf,
                     broadcast_address=subnet[0] if subnet else "<broadcast>", interfaces=[address])
