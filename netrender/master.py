# SPDX-License-Identifier: GPL-3.0-or-later
"""The master as a service: the Flask app factory and the WSGI server around it.

``create_app(config)`` builds the app (tests use its ``test_client``);
:class:`MasterServer` serves it with cheroot (see :mod:`netrender.server.httpserver`),
a production WSGI server in pure Python, so the same code runs from the
command line and inside Blender, over HTTP or, given a certificate, HTTPS.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from . import web
from .common import tls
from .common.connection import Access
from .common.nodes import NodeSpec
from .common.pathmap import PathMap
from .discovery import announcer_for
from .farm.jobs import Farm, open_root
from .farm.storage import SharedStorage
from .server import api, auth, errors
from .server import nodes as _nodes_views  # noqa: F401 - each of these adds its views to api.bp
from .server import queue as _queue_views  # noqa: F401
from .server import storage as _storage_views  # noqa: F401
from .server import switches as _switches_views  # noqa: F401
from .server.httpserver import Server
from .ssh.pool import NodePool

log = logging.getLogger(__name__)

DEFAULT_PORT = 8000
ANY_ADDRESS = "[default]"


@dataclass
class MasterConfig:
    path: Path = field(default_factory=lambda: Path("netrender-master"))
    address: str = ANY_ADDRESS
    port: int = DEFAULT_PORT
    clear_on_exit: bool = False
    max_upload: int = 64 << 30
    threads: int = 24  # server threads; half of them at most hold slaves waiting for work
    clock: Callable[[], float] = time.time
    cert: Path | None = None  # PEM certificate, then its chain if any: the master serves HTTPS
    key: Path | None = None  # its private key, unless the certificate file holds it
    token: str | None = field(default=None, repr=False)  # the farm token every /api call must carry
    announce: bool = False  # UDP broadcast of the address (the CLI and the add-on turn it on)
    zeroconf: bool = False  # _netrender._tcp service (likewise)
    announce_interval: float = 10.0
    #: Folders on storage shared with clients and slaves, where this master sees client's paths (through
    #: ``path_map``); files there are copied, not uploaded (unless ``force_upload``), and jobs render in place.
    storage_roots: tuple[Path, ...] = ()
    path_map: PathMap = field(default_factory=PathMap)
    force_upload: bool = False
    #: SSH nodes to drive (``--ssh-node``, ``--ssh-config``): added to those the master keeps from before.
    ssh_nodes: tuple[NodeSpec, ...] = ()

    @property
    def tls(self) -> bool:
        return self.cert is not None

    @property
    def bind_host(self) -> str:
        """``[default]`` listens on every interface, as in the original add-on."""
        return "0.0.0.0" if self.address in ("", ANY_ADDRESS) else self.address


def create_app(config: MasterConfig, farm: Farm | None = None) -> Flask:
    """Build the master's app on ``config.path`` (or on a given farm, for tests)."""
    app = Flask(__name__, static_folder=None)  # /static/ belongs to the web monitor's blueprint
    storage = SharedStorage(config.storage_roots, config.path_map, config.force_upload)
    farm = farm or Farm(open_root(Path(config.path)), max_upload=config.max_upload, storage=storage)
    app.extensions["netrender.farm"] = farm
    farm.max_waiting = config.threads // 2  # the other half stay free to serve what wakes the waiting ones
    app.config["NETRENDER_CLOCK"] = config.clock
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["id"] = api.IdConverter
    app.register_blueprint(api.bp)  # with the views of nodes, imported above
    app.register_blueprint(web.bp)
    errors.install_error_handlers(app)
    auth.install(app, config.token, config.clock)
    return app


class MasterServer:
    """The app behind cheroot, started and stopped from any thread.

    The socket is bound on construction, so :attr:`port` is known before serving.
    """

    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        context: ssl.SSLContext | None = tls.server_context(config.cert, config.key) if config.cert else None
        self.app = create_app(config)
        self.farm: Farm = self.app.extensions["netrender.farm"]
        self.server = Server(self.app, config.bind_host, config.port, threads=config.threads,
                             max_body=config.max_upload, tls=context)
        try:
            self.server.prepare()
        except BaseException:
            self.farm.close()
            raise
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.announcer = announcer_for(config.bind_host, self.port, "https" if config.tls else "http",
                                       config.announce_interval, broadcast=config.announce,
                                       zeroconf=config.zeroconf)
        for node in config.ssh_nodes:
            self.farm.add_node(node, config.clock())
        access = Access(token=config.token, fingerprint=tls.fingerprint(config.cert) if config.cert else None)
        self.nodes = NodePool(self.url, self.farm.root / "ssh_nodes", access)
        self.app.extensions["netrender.nodes"] = self.nodes

    @property
    def port(self) -> int:
        """The bound port: differs from the config's when that was 0 (any free port)."""
        return self.server.port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.bind_host == "0.0.0.0" else self.config.bind_host
        return f"{'https' if self.config.tls else 'http'}://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`stop`; then close every open connection.

        cheroot's own ``stop()`` waits for its accept loop to end, so it cannot
        run on the loop's thread, nor in a signal handler that interrupted it:
        a helper thread waits for the stop flag and calls it, and this method
        returns once that stop is complete (idle keep-alive connections
        closed, requests in progress given ``httpserver.STOP_TIMEOUT``).
        """
        log.info("master serving %s from %s", self.url, self.farm.root)
        self.announcer.start()
        threading.Thread(target=self.housekeeping, name="netrender-housekeeping", daemon=True).start()
        stopper = threading.Thread(target=self._stop_when_asked, name="netrender-stop", daemon=True)
        stopper.start()
        try:
            self.server.serve()
        finally:
            self._stopping.set()
            stopper.join()

    def _stop_when_asked(self) -> None:
        self._stopping.wait()
        self.server.stop()

    def housekeeping(self, interval: float = 1.0) -> None:
        """Every ``interval`` seconds: age usage, requeue the frames of lost slaves."""
        while not self._stopping.wait(interval):
            try:
                self.nodes.reconcile(self.farm.nodes())
                orphans = self.farm.run_once(self.config.clock())
            except Exception:  # keep the farm's clock ticking whatever one round hit
                log.exception("housekeeping failed")
                continue
            if orphans:
                log.warning("requeued %d frame(s) of silent slaves", len(orphans))

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.serve_forever, name="netrender-master", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Ask the serving loop to end; safe from a signal handler or another thread."""
        self._stopping.set()

    def close(self) -> None:
        self.nodes.close()  # first: the SSH nodes' slaves give their frames back while the server still listens
        self.stop()
        self.announcer.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.server.stop()  # when never served; a no-op once stopped
        self.farm.close()
        if self.config.clear_on_exit:
            shutil.rmtree(self.farm.root, ignore_errors=True)
            (Path(self.config.path) / "blender_master.data").unlink(missing_ok=True)
