# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's SSH nodes at work: one :class:`~.node.SshSlave` thread per node, following the farm's list.

:meth:`NodePool.reconcile` is called with the list the farm keeps (the
master's housekeeping does, every second): a node added gets its slave, a
node removed or changed has its slave stopped (its render killed on the node,
its frames given back) and, if changed, started again with the new settings.
Each slave keeps its files under ``folder/<node name>``.

paramiko is imported only when a node starts: a master (or the add-on in a
Blender whose Python lacks it) runs without SSH nodes, and a node added there
shows what to install instead of breaking the master.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.connection import Access
from ..common.errors import Conflict, NetrenderError
from ..common.nodes import NodeSpec

if TYPE_CHECKING:
    from .node import SshSlave

log = logging.getLogger(__name__)


@dataclass
class _Running:
    spec: NodeSpec
    slave: SshSlave | _Missing
    thread: threading.Thread
    status: str = ""


class _Missing:
    """A node that cannot start here because the SSH library is missing; it says what to install."""

    def __init__(self, missing: str) -> None:
        self.state, self.id = "unreachable", None
        self.problem = f"SSH nodes need the Python package {missing!r} on the master: pip install paramiko"
        self.mirror = self.link = self

    sent_files = sent_bytes = 0
    alive = False

    def run(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass

    def clean(self, what: str) -> None:
        pass


class NodePool:
    """The running slaves of the master at ``master_url`` for its SSH nodes."""

    def __init__(self, master_url: str, folder: Path, access: Access | None = None) -> None:
        self.master_url, self.folder, self.access = master_url, Path(folder), access
        self.running: dict[str, _Running] = {}
        self._lock = threading.Lock()

    def reconcile(self, specs: list[NodeSpec]) -> None:
        """Run a slave for each of ``specs``, and only for them, each with its current settings."""
        wanted = {spec.name: spec for spec in specs}
        with self._lock:
            for name in list(self.running):
                if wanted.get(name) != self.running[name].spec:
                    self._stop(self.running.pop(name))
            for name, spec in wanted.items():
                if name not in self.running:
                    self.running[name] = self._start(spec)

    def _start(self, spec: NodeSpec) -> _Running:
        folder = self.folder / re.sub(r"[^A-Za-z0-9._-]", "_", spec.name)
        running: _Running

        def status(text: str) -> None:
            running.status = text
            log.info("%s: %s", spec.name, text)

        slave: SshSlave | _Missing
        try:
            from .node import SshSlave
        except ImportError as exc:
            slave = _Missing(exc.name or "paramiko")
        else:
            slave = SshSlave(spec, self.master_url, folder, self.access, on_status=status)
        thread = threading.Thread(target=slave.run, name=f"netrender-ssh-{spec.name}", daemon=True)
        running = _Running(spec, slave, thread)
        thread.start()
        log.info("SSH node %s: started", spec.name)
        return running

    @staticmethod
    def _stop(running: _Running) -> None:
        """Stop in the background: a render in progress is killed on the node, its frames given back."""
        running.slave.stop()

        def wait() -> None:
            running.thread.join(timeout=60)
            running.slave.link.close()

        threading.Thread(target=wait, name=f"netrender-ssh-stop-{running.spec.name}", daemon=True).start()
        log.info("SSH node %s: stopped", running.spec.name)

    def states(self) -> dict[str, dict[str, Any]]:
        """Each running node's connection and slave: for the API and the monitor."""
        with self._lock:
            return {name: {"state": r.slave.state, "problem": r.slave.problem, "slave_id": r.slave.id,
                           "status": r.status, "sent_files": r.slave.mirror.sent_files,
                           "sent_bytes": r.slave.mirror.sent_bytes} for name, r in self.running.items()}

    def clean(self, what: str = "outputs") -> dict[str, str]:
        """Remove the jobs' outputs (or, ``all``, every file netrender keeps) on each node; what each said."""
        with self._lock:
            nodes = list(self.running.values())
        if not nodes:
            raise Conflict("this master drives no SSH node")
        said = {}
        for running in nodes:
            try:
                if not running.slave.link.alive:
                    raise Conflict(running.slave.problem or "not connected")
                running.slave.mirror.clean(what)
                said[running.spec.name] = "cleaned"
            except NetrenderError as exc:
                said[running.spec.name] = f"not cleaned: {exc.message}"
        return said

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            stopping = list(self.running.values())
            self.running.clear()
        for running in stopping:
            running.slave.stop()
        for running in stopping:
            running.thread.join(timeout=timeout)
            running.slave.link.close()
