# SPDX-License-Identifier: GPL-3.0-or-later
"""Discovery: the payload rules, then real sockets and zeroconf on loopback, then two network namespaces.

Network rule for these tests: traffic goes to loopback only (broadcasts to
127.255.255.255, zeroconf limited to 127.0.0.1), or inside network namespaces
the test makes itself, joined only to each other by a veth pair. The defaults
(``<broadcast>``, zeroconf on every interface) are exercised only there.

Each test has its own UDP port and its own zeroconf service type, so test runs
going on at the same time on this host (they share loopback) never hear each
other. Nothing sleeps and hopes: every wait is on an event or a queue with a
deadline, and "nothing was sent" is shown by a marker datagram arriving first.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from netrender import discovery
from netrender.common.errors import MasterUnreachable, NetrenderError
from netrender.discovery import (
    Announcer,
    DiscoveryError,
    Follower,
    encode_announcement,
    find_master,
    parse_announcement,
    service_name,
    subnet_broadcasts,
    url_from_service,
)

LOOPBACK_BROADCAST = "127.255.255.255"
LO = ["127.0.0.1"]  # zeroconf on loopback only
WAIT = 10.0  # generous bound for what takes milliseconds (broadcast) or ~2 s (zeroconf probing)


@pytest.fixture
def port() -> int:
    """A UDP port free on loopback, one per test, so tests never hear each other."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def service() -> str:
    """A zeroconf service type of this test's own: other test runs on this host share loopback's mDNS."""
    return f"_nrt{secrets.token_hex(4)}._tcp.local."


