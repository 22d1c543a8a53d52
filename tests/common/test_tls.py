# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS: a real master on loopback with certificates made by openssl at test time.

Slaves and clients trust it through a CA file or a pinned fingerprint and
nothing else; TLS before 1.2 is refused; the server stays responsive and stops
promptly whatever its clients do; and a whole render over HTTPS with a farm
token gives the same pixels as a local render.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from pixels import differences

from netrender.cli import commands as cli
from netrender.cli.demo import stop_processes
from netrender.client import Client
from netrender.common import tls
from netrender.common.connection import Access, Connection
from netrender.common.errors import ApiError, InvalidConfig, MasterUnreachable, TLSFailed
from netrender.master import MasterConfig, MasterServer

StartMaster = Callable[..., MasterServer]


def https_master(start_master: StartMaster, certs: dict[str, Path], **settings: object) -> MasterServer:
    return start_master(cert=certs["cert"], key=certs["key"], **settings)


def colons(fingerprint: str) -> str:
    """The ``AB:CD:…`` spelling ``openssl x509 -fingerprint -sha256`` prints."""
    return ":".join(re.findall("..", fingerprint.upper()))


def test_a_client_given_the_certificate_as_ca_file_works(start_master: StartMaster, certs: dict[str, Path]) -> None:
    master = https_master(start_master, certs)
    assert master.url.startswith("https://127.0.0.1:")
    conn = Connection(master.url, access=Access(ca_file=certs["cert"]))
    assert conn.get("/api/version")["api"] == 1
    assert Client(master.url, access=Access(ca_file=certs["cert"])).jobs() == []
    # With trust given, a bare host:port means https.
    assert Connection(f"127.0.0.1:{master.port}", access=Access(ca_file=certs["cert"])).url == master.url


def test_a_pinned_fingerprint_works_in_either_spelling(start_master: StartMaster, certs: dict[str, Path]) -> None:
    master = https_master(start_master, certs)
    digest = tls.fingerprint(certs["cert"])
    openssl = subprocess.run(["openssl", "x509", "-in", str(certs["cert"]), "-noout", "-fingerprint", "-sha256"],
                             capture_output=True, text=True, check=True).stdout
    assert colons(digest) == openssl.strip().split("=", 1)[1]  # the same number openssl shows
    for spelling in (digest, colons(digest)):
        assert Connection(master.url, access=Access(fingerprint=spelling)).get("/api/version")["api"] == 1


def netrender(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netrender", *args], capture_output=True, text=True, timeout=60,
                          **kwargs)  # type: ignore[call-overload]


def test_without_trust_a_client_fails_with_a_clear_tls_error(start_master: StartMaster, certs: dict[str, Path]) -> None:
    master = https_master(start_master, certs)
    with pytest.raises(TLSFailed, match="certificate is not trusted .*self-signed.*--ca-file or --fingerprint") as exc:
        Connection(master.url).get("/api/version")
    assert isinstance(exc.value, MasterUnreachable)
    status = netrender("status", "--master", master.url)
    assert status.returncode == cli.EXIT_UNREACHABLE
    assert "certificate is not trusted" in status.stderr


def test_a_wrong_fingerprint_is_refused(start_master: StartMaster, certs: dict[str, Path]) -> None:
    master = https_master(start_master, certs)
    wrong = Access(fingerprint=tls.fingerprint(certs["other"]))
    with pytest.raises(TLSFailed, match="not the one pinned with --fingerprint"):
        Connection(master.url, access=wrong).get("/api/version")
    # Pinning replaces the CA check but adds to it when both are given: the CA alone does not let it in.
    both = Access(ca_file=certs["cert"], fingerprint=tls.fingerprint(certs["other"]))
    with pytest.raises(TLSFailed, match="not the one pinned"):
        Connection(master.url, access=both).get("/api/version")


