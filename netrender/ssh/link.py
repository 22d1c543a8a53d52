# SPDX-License-Identifier: GPL-3.0-or-later
"""One SSH connection to a node (paramiko): checked host key, keys, commands, SFTP, and a port to call back on.

The host's key must be in ``known_hosts``: an unknown host is refused with
its fingerprint and how to accept it (:class:`UnknownHost`), a changed key
with both (:class:`HostKeyChanged`); nothing is ever trusted silently. Keys
come from ``spec.key_file`` or the SSH agent and ``~/.ssh``. Every step has a
timeout, so a host that does not answer, or a wrong key, is a clear error.

:meth:`Link.start` runs a command on the node as a :class:`RemoteProcess`
(what a Blender session needs of a process: ``stdout``, ``pid``, ``poll``,
``wait``, ``kill``). Its environment goes through the channel's input, not
its command line, which any user of the node can read. :meth:`Link.listener`
is a port on the node's loopback forwarded back here, where a Blender on the
node calls its session back, as a local one calls the slave.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import queue
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from ..common.errors import NetrenderError
from ..common.nodes import NodeSpec

log = logging.getLogger(__name__)

KEEPALIVE = 5.0  # seconds between keep-alives: a cut connection is noticed within a few of them


class SshError(NetrenderError):
    """A node cannot be reached, refused us, or its connection broke."""

    code = "ssh_failed"
    status = 502


class UnknownHost(SshError):
    code = "unknown_host_key"


class HostKeyChanged(SshError):
    code = "host_key_changed"


class AuthFailed(SshError):
    code = "ssh_auth_failed"


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:…``, as OpenSSH prints a key's fingerprint."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def known_hosts_entry(spec: NodeSpec) -> str:
    """How OpenSSH names the host in ``known_hosts``."""
    return spec.host if spec.port == 22 else f"[{spec.host}]:{spec.port}"


class _Refuse(paramiko.MissingHostKeyPolicy):
    def __init__(self, spec: NodeSpec, known_hosts: Path) -> None:
        self.spec, self.known_hosts = spec, known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        entry = known_hosts_entry(self.spec)
        raise UnknownHost(
            f"{self.spec.name}: the host's key is not in {self.known_hosts}, so it is not trusted. Its "
            f"{key.get_name()} key has the fingerprint {fingerprint(key)}. If that is the host's (compare with "
            f"'ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub' on it), accept it with: netrender nodes trust "
            f"{self.spec.name} --fingerprint {fingerprint(key)}",
            details={"host": entry, "key_type": key.get_name(), "fingerprint": fingerprint(key)},
        )


@dataclass
class Completed:
    code: int
    output: str


class Link:
    """An open SSH connection to ``spec``'s host; use from one thread (the node's), or guard it."""

    def __init__(self, spec: NodeSpec, *, timeout: float = 15.0) -> None:
        self.spec, self.timeout = spec, timeout
        self.client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._forward: tuple[int, queue.Queue[paramiko.Channel]] | None = None
        self._lock = threading.Lock()

    @property
    def known_hosts(self) -> Path:
        return Path(os.path.expanduser(self.spec.known_hosts or "~/.ssh/known_hosts"))

    def connect(self) -> Link:
        """Log in; :class:`UnknownHost`, :class:`HostKeyChanged`, :class:`AuthFailed` or :class:`SshError` if not."""
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(_Refuse(self.spec, self.known_hosts))
        key_file = os.path.expanduser(self.spec.key_file) if self.spec.key_file else None
        try:
            client.connect(self.spec.host, self.spec.port, username=self.spec.user, key_filename=key_file,
                           allow_agent=True, look_for_keys=key_file is None, timeout=self.timeout,
                           banner_timeout=self.timeout, auth_timeout=self.timeout, channel_timeout=self.timeout)
        except SshError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyChanged(
                f"{self.spec.name}: the host's key changed: {self.known_hosts} expects "
                f"{fingerprint(exc.expected_key)}, the host shows {fingerprint(exc.key)}. If the host was "
                "reinstalled, remove its old line "
                f"(ssh-keygen -R '{known_hosts_entry(self.spec)}' -f {self.known_hosts}) and trust it again; "
                "otherwise someone may be in between.") from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            which = f"the key {key_file}" if key_file else "the SSH agent's keys and those in ~/.ssh"
            raise AuthFailed(f"{self.spec.name} refused {which}: {exc}. Put the public key in "
                             f"~{self.spec.user}/.ssh/authorized_keys on the host (ssh-copy-id), or set the "
                             "node's key_file.") from exc
        except paramiko.ssh_exception.NoValidConnectionsError as exc:
            client.close()
            raise SshError(f"cannot reach {self.spec.name}: no SSH server answers on port {self.spec.port} "
                           "(is sshd running there, and the port right?)") from exc
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise SshError(f"cannot reach {self.spec.name}: {exc or type(exc).__name__}") from exc
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(int(KEEPALIVE))
        # Small messages (a frame's request, each SFTP reply) must not wait for the peer's delayed ACK:
        # without this a 1 MB frame took 48 ms to fetch on loopback instead of 7.
        if isinstance(transport.sock, socket.socket):
            with contextlib.suppress(OSError):
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = client
        return self

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport() if self.client is not None else None
        return transport is not None and transport.is_active()

    def _transport(self) -> paramiko.Transport:
        transport = self.client.get_transport() if self.client is not None else None
        if transport is None or not transport.is_active():
            raise SshError(f"the connection to {self.spec.name} is closed")
        return transport

    def run(self, command: str, timeout: float = 60.0, stdin: bytes = b"") -> Completed:
        """Run a shell command on the node; its exit code and output (stderr included)."""
        try:
            channel = self._transport().open_session(timeout=self.timeout)
            channel.set_combine_stderr(True)
            channel.settimeout(timeout)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            chunks = []
            while data := channel.recv(65536):
                chunks.append(data)
            code = channel.recv_exit_status()
            channel.close()
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise SshError(f"{self.spec.name}: {command.split()[0]} failed: {exc or type(exc).__name__}") from exc
        return Completed(code, b"".join(chunks).decode("utf-8", "replace"))

    def check(self, command: str, timeout: float = 60.0) -> str:
        """:meth:`run`, with an :class:`SshError` unless it exits 0."""
        done = self.run(command, timeout)
        if done.code != 0:
            raise SshError(f"{self.spec.name}: '{command}' failed ({done.code}): {done.output.strip()[-500:]}")
        return done.output

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> RemoteProcess:
        """Start ``argv`` on the node in its own process, ``env`` added to its environment."""
        for name, value in env.items():
            if "\n" in value or "=" in name:
                raise SshError(f"environment variable {name!r} cannot be passed to {self.spec.name}")
        command = ('while IFS= read -r line && [ -n "$line" ]; do export "$line"; done; '
                   'echo "netrender-pid $$"; exec ' + " ".join(shlex.quote(a) for a in argv))
        try:
            channel = self._transport().open_session(timeout=self.timeout)
            channel.set_combine_stderr(True)
            channel.exec_command(command)
            channel.sendall("".join(f"{k}={v}\n" for k, v in env.items()).encode() + b"\n")
            stdout = channel.makefile("r")
            first = stdout.readline()
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise SshError(f"cannot start {argv[0]} on {self.spec.name}: {exc or type(exc).__name__}") from exc
        if not first.startswith("netrender-pid "):
            raise SshError(f"{self.spec.name} did not start {argv[0]}: {first.strip() or 'no answer'}")
        return RemoteProcess(self, channel, int(first.split()[1]), stdout)

    def sftp(self) -> paramiko.SFTPClient:
        with self._lock:
            if self._sftp is None or self._sftp.sock.closed:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(self._transport())
                except (OSError, paramiko.SSHException, EOFError) as exc:
                    raise SshError(f"{self.spec.name}: SFTP failed: {exc or type(exc).__name__}") from exc
                assert self._sftp is not None
            return self._sftp

    def open_sftp(self) -> paramiko.SFTPClient:
        """An SFTP session of its own, for a thread that must not share :meth:`sftp`'s."""
        try:
            client = paramiko.SFTPClient.from_transport(self._transport())
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise SshError(f"{self.spec.name}: SFTP failed: {exc or type(exc).__name__}") from exc
        if client is None:
            raise SshError(f"{self.spec.name}: SFTP could not start")
        return client

    def listener(self) -> ForwardedListener:
        """A port on the node's loopback whose connections come here (one forward per connection, kept)."""
        with self._lock:
            if self._forward is None:
                arrived: queue.Queue[paramiko.Channel] = queue.Queue()
                try:
                    port = self._transport().request_port_forward(
                        "127.0.0.1", 0, handler=lambda channel, origin, server: arrived.put(channel))
                except (OSError, paramiko.SSHException, EOFError) as exc:
                    raise SshError(f"{self.spec.name} refused to forward a port (AllowTcpForwarding): "
                                   f"{exc or type(exc).__name__}") from exc
                self._forward = (port, arrived)
            return ForwardedListener(*self._forward)

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        if self.client is not None:
            self.client.close()
        self.client, self._sftp, self._forward = None, None, None