def send(port: int, data: bytes, source: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(data, ("127.0.0.1", port))


def broadcaster(master_port: int, port: int, *, interval: float = 10.0, broadcast: bool = True) -> Announcer:
    """An announcer that broadcasts on loopback only."""
    return Announcer(master_port, interval=interval, broadcast=broadcast, zeroconf=False,
                     broadcast_address=LOOPBACK_BROADCAST, discovery_port=port)


def announce_once(master_port: int, port: int, scheme: str = "http") -> None:
    """One broadcast on loopback, as a master's first round sends it."""
    announcer = Announcer(master_port, scheme, zeroconf=False, broadcast_address=LOOPBACK_BROADCAST,
                          discovery_port=port)
    try:
        assert announcer.run_once(0.0)
    finally:
        announcer.stop()


def wait_for_latest(follower: Follower, expected: str, timeout: float = WAIT) -> str | None:
    deadline = time.monotonic() + timeout
    while follower.latest() != expected and time.monotonic() < deadline:
        follower.wait(deadline - time.monotonic(), newer_than=follower.count)
    return follower.latest()


# -- the payload ----------------------------------------------------------------


def test_an_announcement_round_trips_with_the_senders_address() -> None:
    assert json.loads(encode_announcement(8000)) == {"netrender": 1, "port": 8000, "scheme": "http"}
    assert parse_announcement(encode_announcement(8123), "192.0.2.7") == "http://192.0.2.7:8123"
    assert parse_announcement(encode_announcement(443, "https"), "2001:db8::1") == "https://[2001:db8::1]:443"
    assert parse_announcement(b'{"netrender":1,"port":9000,"later":"fields are ignored"}', "10.0.0.1") == \
        "http://10.0.0.1:9000"


@pytest.mark.parametrize("data", [
    b"8000",  # what the original add-on broadcasts: its masters speak another HTTP protocol
    b"",
    b"\xff\xfe\x00garbage",
    b"[1, 2]",
    b'"netrender"',
    b'{"port": 8000}',
    b'{"netrender": 2, "port": 8000}',  # a protocol this version does not know
    b'{"netrender": true, "port": 8000}',
    b'{"netrender": 1.0, "port": 8000}',
    b'{"netrender": "1", "port": 8000}',
    b'{"netrender": 1, "port": 0}',
    b'{"netrender": 1, "port": 65536}',
    b'{"netrender": 1, "port": "8000"}',
    b'{"netrender": 1, "port": true}',
    b'{"netrender": 1, "port": 8000, "scheme": "ftp"}',
    b'{"netrender": 1, "port": 8000, "pad": "' + b"x" * 600 + b'"}',
    b"[" * 250 + b"]" * 250,  # deep, but short enough to be parsed
])
def test_foreign_and_malformed_datagrams_are_not_announcements(data: bytes) -> None:
    assert parse_announcement(data, "192.0.2.7") is None


@pytest.mark.parametrize("sender", ["0.0.0.0", "224.0.0.251", "not an address", ""])
def test_an_impossible_sender_is_not_a_master(sender: str) -> None:
    assert parse_announcement(encode_announcement(8000), sender) is None


def test_service_names_hold_host_and_port_and_fit_a_dns_label() -> None:
    assert service_name("render-01.studio.lan", 8000) == "netrender-render-01-8000"
    assert service_name("render-01", 8000) != service_name("render-01", 8001)
    assert service_name("Büro PC_7", 8000) == "netrender-b-ro-pc-7-8000"
    assert service_name("", 8000) == "netrender-host-8000"
    long = service_name("a" * 200, 65535)
    assert len(long.encode()) <= 63 and long.endswith("-65535")


def test_a_resolved_service_becomes_a_url_only_when_it_is_ours() -> None:
    ours = {b"netrender": b"1", b"scheme": b"http"}
    assert url_from_service(["192.0.2.7"], 8000, ours) == "http://192.0.2.7:8000"
    assert url_from_service(["127.0.0.1", "fe80::1", "192.0.2.7"], 8000, ours) == "http://192.0.2.7:8000"
    assert url_from_service(["127.0.0.1"], 8000, ours) == "http://127.0.0.1:8000"  # only loopback: still usable
    assert url_from_service(["2001:db8::5"], 8000, {b"netrender": b"1"}) == "http://[2001:db8::5]:8000"
    assert url_from_service(["192.0.2.7"], 8000, {b"netrender": b"2"}) is None
    assert url_from_service(["192.0.2.7"], 8000, {}) is None
    assert url_from_service(["192.0.2.7"], None, ours) is None
    assert url_from_service(["fe80::1"], 8000, ours) is None
    assert url_from_service(["192.0.2.7"], 8000, {b"netrender": b"1", b"scheme": b"gopher"}) is None


def test_subnet_broadcasts_skip_loopback_and_point_to_point() -> None:
    interfaces = [("127.0.0.1", 8), ("192.168.1.5", 24), ("10.1.2.3", 16), ("192.168.1.9", 24),
                  ("100.64.0.1", 32), ("172.16.0.1", 31)]
    assert subnet_broadcasts(interfaces) == ["10.1.255.255", "192.168.1.255"]
    assert subnet_broadcasts([("127.0.0.1", 8)]) == []


def test_is_default_means_discover() -> None:
    assert discovery.is_default("[default]") and discovery.is_default(" ") and discovery.is_default("")
    assert not discovery.is_default("render-master:8000")


def test_discovery_error_is_a_netrender_error_with_code_and_status() -> None:
    error = DiscoveryError("x")
    assert isinstance(error, NetrenderError)
    assert isinstance(error, MasterUnreachable)  # handled wherever an unreachable master already is
    assert (error.code, error.status) == ("master_not_found", 503)


def test_bad_announcer_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="scheme"):
        Announcer(8000, "gopher")
    with pytest.raises(ValueError, match="interval"):
        Announcer(8000, interval=0)


def test_a_master_announces_only_where_it_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    interfaces = [("127.0.0.1", 8), ("192.0.2.10", 24), ("10.0.0.2", 8)]
    monkeypatch.setattr(discovery.announcer, "host_ipv4", lambda: interfaces)
    everywhere = discovery.announcer_for("0.0.0.0", 8000, "https", 5.0)
    assert (everywhere.broadcast, everywhere.zeroconf, everywhere.interfaces) == (True, True, None)
    assert (everywhere.scheme, everywhere.interval) == ("https", 5.0)
    assert everywhere.targets() == ["10.255.255.255", "192.0.2.255"]
    one = discovery.announcer_for("192.0.2.10", 8000)
    assert (one.broadcast_address, one.interfaces, one.fixed_addresses) == ("192.0.2.255", ["192.0.2.10"],
                                                                           ["192.0.2.10"])
    for local in ("127.0.0.1", "localhost"):  # a test's or the demo's master stays off the network
        silent = discovery.announcer_for(local, 8000)
        assert not silent.broadcast and not silent.zeroconf
    off = discovery.announcer_for("0.0.0.0", 8000, broadcast=False, zeroconf=False)
    assert not off.broadcast and not off.zeroconf


