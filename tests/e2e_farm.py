# SPDX-License-Identifier: GPL-3.0-or-later
"""A master in the test's process and slaves as real ``netrender slave`` processes; the CLI as users run it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until

from netrender.client import Client
from netrender.master import MasterConfig, MasterServer


def netrender(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netrender", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def cli_farm(tmp_path: Path) -> Iterator[Any]:
    master = MasterServer(MasterConfig(path=tmp_path / "master", address="127.0.0.1", port=0))
    master.start()
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def slave(name: str, *options: str) -> str:
        """A slave of one thread (unless ``options`` say otherwise), registered: its id (its process: ``procs``)."""
        with open(tmp_path / f"{name}.log", "wb") as log:
            procs[name] = subprocess.Popen([sys.executable, "-m", "netrender", "slave", "--master", master.url,
                                            "--name", name, "--path", str(tmp_path / name), "--threads", "1",
                                            *options], stdout=log, stderr=subprocess.STDOUT)
        client = Client(master.url)
        return wait_until(lambda: next((s["id"] for s in client.slaves() if s["name"] == name), None),  # type: ignore[no-any-return]
                          what=f"slave {name} to register")

    master.slave = slave  # type: ignore[attr-defined]
    master.procs = procs  # type: ignore[attr-defined]
    yield master
    for proc in procs.values():
        if proc.poll() is None:  # one a test killed is gone already
            proc.send_signal(signal.SIGINT)
    for proc in procs.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    master.close()
