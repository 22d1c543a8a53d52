# SPDX-License-Identifier: GPL-3.0-or-later
"""One SSH connection against a real OpenSSH server: host keys checked, keys refused clearly, commands, checks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sshd import Sshd, free_port, keygen, spec_for

from netrender.cli.commands import main
from netrender.common.nodes import node
from netrender.ssh.checks import check
from netrender.ssh.hostkeys import trust
from netrender.ssh.link import AuthFailed, HostKeyChanged, Link, SshError, UnknownHost


def test_an_unknown_host_is_refused_with_its_fingerprint_and_trusted_only_with_it(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"  # empty: nothing is known
    spec = node(sshd.target, key_file=str(sshd.client_key), known_hosts=str(known))
    with pytest.raises(UnknownHost) as refused:
        Link(spec).connect()
    assert refused.value.details["fingerprint"] == sshd.host_fingerprint()
    assert sshd.host_fingerprint() in refused.value.message and "netrender nodes trust" in refused.value.message
    assert not known.exists()  # never trusted silently

    with pytest.raises(HostKeyChanged, match="nothing was trusted"):
        trust(spec, "SHA256:" + "A" * 43)
    assert not known.exists()
    assert main(["nodes", "trust", sshd.target, "--fingerprint", sshd.host_fingerprint(),
                 "--known-hosts", str(known)]) == 0
    link = Link(spec).connect()
    assert link.check("echo logged in").strip() == "logged in"
    link.close()


def test_a_changed_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other_host", "another host")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {Path(f'{other}.pub').read_text()}")
    with pytest.raises(HostKeyChanged, match="the host's key changed"):
        Link(node(sshd.target, key_file=str(sshd.client_key), known_hosts=str(known))).connect()


def test_a_wrong_key_is_a_clear_error_without_a_hang(sshd: Sshd, tmp_path: Path) -> None:
    wrong = keygen(tmp_path / "wrong", "not authorised")
    spec = node(sshd.target, key_file=str(wrong), known_hosts=str(sshd.known_hosts))
    started = time.monotonic()
    with pytest.raises(AuthFailed) as refused:
        Link(spec, timeout=10).connect()
    assert time.monotonic() - started < 10
    assert str(wrong) in refused.value.message and "authorized_keys" in refused.value.message


def test_a_port_with_no_server_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    spec = node(f"nobody@127.0.0.1:{port}", known_hosts=str(tmp_path / "known_hosts"))
    with pytest.raises(SshError, match=f"cannot reach nobody@127.0.0.1:{port}: no SSH server answers on port {port}"):
        Link(spec, timeout=5).connect()


@pytest.mark.blender
def test_check_tests_log_in_blender_disk_and_writing(sshd: Sshd, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    good = check(spec_for(sshd, tmp_path / "work"))
    assert good.ok and good.login == "ok" and good.blender.startswith("Blender 3.4")
    assert good.disk.endswith("GiB free") and good.write == "ok"

    locked = tmp_path / "locked"
    locked.write_text("a file where a folder should be")
    bad = check(spec_for(sshd, locked / "work", blender="/opt/no-blender"))
    assert not bad.ok and bad.login == "ok" and bad.blender == "not found" and bad.write == "refused"
    assert any("install Blender on the node" in fix for fix in bad.fixes)

    code = main(["nodes", "check", sshd.target, "--key", str(sshd.client_key), "--known-hosts",
                 str(sshd.known_hosts), "--work-dir", str(tmp_path / "work"), "--blender", "/opt/no-blender"])
    out = capsys.readouterr().out
    assert code == 1 and "not found" in out and "install Blender on the node" in out