# -- broadcast on loopback ------------------------------------------------------


def test_broadcast_is_found_on_loopback(port: int) -> None:
    announcer = broadcaster(8123, port)
    with Follower(port=port, use_zeroconf=False) as follower:
        assert announcer.run_once(0.0)
        assert follower.wait(WAIT) == "http://127.0.0.1:8123"
    announcer.stop()
    assert announcer.sent == 1


def test_run_once_sends_once_per_interval(port: int) -> None:
    announcer = broadcaster(8123, port, interval=10.0)
    try:
        assert [announcer.run_once(now) for now in (100.0, 100.1, 109.9, 110.0, 115.0, 120.5)] == \
            [True, False, False, True, False, True]
        assert announcer.sent == 3
    finally:
        announcer.stop()


def test_find_master_hears_a_running_announcer(port: int) -> None:
    with broadcaster(8124, port, interval=0.05):
        started = time.monotonic()
        assert find_master(WAIT, port=port, use_zeroconf=False) == "http://127.0.0.1:8124"
        assert time.monotonic() - started < 2


def test_foreign_packets_are_ignored_and_the_listener_goes_on(port: int) -> None:
    with Follower(port=port, use_zeroconf=False) as follower:
        for data in (b"8000", b"\x00" * 2000, b"{", b'{"netrender": 2, "port": 1}', b"x" * 513):
            send(port, data)
        send(port, encode_announcement(8125))
        assert follower.wait(WAIT) == "http://127.0.0.1:8125"
        assert follower.count == 1  # the junk before it was not taken for an announcement


def test_https_only_ignores_plain_http_announcements(port: int) -> None:
    with Follower(port=port, use_zeroconf=False, https_only=True) as follower:
        announce_once(8129, port)  # could be forged: following it would send the token in clear
        announce_once(8129, port, "https")
        assert follower.wait(WAIT) == "https://127.0.0.1:8129"
        assert follower.count == 1


def test_two_listeners_on_one_host_both_hear_a_broadcast(port: int) -> None:
    with Follower(port=port, use_zeroconf=False) as slave, Follower(port=port, use_zeroconf=False) as client:
        announce_once(8126, port)
        assert slave.wait(WAIT) == client.wait(WAIT) == "http://127.0.0.1:8126"


def test_broadcast_off_sends_nothing(port: int) -> None:
    off = broadcaster(8127, port, broadcast=False, interval=0.01)
    with Follower(port=port, use_zeroconf=False) as follower:
        assert not any(off.run_once(now) for now in (0.0, 1.0, 2.0))
        off.start()
        off.stop()
        assert off.sent == 0
        announce_once(8128, port)  # a marker: loopback keeps order, so it would follow anything sent
        assert follower.wait(WAIT) == "http://127.0.0.1:8128"
        assert follower.count == 1


def test_the_follower_sees_the_master_change_port_and_address(port: int) -> None:
    with Follower(port=port, use_zeroconf=False) as follower:
        announce_once(8130, port)
        assert follower.wait(WAIT) == "http://127.0.0.1:8130"
        assert follower.moved("http://127.0.0.1:8130") is None
        announce_once(8131, port)  # restarted on another port
        assert wait_for_latest(follower, "http://127.0.0.1:8131") == "http://127.0.0.1:8131"
        send(port, encode_announcement(8131), source="127.0.0.2")  # moved to another machine
        assert wait_for_latest(follower, "http://127.0.0.2:8131") == "http://127.0.0.2:8131"
        assert follower.moved("http://127.0.0.1:8131/") == "http://127.0.0.2:8131"