def handshake(port: int, version: ssl.TLSVersion) -> str:
    """Connect with exactly ``version`` (old ones allowed on this side); return the version agreed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets this client offer TLS 1.0 and 1.1 at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 is deprecated: that is the point
        context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as sock:
        return str(sock.version())


def test_a_tls_1_1_client_is_refused_and_1_2_and_1_3_accepted(
    start_master: StartMaster, certs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    master = https_master(start_master, certs)
    caplog.set_level("INFO", logger="netrender.server.httpserver")
    with pytest.raises(ssl.SSLError) as refused:
        handshake(master.port, ssl.TLSVersion.TLSv1_1)
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"  # the master's refusal, not this side's
    assert handshake(master.port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(master.port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert "UNSUPPORTED_PROTOCOL" in caplog.text
    # Both ends start from the default context: TLS 1.2 at least, the default ciphers.
    assert tls.server_context(certs["cert"], certs["key"]).minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.client_context(certs["cert"]).minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.client_context().get_ciphers() == ssl.create_default_context().get_ciphers()


def test_a_certificate_file_with_its_chain_is_served_whole(start_master: StartMaster, certs: dict[str, Path]) -> None:
    """The file holds the leaf then its intermediate; a client trusting only the root needs both."""
    master = start_master(cert=certs["chain"], key=certs["chain_key"])
    assert Connection(master.url, access=Access(ca_file=certs["root"])).get("/api/version")["api"] == 1
    leaf_only = start_master(cert=certs["chain"].with_name("leaf.pem"), key=certs["chain_key"])
    with pytest.raises(TLSFailed, match="unable to get local issuer certificate"):
        Connection(leaf_only.url, access=Access(ca_file=certs["root"])).get("/api/version")


def test_plain_http_to_the_https_port_is_told_to_use_https(start_master: StartMaster, certs: dict[str, Path]) -> None:
    master = https_master(start_master, certs)
    with pytest.raises(ApiError) as exc:
        Connection(master.url.replace("https://", "http://")).get("/api/version")
    assert (exc.value.status, exc.value.code) == (400, "https_required")


def test_bad_settings_are_refused_before_anything_starts(tmp_path: Path, certs: dict[str, Path]) -> None:
    with pytest.raises(InvalidConfig, match="cannot use the certificate"):
        MasterServer(MasterConfig(path=tmp_path / "m", address="127.0.0.1", port=0,
                                  cert=certs["cert"], key=certs["chain_key"]))  # the key of another certificate
    with pytest.raises(InvalidConfig, match="not https"):
        Connection("http://127.0.0.1:8000", access=Access(ca_file=certs["cert"]))
    with pytest.raises(InvalidConfig, match="64 hex digits"):
        Connection("https://127.0.0.1:8000", access=Access(fingerprint="abc"))
    with pytest.raises(InvalidConfig, match="cannot read the CA file"):
        Connection("https://127.0.0.1:8000", access=Access(ca_file=tmp_path / "missing.pem"))
    master = netrender("master", "--path", str(tmp_path / "m2"), "--port", "0", "--cert", str(tmp_path / "nope.pem"))
    assert master.returncode == cli.EXIT_USAGE
    assert "cannot use the certificate" in master.stderr and "no such file" in master.stderr
    slave = netrender("slave", "--master", "https://127.0.0.1:1", "--fingerprint", "12:34")
    assert slave.returncode == cli.EXIT_USAGE and "64 hex digits" in slave.stderr
    master = netrender("master", "--path", str(tmp_path / "m3"), "--port", "0", "--threads", "1")
    assert master.returncode == cli.EXIT_USAGE and "--threads must be at least 2" in master.stderr


def test_a_silent_client_blocks_neither_other_clients_nor_the_stop(
    start_master: StartMaster, certs: dict[str, Path]
) -> None:
    """A connection that never starts its handshake, and an idle keep-alive one, are both left waiting."""
    master = https_master(start_master, certs)
    conn = Connection(master.url, access=Access(ca_file=certs["cert"]))
    conn.get("/api/version")  # the session now holds an idle keep-alive connection
    with socket.create_connection(("127.0.0.1", master.port)):  # says nothing
        started = time.monotonic()
        for _ in range(5):
            assert Connection(master.url, access=Access(ca_file=certs["cert"])).get("/api/version")["api"] == 1
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        master.close()
        assert time.monotonic() - started < 2.0, "the stop waited for idle connections"
    with pytest.raises(MasterUnreachable):
        conn.get("/api/version")


def test_an_upload_over_https_streams_to_disk_and_the_size_limit_holds(
    tmp_path: Path, start_master: StartMaster, certs: dict[str, Path]
) -> None:
    master = https_master(start_master, certs, max_upload=64 << 20)
    conn = Connection(master.url, access=Access(ca_file=certs["cert"]))
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(48):
            fh.write(os.urandom(1 << 20))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    tracemalloc.start()
    try:
        assert conn.put_file(f"/api/files/{digest}", big) == {"sha256": digest, "size": 48 << 20}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes held at once for a 48 MiB upload"
    assert master.farm.blobs.path(digest).stat().st_size == 48 << 20

    small = start_master(cert=certs["cert"], key=certs["key"], max_upload=1000)
    over = tmp_path / "over.bin"
    over.write_bytes(b"x" * 5000)
    with pytest.raises(ApiError) as exc:
        Connection(small.url, access=Access(ca_file=certs["cert"])).put_file(
            f"/api/files/{hashlib.sha256(b'x' * 5000).hexdigest()}", over)
    assert (exc.value.status, exc.value.code) == (413, "too_large")
    assert not small.farm.blobs.has(hashlib.sha256(b"x" * 5000).hexdigest())


def test_the_master_command_serves_https_and_prints_its_fingerprint(tmp_path: Path, certs: dict[str, Path]) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("a-farm-token-for-the-cli-test\n")
    proc, url, fingerprint = start_cli_master(tmp_path, certs, token_file)
    try:
        assert fingerprint == tls.fingerprint(certs["cert"])
        access = Access(token="a-farm-token-for-the-cli-test", fingerprint=fingerprint)
        assert Connection(url, access=access).get("/api/jobs") == {"jobs": []}
        with pytest.raises(ApiError, match="farm token"):
            Connection(url, access=Access(fingerprint=fingerprint, token=None)).get("/api/jobs")
    finally:
        stop_processes([proc])
    assert proc.returncode == 0


def start_cli_master(tmp_path: Path, certs: dict[str, Path], token_file: Path,
                     timeout: float = 30.0) -> tuple[subprocess.Popen[bytes], str, str]:
    """``netrender -v master`` over HTTPS on a free port, its output in ``master.log``; its URL and fingerprint."""
    log = tmp_path / "master.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "netrender", "-v", "master", "--path", str(tmp_path / "farm"),
                                 "--address", "127.0.0.1", "--port", "0", "--cert", str(certs["cert"]),
                                 "--key", str(certs["key"]), "--token-file", str(token_file)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        url = re.search(r"master on (https://\S+) ", text)
        fingerprint = re.search(r"fingerprint: ([0-9a-f]{64})", text)
        if url and fingerprint:
            return proc, url.group(1), fingerprint.group(1)
        assert time.monotonic() < deadline and proc.poll() is None, f"the master did not start:\n{text}"
        time.sleep(0.05)


@pytest.mark.blender
def test_a_render_over_https_with_a_token_equals_a_local_render(
    tmp_path: Path, certs: dict[str, Path], sample_scene: Path, sample_reference: dict[int, Path]
) -> None:
    """Master, slave and client as separate processes, as on separate machines; the token in a file."""
    token = "render-over-https-" + os.urandom(8).hex()
    token_file = tmp_path / "farm.token"
    token_file.write_text(token + "\n")
    slave_log = tmp_path / "slave.log"
    master, url, _ = start_cli_master(tmp_path, certs, token_file)
    procs: list[subprocess.Popen[bytes]] = [master]
    try:
        with open(slave_log, "wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "netrender", "-v", "slave", "--master", url, "--ca-file", str(certs["cert"]),
                 "--token-file", str(token_file), "--name", "tls-slave", "--threads", "1",
                 "--path", str(tmp_path / "slave")], stdout=out, stderr=subprocess.STDOUT))
        submit = subprocess.run(
            [sys.executable, "-m", "netrender", "submit", str(sample_scene), "--master", url,
             "--ca-file", str(certs["cert"]), "--frames", "1-12", "--chunks", "3", "--wait",
             "--output", str(tmp_path / "frames")],
            env={**os.environ, "NETRENDER_TOKEN": token}, capture_output=True, text=True, timeout=600)
        assert submit.returncode == 0, submit.stderr[-3000:]
        frames = sorted((tmp_path / "frames").glob("*.exr"))
        assert sorted(int(p.stem) for p in frames) == sorted(sample_reference)
        for path in frames:
            assert differences(path, sample_reference[int(path.stem)]) == [], path.name
        # Nobody without the token got anything, over the same HTTPS.
        with pytest.raises(ApiError, match="farm token"):
            Client(url, access=Access(ca_file=certs["cert"], token=None)).jobs()
        assert requests.get(f"{url}/api/jobs", verify=str(certs["cert"]), timeout=10).status_code == 401
    finally:
        stop_processes(list(reversed(procs)))
    logs = (tmp_path / "master.log").read_text(errors="replace") + slave_log.read_text(errors="replace") \
        + submit.stdout + submit.stderr
    assert "slave stopped" in logs and "master stopped" in logs
    assert token not in logs, "the farm token appeared in a log"
