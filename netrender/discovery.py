# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding the master on the local network, so slaves and clients need no address.

The master announces itself two ways, because neither reaches every network:

* a UDP broadcast every ``interval`` seconds to :data:`DISCOVERY_PORT`, as the
  original add-on did. It needs nothing but the socket module, but stays on one
  subnet and some Wi-Fi drops broadcasts. The payload is a small versioned JSON
  object (:func:`encode_announcement`); the receiver takes the master's IP from
  ``recvfrom``, so the payload never has to guess which of its addresses to name.
* a ``_netrender._tcp.local.`` service through zeroconf (mDNS/DNS-SD), which
  answers a query at once instead of after up to one interval, and which
  Bonjour/Avahi tools can list.

:class:`Announcer` is the master's side; :class:`Follower` listens to both at
once in the background and keeps the latest URL it heard, for a slave that must
follow a master whose address changes; :func:`find_master` is a Follower that
returns its first answer or raises :class:`DiscoveryError`.

The payload rules are pure functions (:func:`parse_announcement`,
:func:`url_from_service`) so the checks on what the network sends are tested
without sockets, and each loop is a step tests drive without sleeping
(:meth:`Announcer.run_once`, :meth:`Announcer.publish_once`,
:meth:`Follower.receive_once`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

import ifaddr
from zeroconf import Error as ZeroconfError
from zeroconf import (
    InterfaceChoice,
    ServiceBrowser,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
)

from .errors import MasterUnreachable

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


# -- the slave's and client's side ----------------------------------------------


class Follower:
    """Listens for announcements, by broadcast and zeroconf at once, and keeps the latest master URL.

    A slave keeps one running for its whole life, and when its connection
    fails asks :meth:`moved` whether the master now answers somewhere else.
    ``bind`` is the broadcast socket's address: ``""`` (every interface) is
    needed to receive broadcasts; several Followers on one host share the port.
    Announcements are not authenticated: ``https_only`` (for a slave or client
    that verifies the master's certificate) ignores plain-http ones, so a forged
    announcement cannot talk it into sending its farm token in clear.
    """

    def __init__(self, *, port: int = DISCOVERY_PORT, use_zeroconf: bool = True, use_broadcast: bool = True,
                 bind: str = "", interfaces: Sequence[str] | None = None, service_type: str = SERVICE_TYPE,
                 https_only: bool = False) -> None:
        self.port, self.use_zeroconf, self.use_broadcast = port, use_zeroconf, use_broadcast
        self.bind, self.interfaces, self.service_type = bind, interfaces, service_type
        self.https_only = https_only
        self.count = 0  # announcements accepted so far, for waiting on the next one
        self._latest: str | None = None
        self._changed = threading.Condition()
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()  # stop() wakes a blocked receive_once at once
        self._zc: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Follower:
        """Start listening in the background; a way that cannot start is logged and skipped.

        Raises :class:`DiscoveryError` only when no way could start at all.
        """
        problems = []
        if self.use_broadcast and self._sock is None:
            try:
                self._sock = _listening_socket(self.bind, self.port)
            except OSError as exc:
                problems.append(f"UDP port {self.port}: {exc}")
            else:
                self._thread = threading.Thread(target=self._receive_loop, name="netrender-follow", daemon=True)
                self._thread.start()
        if self.use_zeroconf and self._zc is None:
            try:
                self._zc = Zeroconf(interfaces=_interfaces(self.interfaces))
                self._browser = ServiceBrowser(self._zc, self.service_type, handlers=[self._on_service])
            except (ZeroconfError, OSError, RuntimeError) as exc:
                problems.append(f"zeroconf: {exc}")
                if self._zc is not None:
                    _close(self._zc)
                    self._zc = None
        for problem in problems:
            log.warning("discovery cannot listen on %s", problem)
        if self._sock is None and self._browser is None:
            self.stop()
            raise DiscoveryError("cannot listen for a master: " + ("; ".join(problems) or "discovery is off"),
                                 details={"problems": problems})
        return self

    def stop(self) -> None:
        """Stop listening and close every socket; safe to call twice."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._browser is not None:
            self._browser.cancel()
        if self._zc is not None:
            _close(self._zc)
        if self._sock is not None:
            self._sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Follower:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def latest(self) -> str | None:
        """The URL of the last announcement heard, from either way; ``None`` before the first."""
        with self._changed:
            return self._latest

    def moved(self, current: str) -> str | None:
        """The latest announced URL if it differs from ``current``: where a slave should reconnect."""
        latest = self.latest()
        return latest if latest is not None and latest != current.rstrip("/") else None

    def wait(self, timeout: float, *, newer_than: int = 0) -> str | None:
        """Wait until more than ``newer_than`` announcements were heard; the latest URL, or ``None`` at timeout."""
        with self._changed:
            self._changed.wait_for(lambda: self.count > newer_than, timeout=timeout)
            return self._latest if self.count > newer_than else None

    def heard(self, url: str, how: str) -> bool:
        """Record an announcement (called by both listeners); return whether it was taken."""
        if self.https_only and not url.startswith("https://"):
            log.info("discovery: ignored %s (%s): only https masters are followed", url, how)
            return False
        with self._changed:
            if url != self._latest:
                log.info("discovery: master at %s (%s)", url, how)
            self._latest = url
            self.count += 1
            self._changed.notify_all()
        return True

    def receive_once(self, timeout: float) -> str | None:
        """Take one datagram, waiting at most ``timeout`` s; the URL it announced if taken, else ``None``."""
        assert self._sock is not None, "receive_once needs the broadcast socket: start() with use_broadcast"
        ready, _, _ = select.select([self._sock, self._wake_r], [], [], timeout)
        if self._sock not in ready:
            return None
        try:
            data, sender = self._sock.recvfrom(MAX_PAYLOAD + 1)  # one byte more: too long shows as too long
        except OSError as exc:
            log.warning("discovery receive failed: %s", exc)
            return None
        url = parse_announcement(data, sender[0])
        return url if url is not None and self.heard(url, "broadcast") else None

    def _receive_loop(self) -> None:
        while not self._stopping.is_set():
            self.receive_once(1.0)

    def _on_service(self, zeroconf: Zeroconf, service_type: str, name: str,
                    state_change: ServiceStateChange) -> None:
        """ServiceBrowser's handler (its own thread, so resolving may block)."""
        if state_change is ServiceStateChange.Removed or self._stopping.is_set():
            return
        try:
            info = zeroconf.get_service_info(service_type, name, timeout=ZEROCONF_RESOLVE_MS)
        except (ZeroconfError, OSError, RuntimeError) as exc:
            log.warning("zeroconf: cannot resolve %s: %s", name, exc)
            return
        if info is None:
            return
        url = url_from_service(info.parsed_addresses(), info.port, info.properties)
        if url is not None:
            self.heard(url, "zeroconf")


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


def find_master(timeout: float = DEFAULT_TIMEOUT, *, port: int = DISCOVERY_PORT, use_zeroconf: bool = True,
                use_broadcast: bool = True, bind: str = "", interfaces: Sequence[str] | None = None,
                service_type: str = SERVICE_TYPE, https_only: bool = False) -> str:
    """The base URL of the first master heard by broadcast or zeroconf, e.g. ``http://192.168.1.5:8000``.

    Raises :class:`DiscoveryError` when none answers within ``timeout`` seconds.
    """
    with Follower(port=port, use_zeroconf=use_zeroconf, use_broadcast=use_broadcast, bind=bind,
                  interfaces=interfaces, service_type=service_type, https_only=https_only) as follower:
        url = follower.wait(timeout)
    if url is None:
        raise DiscoveryError(
            f"No master answered on the network within {timeout:g} s: start one, or give its address with --master",
            details={"timeout": timeout, "port": port, "zeroconf": use_zeroconf, "broadcast": use_broadcast},
        )
    return url