def test_find_master_times_out_with_a_clear_message(port: int, service: str) -> None:
    started = time.monotonic()
    with pytest.raises(DiscoveryError) as caught:
        find_master(0.5, port=port, interfaces=LO, service_type=service)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5
    assert caught.value.message == (
        "No master answered on the network within 0.5 s: start one, or give its address with --master")
    assert caught.value.to_json()["error"]["code"] == "master_not_found"


def test_find_master_with_every_way_off_says_so(port: int) -> None:
    with pytest.raises(DiscoveryError, match="discovery is off"):
        find_master(0.1, port=port, use_zeroconf=False, use_broadcast=False)


def test_a_listener_that_cannot_bind_falls_back_to_the_other_way(port: int, service: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("", port))  # a program that does not share its port
        with pytest.raises(DiscoveryError, match=f"UDP port {port}"):
            Follower(port=port, use_zeroconf=False).start()
        with Follower(port=port, interfaces=LO, service_type=service) as follower:  # zeroconf still listens
            assert follower.latest() is None


# -- zeroconf on loopback -------------------------------------------------------


def test_zeroconf_advertisement_is_found_on_loopback(port: int, service: str) -> None:
    assert discovery.SERVICE_TYPE == "_netrender._tcp.local."  # the real type: in the namespace test
    with Announcer(8140, broadcast=False, interfaces=LO, hostname="render-01", service_type=service) as master:
        started = time.monotonic()
        assert find_master(WAIT, port=port, use_broadcast=False, interfaces=LO, service_type=service) == \
            "http://127.0.0.1:8140"
        found_after = time.monotonic() - started
        assert master.registered.wait(WAIT)
        assert master.info is not None
        assert master.info.name == f"netrender-render-01-8140.{service}"
        assert master.info.properties == {b"netrender": b"1", b"scheme": b"http"}
    assert found_after < WAIT
    assert not master.registered.is_set()  # stop() withdrew it


def test_find_master_takes_the_first_answer_of_either_way(port: int, service: str) -> None:
    with broadcaster(8141, port, interval=0.05):  # broadcast only: zeroconf listens and hears nothing
        assert find_master(WAIT, port=port, interfaces=LO, service_type=service) == "http://127.0.0.1:8141"


def test_the_follower_sees_a_zeroconf_master_move(port: int, service: str) -> None:
    with Follower(port=port, use_broadcast=False, interfaces=LO, service_type=service) as follower:
        with Announcer(8150, broadcast=False, interfaces=LO, hostname="first", service_type=service):
            assert wait_for_latest(follower, "http://127.0.0.1:8150") == "http://127.0.0.1:8150"
        with Announcer(8151, broadcast=False, interfaces=LO, addresses=["127.0.0.3"], hostname="second",
                       service_type=service):
            assert wait_for_latest(follower, "http://127.0.0.3:8151") == "http://127.0.0.3:8151"


def test_zeroconf_is_published_again_when_the_hosts_address_changes(monkeypatch: pytest.MonkeyPatch, port: int,
                                                                    service: str) -> None:
    addresses = ["127.0.0.4"]
    monkeypatch.setattr(discovery.announcer, "host_addresses", lambda: list(addresses))
    master = Announcer(8160, broadcast=False, interfaces=LO, service_type=service)
    master.fixed_addresses = None  # as on a farm: follow the host's addresses, while zeroconf stays on loopback
    with Follower(port=port, use_broadcast=False, interfaces=LO, service_type=service) as follower:
        try:
            assert master.publish_once()
            assert wait_for_latest(follower, "http://127.0.0.4:8160") == "http://127.0.0.4:8160"
            assert master.publish_once()  # nothing changed: nothing done
            addresses[:] = ["127.0.0.5"]
            assert master.publish_once()
            assert master.info is not None and master.info.parsed_addresses() == ["127.0.0.5"]
            assert wait_for_latest(follower, "http://127.0.0.5:8160") == "http://127.0.0.5:8160"
        finally:
            master.stop()


# -- two network namespaces: the defaults, as on a farm --------------------------

MASTER = """
import sys
from netrender.discovery import Announcer
with Announcer({port}, interval=0.2):  # the defaults: <broadcast> to UDP 8000, zeroconf on every interface
    print("ready", flush=True)
    sys.stdin.readline()
"""

