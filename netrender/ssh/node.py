# SPDX-License-Identifier: GPL-3.0-or-later
"""A slave whose Blender runs on an SSH node: to the master, a slave like any other.

It asks the master for work, keeps the job's files, reports frames, beats
its heart and stops a cancelled render exactly as :class:`~netrender.slave.Slave`
does, because it is one; only its Blender (a :class:`~.session.RemoteSession`)
and what it says of its machine are on the node. A job's files reach the
master's machine first (the slave's own cache), then the node through
:class:`~.mirror.Mirror`, by content hash. While the node cannot be reached
the slave asks for no work, so the master's lost-slave timeout gives its frames
to others; it logs in again with a growing wait.
"""

from __future__ import annotations

import logging
import os
import queue
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..common.connection import Access
from ..common.nodes import NodeSpec
from ..common.work import Assignment, TaskDetail
from ..node.config import SlaveConfig
from ..node.facts import facts_argv, parse_facts
from ..node.files import FetchFailed
from ..node.rendering import ChunkReport
from ..node.session import BlenderSession, FrameOutcome, SessionSpec
from ..node.sessions import Sessions
from ..node.tasks import MACHINE_SAMPLES, MACHINE_SIZE
from ..samples import build_scene
from ..slave import Slave
from .link import Link, SshError
from .mirror import Mirror
from .session import RemoteSession

log = logging.getLogger(__name__)

