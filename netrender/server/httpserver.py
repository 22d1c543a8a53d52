# SPDX-License-Identifier: GPL-3.0-or-later
"""The master's HTTP and HTTPS server: cheroot, adjusted where a render farm needs it.

cheroot is a production WSGI server in pure Python, like waitress before it,
and unlike waitress it speaks TLS with Python's own :mod:`ssl`. Four things
differ from its defaults, each for a reason of the farm's:

- The TLS handshake runs in the worker thread that serves the connection, not
  in the accept loop (cheroot's builtin adapter does it there, cherrypy/cheroot
  #748): one client that connects and never speaks, a port scanner say, would
  otherwise hold every other slave, and a stop, for the whole socket timeout.
- An application can ask, through ``environ[CLOSE_CONNECTION]``, that the
  connection be closed after its response instead of reading the rest of the
  request body first: the master refuses an unauthenticated upload without
  receiving the gigabytes behind it.
- Worker threads are daemons, as waitress's were: a master that was never
  closed does not keep Python (or Blender) from exiting.
- The server's own error answers (a malformed request, a body over the
  limit, a timeout) use the API's JSON error shape, and its messages go to
  :mod:`logging` instead of straight to stderr.
- A response's head and a short body leave in one send instead of two, and
  a worker that answered a keep-alive request waits a few milliseconds for
  the same client's next one (:data:`NEXT_REQUEST_WAIT`) before handing the
  connection back to cheroot's selector thread: on a busy farm every slave
  result is a small request, and each system call or hand-over between
  threads also passes the interpreter lock around.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.makefile import MakeFile, StreamReader, StreamWriter
from cheroot.ssl import Adapter
from cheroot.workers import threadpool

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0  # seconds a client has to finish the TLS handshake
HANDSHAKE_POLL = 0.2  # seconds between looks at the stop flag during a handshake
IDLE_TIMEOUT = 30  # seconds a socket operation may wait; also how long an idle keep-alive connection stays
CLOSE_CONNECTION = "netrender.close_connection"  # WSGI environ key; PEP 3333 keeps Connection headers from apps
NEXT_REQUEST_WAIT = 0.005  # seconds a worker waits on its keep-alive connection before the selector takes it back
STOP_TIMEOUT = 3  # seconds a stop waits for requests in progress before cutting their connections
PLAIN_HTTP_ANSWER = (
    b'{"error": {"code": "https_required", "message": "this master speaks HTTPS only: use an https:// address"}}'
)


class LazyTLSAdapter(Adapter):
    """Wraps accepted sockets in TLS without the handshake, which :class:`MasterConnection` does.

    The context comes ready-made (see :func:`netrender.common.tls.server_context`), so
    the certificate, key, protocol versions and ciphers are decided in one place.
    """

    def __init__(self, context: ssl.SSLContext) -> None:  # the base would only store file names
        self.certificate = self.private_key = self.certificate_chain = self.ciphers = None
        self.private_key_password = None
        self.context = context

    def bind(self, sock: socket.socket) -> socket.socket:
        return sock

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        try:
            wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:  # the client is already gone
            raise cheroot_errors.FatalSSLAlert(str(exc)) from exc
        return wrapped, self.get_environ()

    def get_environ(self) -> dict[str, str]:
        return {"HTTPS": "on", "wsgi.url_scheme": "https"}

    def makefile(self, sock: socket.socket, mode: str = "r", bufsize: int = -1) -> Any:
        return (StreamReader if "r" in mode else StreamWriter)(sock, mode, bufsize)


class Corked:
    """Holds a response's writes, up to ``limit`` bytes, and sends them together.

    It stands in for the connection's writer from the response head until the
    response ends (:meth:`JSONErrorRequest.respond`); a long body passes
    through in ``limit``-sized sends.
    """

    def __init__(self, real: Any, limit: int = 64 * 1024) -> None:
        self.real, self.limit = real, limit
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            data = b"".join(self.parts)
            self.parts, self.size = [], 0
            self.real.write(data)

    def __getattr__(self, name: str) -> Any:  # cheroot's statistics read the writer's counters
        return getattr(self.real, name)


class JSONErrorRequest(cheroot_server.HTTPRequest):
    """A request whose transport-level errors answer ``{"error": {"code", "message"}}`` like the API's.

    Its response leaves in as few sends as its size allows (:class:`Corked`).
    """

    def send_headers(self) -> None:
        if not isinstance(self.conn.wfile, Corked):
            self.conn.wfile = Corked(self.conn.wfile)
        super().send_headers()

    def respond(self) -> None:
        try:
            super().respond()
        finally:
            corked = self.conn.wfile
            if isinstance(corked, Corked):
                self.conn.wfile = corked.real
                corked.flush()

    def simple_response(self, status: str, msg: str | bytes = "") -> None:
        number, _, reason = str(status).partition(" ")
        if number == "413":
            code, text = "too_large", f"a request body may be at most {self.server.max_request_body_size} bytes"
        else:
            code = reason.lower().replace(" ", "_").replace("-", "_")
            text = (msg.decode("latin-1") if isinstance(msg, bytes) else msg) or reason
        body = json.dumps({"error": {"code": code, "message": text}}).encode()
        head = [f"{self.server.protocol} {status}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
        if number in ("413", "414"):  # the rest of the request is unread: the connection cannot go on
            self.close_connection = True
            head.append("Connection: close")
        try:
            self.conn.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError as exc:
            if exc.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise


class LineReader(StreamReader):
    """cheroot's socket reader, whose lines come straight out of its buffer when it holds them.

    cheroot builds on the pure-Python ``_pyio`` reader, whose ``readline``
    peeks and reads in small steps, in Python: reading a small request's line
    and headers took an eighth of its time.
    """

    def readline(self, size: int | None = -1) -> bytes:
        buf: bytes = self._read_buf  # type: ignore[attr-defined]  # _pyio.BufferedReader's buffer
        pos: int = self._read_pos  # type: ignore[has-type]
        stop = len(buf) if size is None or size < 0 else min(len(buf), pos + size)
        end = buf.find(b"\n", pos, stop) + 1
        if not end:
            return bytes(super().readline(size))
        self._read_pos = end
        self.bytes_read += end - pos
        return bytes(buf[pos:end])


class MasterConnection(cheroot_server.HTTPConnection):
    """A connection that finishes its TLS handshake in the worker thread before its first request.

    It also answers transport errors in JSON (:class:`JSONErrorRequest`), over HTTP too.
    """

    RequestHandlerClass = JSONErrorRequest
    handshaken = False

    def __init__(self, server: Any, sock: socket.socket, makefile: Callable[..., Any] = MakeFile) -> None:
        def reader_or_writer(sock: socket.socket, mode: str = "r", bufsize: int = -1) -> Any:
            return LineReader(sock, mode, bufsize) if "r" in mode else makefile(sock, mode, bufsize)

        super().__init__(server, sock, reader_or_writer)

    def communicate(self) -> bool:
        if isinstance(self.socket, ssl.SSLSocket) and not self.handshaken:
            if not self.handshake():
                return False
            self.handshaken = True
        while super().communicate():  # type: ignore[no-untyped-call]
            if not self.next_request_soon():
                return True  # kept alive: cheroot's selector watches it
        return False

    def next_request_soon(self) -> bool:
        """Whether the client's next request arrives within :data:`NEXT_REQUEST_WAIT`; this worker then serves it."""
        if self.rfile.has_data() or (isinstance(self.socket, ssl.SSLSocket) and self.socket.pending()):
            return True
        pool = self.server.requests
        if not self.server.ready or (isinstance(pool, DaemonThreadPool) and pool.backlog()):
            return False  # stopping, or other connections wait for a worker: this one must not keep it
        waiting = select.poll()
        waiting.register(self.socket.fileno(), select.POLLIN)
        return bool(waiting.poll(NEXT_REQUEST_WAIT * 1000))

    def handshake(self) -> bool:
        """Shake hands for up to HANDSHAKE_TIMEOUT, in short waits, so that a stop does not wait for it."""
        sock: ssl.SSLSocket = self.socket
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        try:
            sock.settimeout(HANDSHAKE_POLL)
            while True:
                try:
                    sock.do_handshake()
                    break
                except TimeoutError:
                    if not self.server.ready or time.monotonic() > deadline:
                        log.info("TLS handshake with %s abandoned: the client said nothing", self.remote_addr)
                        return False
            sock.settimeout(self.server.timeout)
            return True
        except ssl.SSLError as exc:
            if "http request" in str(exc).lower():
                refuse_plain_http(sock)
            log.info("TLS handshake with %s failed: %s", self.remote_addr, exc.reason or exc)
        except OSError as exc:
            log.info("TLS handshake with %s failed: %s", self.remote_addr, exc)
        return False


