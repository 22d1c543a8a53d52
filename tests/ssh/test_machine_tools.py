# SPDX-License-Identifier: GPL-3.0-or-later
"""The machine tools: ``nodes find`` over mDNS (loopback only) against a real sshd, and ``doctor``."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from sshd import Sshd, spec_for
from zeroconf import ServiceInfo, Zeroconf

from netrender.cli.commands import main
from netrender.ssh.checks import find


def test_a_machine_announcing_ssh_is_found_with_its_blender(sshd: Sshd, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    name = f"render-{uuid.uuid4().hex[:6]}"
    silent = f"silent-{uuid.uuid4().hex[:6]}"
    zc = Zeroconf(interfaces=["127.0.0.1"])
    infos = [ServiceInfo("_ssh._tcp.local.", f"{machine}._ssh._tcp.local.", addresses=[socket.inet_aton("127.0.0.1")],
                         port=port, server=f"{machine}.local.") for machine, port in ((name, sshd.port), (silent, 9))]
    try:
        for info in infos:
            zc.register_service(info)
        login = spec_for(sshd, tmp_path)
        found = {m.name: m for m in find(4.0, login=login, interfaces=["127.0.0.1"])}
        assert found[name].ssh.startswith("SSH-2.0-OpenSSH") and found[name].port == sshd.port
        assert found[name].blender == "Blender 3.4.1" and "log-in as" in found[name].note
        assert found[silent].ssh == "" and "no SSH server answers" in found[silent].note

        assert main(["nodes", "find", "--interface", "127.0.0.1", "--timeout", "4"]) == 0
        out = capsys.readouterr().out
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert "OpenSSH" in line and "give --user/--key to look for Blender" in line  # no log-in asked for
    finally:
        for info in infos:
            zc.unregister_service(info)
        zc.close()


def test_doctor_lists_the_tools_found_and_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "Blender  " in out and "3.4.1 at /usr/bin/blender" in out
    assert "GPU devices Cycles sees" in out and "ssh " in out and "/usr/bin/ssh" in out

    assert main(["doctor", "--blender", "/nowhere/blender"]) == 1
    out = capsys.readouterr().out
    assert "Blender" in out and "missing" in out and "apt-get install blender" in out