RECONNECT_WAITS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class SshSlave(Slave):
    """The master's slave for ``node``; its own files go in ``folder`` on this machine."""

    def __init__(self, node: NodeSpec, master: str, folder: Path, access: Access | None = None, *,
                 on_status: Callable[[str], None] = lambda text: None, link: Link | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        config = SlaveConfig(master=master, access=access, path=folder, name=node.name, threads=node.threads,
                             tags=node.tags, blender=node.blender, thumbnails=node.thumbnails, denoise=False)
        self.node = node
        self.link = link or Link(node)
        self.mirror = Mirror(self.link, Path(os.path.abspath(folder)), node.work_dir)
        self.hashes: dict[str, str] = {}  # a job file's path here -> its sha256
        self.state = "connecting"  # connecting, online, unreachable (with ``problem``)
        self.problem = ""
        self._failed_logins = 0
        self._login_at = 0.0
        self._fetches: queue.Queue[tuple[Assignment, int, FrameOutcome, Path, ChunkReport]] = queue.Queue()
        self._fetcher: threading.Thread | None = None
        super().__init__(config, on_status=on_status, clock=clock,
                         sessions=Sessions(max_frames=config.session_frames, factory=self._remote_session))
        self.sessions_only = True

    # -- frames come back while the next one renders ---------------------------------------------------

    def _fetch_frame(self, work: Assignment, frame: int, outcome: FrameOutcome, output: Path,
                     report: ChunkReport) -> None:
        """Queue the frame's fetch for the background: the node starts the next frame meanwhile."""
        if self._fetcher is None or not self._fetcher.is_alive():
            self._fetcher = threading.Thread(target=self._fetch_loop, name=f"netrender-fetch-{self.node.name}",
                                             daemon=True)
            self._fetcher.start()
        self._fetches.put((work, frame, outcome, output, report))

    def _fetch_loop(self) -> None:
        while True:
            item = self._fetches.get()
            try:
                super()._fetch_frame(*item)
            except Exception:  # a frame lost here is requeued by the master; the loop must go on
                log.exception("%s: fetching a frame failed", self.node.name)
            finally:
                self._fetches.task_done()

    def _hand_over_delivery(self) -> None:
        self._fetches.join()  # every frame fetched and in the outbox before the last delivery
        super()._hand_over_delivery()

    def _remote_session(self, spec: SessionSpec, log_path: Path) -> BlenderSession:
        return RemoteSession(spec, log_path, self.link, self.mirror,
                             lambda path: self.hashes.get(os.path.normpath(path)))

    # -- the node's connection ------------------------------------------------------------------

    def online(self) -> bool:
        """Whether the node answers; logs in when it is time to try again."""
        if self.link.alive:
            return True
        now = self.clock()
        if now < self._login_at:
            return False
        self.sessions.close()  # a Blender of a cut connection is gone with it
        try:
            self.link.close()
            self.link.connect()
            self.mirror.prepare()
        except SshError as exc:
            wait = RECONNECT_WAITS[min(self._failed_logins, len(RECONNECT_WAITS) - 1)]
            self._failed_logins += 1
            self._login_at = now + wait
            self.state, self.problem = "unreachable", exc.message
            self.on_status(f"{exc.message} (trying again in {wait:g} s)")
            return False
        self._failed_logins, self.state, self.problem = 0, "online", ""
        self.on_status(f"logged in to {self.node.name}")
        return True

    def run_once(self) -> bool:
        if not self.online():
            return False
        try:
            return super().run_once()
        except SshError as exc:  # the connection broke between frames: log in again next round
            self.state, self.problem = "unreachable", exc.message
            self.on_status(exc.message)
            self.link.close()
            return False

    def _facts(self) -> dict[str, Any]:
        """The node's machine and Blender, asked over SSH; nothing to denoise with (see the docs)."""
        facts: dict[str, Any] = {"os": "", "cpu": "", "cores": 1, "gpu": None, "ssh": self.node.name,
                                 "capabilities": []}
        try:
            system, cores, machine = (self.link.check("uname -sr; getconf _NPROCESSORS_ONLN; uname -m")
                                      .splitlines() + ["", "1", ""])[:3]
            facts.update(os=system.strip(), cores=int(cores) if cores.strip().isdigit() else 1, cpu=machine.strip())
            said = self.link.run(" ".join(shlex.quote(a) for a in facts_argv(self.node.blender)), timeout=120)
            facts["blender"] = parse_facts(said.output)["blender"]
        except (SshError, ValueError) as exc:
            log.warning("%s: cannot ask what the node is: %s", self.node.name, exc)
        return facts

    # -- the job's files ------------------------------------------------------------------------

    def fetch(self, work: Assignment) -> Path:
        """The job's files here, their hashes noted for the node; a job on shared storage must be seen there."""
        if work.vcs:
            raise FetchFailed("SSH nodes do not check jobs out of version control yet: an ordinary slave does")
        if work.shared:
            sftp = self.link.sftp()
            for path in (work.blend, *work.found):
                try:
                    sftp.stat(path)
                except OSError:
                    raise FetchFailed(f"{self.node.name} cannot see the job's file {path} on shared storage: "
                                      "mount it there at the same path") from None
            return Path(work.blend)
        blend = super().fetch(work)
        root = self.folder / f"job_{work.job_id}" / "files"
        for ref in work.files:
            self.hashes[os.path.normpath(root / ref.path)] = ref.sha256
        return blend

    # Bakes write beside the .blend, which the node's cache of files by hash cannot follow yet.
    NO_BAKES = "SSH nodes do not bake, nor render after a bake, yet: an ordinary slave does"

    def _bake(self, work: Assignment, detail: TaskDetail, spec: SessionSpec, log_path: Path,
              should_stop: Callable[[], bool]) -> FrameOutcome:
        return FrameOutcome(detail.number, error=self.NO_BAKES)

    def _install_bakes(self, work: Assignment, blend: Path) -> None:
        raise FetchFailed(self.NO_BAKES)

    def _claimed_elsewhere(self, work: Assignment, frame: int, output_dir: Path,
                           should_stop: Callable[[], bool]) -> FrameOutcome | None:
        return None  # the shared folder is the node's, not this machine's: no claims (yet)

    def _machine_test(self, spec: SessionSpec, log_path: Path) -> FrameOutcome:
        """The fixed speed test, made here by the Blender of this machine, rendered in a Blender on the node."""
        scene = Path(self.config.path) / "speedtest" / "machine.blend"
        try:
            if not scene.is_file():
                build_scene(scene, blender="blender", frames=1, size=MACHINE_SIZE, samples=MACHINE_SAMPLES,
                            texture=True)
        except (OSError, RuntimeError) as exc:
            return FrameOutcome(1, error=f"the speed test's scene is made with Blender on the master: {exc}")
        test = SessionSpec(0, self.node.blender, scene, spec.output_dir, "CYCLES", self.node.threads,
                           sent=frozenset(str(p) for p in scene.parent.rglob("*") if p.is_file()))
        try:
            return self.sessions.render(test, log_path.with_name("machine.log"), 1)
        finally:
            self.sessions.close()