def refuse_plain_http(sock: ssl.SSLSocket) -> None:
    """Tell a client that spoke plain HTTP to the HTTPS port what to do, as a JSON error.

    The TLS layer failed, so the answer goes on the bare TCP socket; the rest of
    the request (up to 64 KiB, for half a second at a time) is read before
    closing, so that the client sees the answer rather than a reset.
    """
    head = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(PLAIN_HTTP_ANSWER))
    try:
        sock.settimeout(0.5)
        socket.socket.sendall(sock, head + PLAIN_HTTP_ANSWER)
        socket.socket.shutdown(sock, socket.SHUT_WR)
        for _ in range(16):
            if not socket.socket.recv(sock, 4096):
                break
    except OSError:
        pass


class ClosingGateway(wsgi.Gateway_10):
    """WSGI 1.0 gateway that closes the connection when the application set ``environ[CLOSE_CONNECTION]``.

    cheroot otherwise reads and discards an unread request body to keep the
    connection alive; a refused upload could be gigabytes.
    """

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if self.env.get(CLOSE_CONNECTION):
            self.req.close_connection = True
        return super().start_response(status, headers, exc_info)


class DaemonThreadPool(threadpool.ThreadPool):
    """cheroot's pool with daemon workers, so an unclosed server never blocks interpreter exit."""

    def _spawn_worker(self) -> threadpool.WorkerThread:
        worker = threadpool.WorkerThread(self.server)  # type: ignore[no-untyped-call]
        worker.name = f"netrender-http-{len(self._threads) + 1}"  # type: ignore[attr-defined]
        worker.daemon = True
        worker.start()
        return worker

    def backlog(self) -> int:
        """Connections with a request waiting for a free worker."""
        return int(self._queue.qsize())  # type: ignore[attr-defined]


class Server(wsgi.Server):
    """cheroot's WSGI server with the changes above; :meth:`prepare` binds it, :meth:`serve` runs it."""

    ConnectionClass = MasterConnection

    def __init__(self, app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]], host: str, port: int,
                 *, threads: int, max_body: int, tls: ssl.SSLContext | None) -> None:
        super().__init__((host, port), app, numthreads=threads, request_queue_size=128, timeout=IDLE_TIMEOUT,
                         shutdown_timeout=STOP_TIMEOUT, server_name="netrender")
        self.gateway = ClosingGateway
        self.requests = DaemonThreadPool(self, min=threads, max=threads)
        self.max_request_body_size = max_body
        self.keep_alive_conn_limit = 256  # every slave keeps one; an idle one costs a file descriptor
        self.expiration_interval = 0.1  # how often the accept loop looks at its stop flag
        self.ssl_adapter = LazyTLSAdapter(tls) if tls is not None else None

    @property
    def port(self) -> int:
        return int(self.bind_addr[1])

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        log.log(level, "%s", msg, exc_info=traceback)