SLAVE = """
import json, sys, time
from netrender.discovery import Follower, find_master
say = lambda value: print(json.dumps(value), flush=True)
say(find_master(10, use_zeroconf=False))
say(find_master(10, use_broadcast=False))
with Follower(use_zeroconf=False) as by_broadcast, Follower(use_broadcast=False) as by_zeroconf:
    followers = (by_broadcast, by_zeroconf)
    say([f.wait(10) for f in followers])
    sys.stdin.readline()  # the test has moved the master to another address
    deadline = time.monotonic() + 15
    for f in followers:
        first = f.latest()
        while f.latest() == first and time.monotonic() < deadline:
            f.wait(deadline - time.monotonic(), newer_than=f.count)
    say([f.latest() for f in followers])
"""


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True, timeout=10)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str, str]]:
    """Two network namespaces joined by a veth pair: master at 198.51.100.1, slave at .2; nothing else.

    Yields the master's namespace, the slave's, and the master's end of the pair.
    """
    if shutil.which("ip") is None:
        pytest.skip("network namespaces: the ip command (iproute2) is not installed")
    if os.geteuid() != 0:
        pytest.skip("network namespaces: only root can make them")
    tag = f"{os.getpid() % 100000}"
    master, slave = f"nr-disc-{tag}-m", f"nr-disc-{tag}-s"
    made: list[str] = []
    try:
        for ns in (master, slave):
            ip("netns", "add", ns)
            made.append(ns)
        ip("link", "add", f"nrm{tag}", "netns", master, "type", "veth", "peer", "name", f"nrs{tag}", "netns", slave)
        for ns, dev, address in ((master, f"nrm{tag}", "198.51.100.1/24"), (slave, f"nrs{tag}", "198.51.100.2/24")):
            ip("-n", ns, "addr", "add", address, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        pytest.skip(f"network namespaces cannot be made here: {' '.join(exc.cmd)}: {exc.stderr.strip()}")
    try:
        yield master, slave, f"nrm{tag}"
    finally:
        for ns in made:  # deleting a namespace deletes its end of the veth pair, and so the pair
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


class Process:
    """A Python process in a namespace, read line by line with deadlines."""

    def __init__(self, ns: str, code: str) -> None:
        # a file, not a pipe, so a chatty log cannot block the process; it lives as long as the process
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115  (closed in close())
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def line(self, timeout: float = 30) -> str:
        try:
            return self.lines.get(timeout=timeout).strip()
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s; stderr:\n{self.close()}") from None

    def tell(self, text: str = "") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def close(self) -> str:
        """Let it end (it waits for a line), kill it after 15 s; return its stderr."""
        if self.stderr.closed:
            return ""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):  # it ended on its own
                self.tell()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=10)  # at the end of its output now
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with self.stderr:
            self.stderr.seek(0)
            return self.stderr.read()


@pytest.mark.timeout(120)
def test_a_slave_finds_and_follows_the_master_across_namespaces(namespaces: tuple[str, str, str]) -> None:
    master_ns, slave_ns, master_dev = namespaces
    master = Process(master_ns, MASTER.format(port=8170))
    slave: Process | None = None
    try:
        assert master.line() == "ready"
        slave = Process(slave_ns, SLAVE)
        assert json.loads(slave.line()) == "http://198.51.100.1:8170"  # by broadcast, from recvfrom's address
        assert json.loads(slave.line()) == "http://198.51.100.1:8170"  # by zeroconf
        assert json.loads(slave.line()) == ["http://198.51.100.1:8170"] * 2
        ip("-n", master_ns, "addr", "del", "198.51.100.1/24", "dev", master_dev)  # a new lease, say
        ip("-n", master_ns, "addr", "add", "198.51.100.3/24", "dev", master_dev)
        slave.tell()
        assert json.loads(slave.line()) == ["http://198.51.100.3:8170"] * 2
    finally:
        slave_errors = slave.close() if slave is not None else ""
        master_errors = master.close()
    assert slave is not None and slave.proc.returncode == 0, slave_errors
    assert master.proc.returncode == 0, master_errors  # zeroconf logs the old address's socket failing: not ours
