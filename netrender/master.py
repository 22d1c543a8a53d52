# SPDX-License-Identifier: GPL-3.0-or-later
"""The master as a service: the Flask app factory and the WSGI server around it.

``create_app(config)`` builds the app (tests use its ``test_client``);
:class:`MasterServer` serves it with waitress, a production WSGI server in pure
Python, so the same code runs from the command line and inside Blender.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from waitress.server import create_server

from . import api, web
from .farm import Farm, open_root

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
    threads: int = 8
    clock: Callable[[], float] = time.time

    @property
    def bind_host(self) -> str:
        """``[default]`` listens on every interface, as in the original add-on."""
        return "0.0.0.0" if self.address in ("", ANY_ADDRESS) else self.address


def create_app(config: MasterConfig, farm: Farm | None = None) -> Flask:
    """Build the master's app on ``config.path`` (or on a given farm, for tests)."""
    app = Flask(__name__, static_folder=None)  # /static/ belongs to the web monitor's blueprint
    farm = farm or Farm(open_root(Path(config.path)), max_upload=config.max_upload)
    app.extensions["netrender.farm"] = farm
    app.config["NETRENDER_CLOCK"] = config.clock
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    api.install_error_handlers(app)
    return app


class MasterServer:
    """The app behind waitress, started and stopped from any thread."""

    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        self.app = create_app(config)
        self.farm: Farm = self.app.extensions["netrender.farm"]
        self.server = create_server(
            self.app,
            host=config.bind_host,
            port=config.port,
            threads=config.threads,
            max_request_body_size=config.max_upload,
            channel_timeout=300,
            ident="netrender",
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port: differs from the config's when that was 0 (any free port)."""
        return int(self.server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.bind_host == "0.0.0.0" else self.config.bind_host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`stop`; then close every open connection.

        waitress's own ``run()`` only ends on KeyboardInterrupt and leaves
        keep-alive connections open, so the loop is driven here one round at a
        time and checks the stop flag between rounds.
        """
        log.info("master serving %s from %s", self.url, self.farm.root)
        threading.Thread(target=self.housekeeping, name="netrender-housekeeping", daemon=True).start()
        channels = self.server._map  # type: ignore[union-attr]  # waitress keeps its sockets here
        try:
            while not self._stopping.is_set():
                self.server.asyncore.loop(timeout=0.1, map=channels, count=1)
        finally:
            for channel in list(channels.values()):
                channel.close()
            self.server.task_dispatcher.shutdown()

    def housekeeping(self, interval: float = 1.0) -> None:
        """Every ``interval`` seconds: age usage, requeue the frames of lost slaves."""
        while not self._stopping.wait(interval):
            try:
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
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.farm.close()
        if self.config.clear_on_exit:
            shutil.rmtree(self.farm.root, ignore_errors=True)
            (Path(self.config.path) / "blender_master.data").unlink(missing_ok=True)
