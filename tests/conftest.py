# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures: the app and its test client (flaskr style), a live master, real Blender scenes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from projects import Built
from projects import build as build_project
from projects import render_local as render_project
from sshd import Sshd, start_sshd
from sshd import missing as sshd_missing

from netrender.cli.demo import stop_processes
from netrender.master import MasterConfig, MasterServer, create_app
from netrender.samples import build_scene

BLENDER = shutil.which("blender")
EXR_BYTES = b"\x76\x2f\x31\x01" + b"not really pixels, but an EXR header is all the master checks"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip Blender tests where Blender is missing, but never in CI, where that is a set-up bug."""
    if BLENDER:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI must have Blender installed (run scripts/install.sh)")
    skip = pytest.mark.skip(reason="blender is not installed")
    for item in items:
        if "blender" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Flask]:
    app = create_app(MasterConfig(path=tmp_path / "master", clock=clock))
    yield app
    app.extensions["netrender.farm"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_master(tmp_path: Path) -> Iterator[MasterServer]:
    """A real master on a free loopback port, served by cheroot in a thread."""
    server = MasterServer(MasterConfig(path=tmp_path / "master", address="127.0.0.1", port=0))
    server.start()
    yield server
    server.close()


@pytest.fixture
def spawn_slaves(tmp_path: Path) -> Iterator[Callable[..., list[subprocess.Popen[bytes]]]]:
    """Start slave processes, as on separate machines; stop them at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(url: str, count: int = 1, prefix: str = "slave") -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            name = f"{prefix}-{len(procs) + 1}"
            log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(
                [sys.executable, "-m", "netrender", "slave", "--master", url, "--name", name,
                 "--threads", "1", "--path", str(tmp_path / name)],
                stdout=log, stderr=subprocess.STDOUT,
            )
            procs.append(proc)
            started.append(proc)
        return started

    yield spawn
    stop_processes(procs)


def render_locally(blend: Path, frames: list[int], output: Path) -> dict[int, Path]:
    """The reference: plain ``blender -b FILE -f N`` with the farm's output format."""
    output.mkdir(parents=True, exist_ok=True)
    assert BLENDER
    subprocess.run(
        [BLENDER, "-b", str(blend), "-o", str(output / "######"), "-F", "OPEN_EXR_MULTILAYER", "-x", "1",
         "-f", ",".join(map(str, frames))],
        check=True, capture_output=True, timeout=600,
    )
    return {f: output / f"{f:06d}.exr" for f in frames}


@pytest.fixture(scope="session")
def sample_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 12-frame sample animation."""
    return build_scene(tmp_path_factory.mktemp("sample") / "sample.blend", blender=BLENDER or "blender")


@pytest.fixture(scope="session")
def sample_reference(sample_scene: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return render_locally(sample_scene, list(range(1, 13)), tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Built]:
    """An artist's project of each kind (``tests/projects``), built and rendered locally once per session."""
    cache: dict[str, Built] = {}

    def get(kind: str) -> Built:
        if kind not in cache:
            project = build_project(kind, tmp_path_factory.mktemp(kind))
            scratch = tmp_path_factory.mktemp(f"{kind}-renders")
            cache[kind] = Built(project, render_project(project, scratch / "local"), scratch)
        return cache[kind]

    return get


@pytest.fixture(scope="session")
def texture_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scene whose image texture sits at ``//textures/checker.png``."""
    return build_scene(tmp_path_factory.mktemp("texture") / "shot" / "textured.blend",
                       blender=BLENDER or "blender", frames=2, texture=True)


def run_in_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Test certificates made with the openssl command, all for 127.0.0.1 and localhost.

    ``cert``/``key``: self-signed; ``other``: another self-signed one (a wrong
    fingerprint); ``chain``/``chain_key``: a leaf signed by an intermediate, the
    file holding the leaf then the intermediate; ``root``: the CA above both.
    """
    folder = tmp_path_factory.mktemp("certs")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    def extensions(name: str, *lines: str) -> str:
        (folder / name).write_text("\n".join(["subjectKeyIdentifier=hash", *lines]) + "\n")
        return name

    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    server = ["subjectAltName=IP:127.0.0.1,DNS:localhost", "basicConstraints=critical,CA:FALSE",
              "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth"]
    for name in ("cert", "other"):
        openssl("req", "-x509", *new_key, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
                "-subj", f"/CN=netrender {name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    ca = extensions("ca.ext", "authorityKeyIdentifier=keyid", "basicConstraints=critical,CA:TRUE",
                    "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-x509", *new_key, "-keyout", "root.key", "-out", "root.pem", "-days", "2",
            "-subj", "/CN=netrender test root", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, issuer, ext in (("inter", "root", ca),
                              ("leaf", "inter", extensions("leaf.ext", "authorityKeyIdentifier=keyid", *server))):
        openssl("req", *new_key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=netrender {name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext)
    (folder / "chain.pem").write_text((folder / "leaf.pem").read_text() + (folder / "inter.pem").read_text())
    return {"cert": folder / "cert.pem", "key": folder / "cert.key", "other": folder / "other.pem",
            "chain": folder / "chain.pem", "chain_key": folder / "leaf.key", "root": folder / "root.pem"}


@pytest.fixture
def start_master(tmp_path: Path) -> Iterator[Callable[..., MasterServer]]:
    """Start real masters on free loopback ports with any settings (TLS, a token); close them at the end."""
    servers: list[MasterServer] = []

    def start(**settings: object) -> MasterServer:
        config = MasterConfig(path=tmp_path / f"master{len(servers) + 1}", address="127.0.0.1", port=0)
        server = MasterServer(replace(config, **settings))
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright (it cannot download a browser here)."""
    from web_helpers import CHROMIUM, CHROMIUM_ARGS

    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI"):
            raise pytest.UsageError("CI must have Chromium installed (run scripts/install.sh --test)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], timeout: float = 30.0, what: str = "the condition",
               poll: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up after {timeout:g} s waiting for {what}"
        time.sleep(poll)


def forget_slaves(master: MasterServer) -> None:
    """Make a live master forget every slave, in its database and its memory, as one started afresh has."""
    with master.farm.lock:
        master.farm.store.db.execute("DELETE FROM slaves")
        master.farm.store.reload()


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator[Callable[[str], Sshd]]:
    """Real OpenSSH servers on loopback (``tests/sshd.py``); skipped without sshd, but never in CI."""
    reason = sshd_missing()
    if reason and os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run a real SSH server: {reason}")
    if reason:
        pytest.skip(reason)
    started: list[Sshd] = []

    def start(name: str = "node") -> Sshd:
        server = start_sshd(tmp_path / f"sshd-{name}")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sshd(sshd_factory: Callable[[str], Sshd]) -> Sshd:
    return sshd_factory("node")


# The whole-farm fixture of the CLI tests; last, since it takes wait_until from here.
from e2e_farm import cli_farm  # noqa: E402, F401
