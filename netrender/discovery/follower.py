# SPDX-License-Identifier: GPL-3.0-or-later
"""The slave's and client's side: listen to both kinds of announcement, keep the latest."""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Sequence
from types import TracebackType

from zeroconf import Error as ZeroconfError
from zeroconf import (
    ServiceBrowser,
    ServiceStateChange,
    Zeroconf,
)

from .announcement import (
    DEFAULT_TIMEOUT,
    DISCOVERY_PORT,
    MAX_PAYLOAD,
    SERVICE_TYPE,
    ZEROCONF_RESOLVE_MS,
    DiscoveryError,
    _close,
    _interfaces,
    _listening_socket,
    parse_announcement,
    url_from_service,
)

log = logging.getLogger(__name__)

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
