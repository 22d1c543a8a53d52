# SPDX-License-Identifier: GPL-3.0-or-later
"""Machine tools, as "Blender Network Render" has them: find machines on the LAN, and test nodes before a job does.

:func:`find` browses mDNS for SSH servers (``_ssh._tcp``, which Avahi and
macOS publish) and says of each whether SSH answers and, where a log-in works
with the keys given, which Blender it has. :func:`check` tests a configured
node the way a job would use it: the log-in, Blender, free disk and write
access in its work folder, each with what to fix.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from zeroconf import InterfaceChoice, ServiceBrowser, ServiceStateChange, Zeroconf

from ..common.nodes import NodeSpec
from .hostkeys import is_port_open
from .link import Link, SshError

SSH_SERVICE = "_ssh._tcp.local."
MIN_FREE_GIB = 2.0


@dataclass
class Found:
    """A machine that announces an SSH server."""

    name: str
    address: str
    port: int
    ssh: str = ""  # the server's banner, empty when nothing answered
    blender: str = ""  # e.g. "Blender 3.4.1", when a log-in worked
    note: str = ""


@dataclass
class Check:
    """What :func:`check` found on one node: each part's verdict, and what to fix."""

    node: str
    login: str = "-"
    blender: str = "-"
    disk: str = "-"
    write: str = "-"
    fixes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.fixes


def blender_version(link: Link, blender: str) -> str:
    """The first line of ``blender --version`` on the node; an :class:`SshError` if it does not run."""
    done = link.run(f"{shlex.quote(blender)} --version", timeout=120)
    first = next((line.strip() for line in done.output.splitlines() if line.startswith("Blender")), "")
    if done.code != 0 or not first:
        raise SshError(f"'{blender} --version' failed ({done.code}): {done.output.strip()[-200:] or 'no output'}")
    return first


def check(spec: NodeSpec, min_free_gib: float = MIN_FREE_GIB, timeout: float = 15.0) -> Check:
    """Log in to ``spec`` and test what its jobs will need; never raises for the node's faults."""
    found = Check(spec.name)
    link = Link(spec, timeout=timeout)
    try:
        link.connect()
    except SshError as exc:
        found.login = exc.code.replace("_", " ")
        found.fixes.append(exc.message)
        return found
    try:
        found.login = "ok"
        try:
            found.blender = blender_version(link, spec.blender)
        except SshError as exc:
            found.blender = "not found"
            found.fixes.append(f"{exc.message}: install Blender on the node, or set the node's blender to its path")
        work = shlex.quote(spec.work_dir)
        done = link.run(f"mkdir -p {work} && df -Pk {work} | tail -n 1", timeout=30)
        fields = done.output.split()
        if done.code == 0 and len(fields) >= 4 and fields[3].isdigit():
            free = int(fields[3]) / (1 << 20)
            found.disk = f"{free:.1f} GiB free"
            if free < min_free_gib:
                found.fixes.append(f"only {free:.1f} GiB free in {spec.work_dir}: free some, or set work_dir elsewhere")
        else:
            found.disk = "unknown"
            found.fixes.append(f"cannot make or measure {spec.work_dir}: {done.output.strip()[-200:]}")
        probe = f"{work}/.netrender-check-{int(time.time())}"
        done = link.run(f"echo ok > {probe} && rm -f {probe}", timeout=30)
        found.write = "ok" if done.code == 0 else "refused"
        if done.code != 0:
            found.fixes.append(f"{spec.user} cannot write in {spec.work_dir}: {done.output.strip()[-200:]}")
    except SshError as exc:
        found.fixes.append(exc.message)
    finally:
        link.close()
    return found


def find(timeout: float = 3.0, *, login: NodeSpec | None = None, interfaces: Sequence[str] | None = None,
         service_type: str = SSH_SERVICE) -> list[Found]:
    """Machines announcing SSH within ``timeout`` seconds; with ``login`` (user, key…), their Blender too."""
    seen: dict[str, Found] = {}
    lock = threading.Lock()

    def on_service(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=2000)
        if info is None or not info.parsed_addresses():
            return
        with lock:
            seen[name] = Found(name.removesuffix("." + service_type), info.parsed_addresses()[0], info.port or 22)

    zc = Zeroconf(interfaces=InterfaceChoice.All if interfaces is None else list(interfaces))
    try:
        ServiceBrowser(zc, service_type, handlers=[on_service])
        time.sleep(timeout)
    finally:
        zc.close()
        if zc.loop is not None and not zc.loop.is_running() and not zc.loop.is_closed():
            zc.loop.close()  # close() only stops the loop it made, which would keep two sockets
    machines = sorted(seen.values(), key=lambda f: (f.name, f.address))
    for machine in machines:
        machine.ssh = is_port_open(machine.address, machine.port) or ""
        if not machine.ssh:
            machine.note = "announced, but no SSH server answers"
        elif login is None:
            machine.note = "SSH answers; give --user/--key to look for Blender"
        else:
            machine.blender, machine.note = _blender_of(replace(login, host=machine.address, port=machine.port))
    return machines


def _blender_of(spec: NodeSpec) -> tuple[str, str]:
    link = Link(spec, timeout=10.0)
    try:
        link.connect()
        return blender_version(link, spec.blender), f"log-in as {spec.user} works"
    except SshError as exc:
        return "", exc.message
    finally:
        link.close()