class ForwardedListener:
    """Connections to ``port`` on the node, as a session's listener (see ``netrender.node.session.Listener``)."""

    def __init__(self, port: int, arrived: queue.Queue[paramiko.Channel]) -> None:
        self.port, self._arrived = port, arrived

    def accept(self, timeout: float) -> paramiko.Channel | None:
        try:
            return self._arrived.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """The forward stays for the next session; what arrived and was not taken is hung up on."""
        while True:
            try:
                self._arrived.get_nowait().close()
            except queue.Empty:
                return


class RemoteProcess:
    """A process on the node, run by :meth:`Link.start`: what a session needs of a process."""

    def __init__(self, link: Link, channel: paramiko.Channel, pid: int, stdout: Any) -> None:
        self.link, self.channel, self.pid, self.stdout = link, channel, pid, stdout
        self._killed = False

    def poll(self) -> int | None:
        if self.channel.status_event.is_set():
            return self.channel.exit_status
        if self.channel.closed or not self.link.alive:
            return -1 if not self._killed else -9  # the connection is gone, and the process with it
        return None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"{self.link.spec.name}:{self.pid}", timeout or 0.0)
            self.channel.status_event.wait(0.05)
        return code

    def kill(self) -> None:
        """SIGKILL the process on the node, then hang up; a cut connection has ended it already."""
        self._killed = True
        if self.link.alive:
            try:
                self.link.run(f"kill -KILL {self.pid} 2>/dev/null", timeout=10.0)
            except SshError as exc:
                log.warning("%s: cannot kill process %s: %s", self.link.spec.name, self.pid, exc)
        self.channel.close()
