# SPDX-License-Identifier: GPL-3.0-or-later
"""A real OpenSSH server for tests: Debian's ``sshd`` on a loopback port, with keys made for the test.

:func:`start_sshd` generates a host key and a client key in the folder given,
authorises the client key, and runs ``sshd -D -e`` on a free 127.0.0.1 port
with a config of its own (no PAM, keys only, TCP forwarding and SFTP on), so
nothing of the machine's own SSH set-up is read or changed. The server logs to
``sshd.log`` in that folder. ``known_hosts`` is written for clients; a test
that wants an unknown host uses another file.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from netrender.common.nodes import NodeSpec, node

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)


def missing() -> str | None:
    """What a real SSH server needs here (with what to install), or ``None``."""
    if SSHD is None or not shutil.which("ssh-keygen"):
        return "OpenSSH's server is not installed (apt-get install openssh-server, or scripts/install.sh --test)"
    return None


@dataclass
class Sshd:
    folder: Path
    port: int
    proc: subprocess.Popen[bytes]
    client_key: Path
    known_hosts: Path
    host_key: Path
    user: str

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def host_fingerprint(self) -> str:
        """``SHA256:…``, as ``ssh-keygen -lf`` prints it."""
        out = subprocess.run(["ssh-keygen", "-lf", f"{self.host_key}.pub"], check=True, capture_output=True,
                             text=True).stdout
        return out.split()[1]

    def sessions(self) -> list[int]:
        """The pids of the per-connection ``sshd`` processes serving users now (not their SFTP helpers)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                status = (entry / "status").read_text()
            except OSError:
                continue
            parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
            if re.match(r"sshd: \S+@(notty|pts/\d+)", cmdline) and _descends(parent, self.proc.pid):
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


def start_sshd(folder: Path, timeout: float = 20.0) -> Sshd:
    assert SSHD is not None, missing()
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "host_ed25519", "test host")
    client_key = keygen(folder / "client_ed25519", "test client")
    (folder / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", f"PidFile {folder / 'sshd.pid'}",
        "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "AllowTcpForwarding yes", "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE", "MaxStartups 100", "MaxSessions 100", "",
    ]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege-separation folder
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {Path(f'{host_key}.pub').read_text()}")
    log = open(folder / "sshd.log", "wb")  # noqa: SIM115 - the server's, closed when it ends
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sshd did not start: {(folder / 'sshd.log').read_text()[-2000:]}")
        time.sleep(0.05)
    user = os.environ.get("USER") or "root"
    return Sshd(folder, port, proc, client_key, known_hosts, host_key, user)


def spec_for(server: Sshd, work_dir: Path, **settings: object) -> NodeSpec:
    """A node logging in to ``server`` with the test's key, its work folder in ``work_dir``."""
    return node(server.target, key_file=str(server.client_key), known_hosts=str(server.known_hosts),
                work_dir=str(work_dir), **settings)
