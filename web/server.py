"""One WSGI app served by cheroot in a background thread (never `flask run`).

Port 0 binds a free port; `.port` tells which one. Optional TLS (the staff listener on the LAN)
uses the standard library's ssl through cheroot.

What a hostile or broken client can hold, and for how long:

* **Nothing is read on the accept thread.** cheroot performs the TLS handshake in its one
  accept/select thread with a blocking 10 s timeout, so 40 connections that never finish a
  handshake stopped every other client for minutes. Here the socket is wrapped without the
  handshake, and each connection waits in cheroot's selector (no thread) until its request head
  is complete: the handshake and the head are read without blocking, a step each time the
  socket is readable (`_HeadGate`). Only a complete head is handed to a request worker.
* **Every connection has a deadline for its head**: `timeout_s` from the moment it connected
  (or from its previous answer, for a kept-alive one). A half-open connection, a handshake that
  never completes and a slowloris head are all closed then, having cost no worker at all.
* **Live event streams run on a pool of their own** (web.sse.StreamPool, at most
  `max_streams`), handed off after their headers; the request workers serve only requests.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from flask import Flask

from web import sse

log = logging.getLogger(__name__)

# Server header without version details
SERVER_NAME = "onshi-edge"
MAX_HEAD_BYTES = 64 * 1024  # a request line and headers past this: the connection is closed
MAX_BODY_BUFFERED = 64 * 1024  # a body up to this (the staff app's limit) is read before dispatch
_READ_STEP = 16 * 1024


class WebServer:
    def __init__(
        self,
        app: Flask,
        host: str,
        port: int,
        numthreads: int = 16,
        *,
        certificate: Path | None = None,
        private_key: Path | None = None,
        timeout_s: float = 10.0,
        max_streams: int = 64,
    ) -> None:
        if (certificate is None) != (private_key is None):
            raise ValueError("certificate and private_key go together")
        self._server = _Server(
            (host, port),
            app,
            numthreads=numthreads,
            server_name=SERVER_NAME,
            shutdown_timeout=2,
            timeout=timeout_s,
        )
        self._server.streams = sse.StreamPool(max_streams, write_timeout_s=timeout_s)
        if certificate is not None and private_key is not None:
            self._server.ssl_adapter = _DeferredHandshakeAdapter(str(certificate), str(private_key))
        self._app = app
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def tls(self) -> bool:
        return self._server.ssl_adapter is not None

    @property
    def streams(self) -> sse.StreamPool:
        """The live event streams of this listener (open count, cap, refusals)."""
        return self._server.streams

    @property
    def base_url(self) -> str:
        """Where a browser on this machine reaches the listener, without the trailing slash."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> None:
        """Bind (errors raise here, in the caller's thread), then serve in the background."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        sse.reopen_streams(self._app)
        self._server.prepare()
        self._thread = threading.Thread(
            target=self._server.serve, name=f"web:{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        sse.close_streams(self._app)  # streams end within sse.POLL_S
        self._server.stop()
        self._server.streams.join(timeout=2)
        self._thread.join(timeout=5)
        self._thread = None


class _DeferredHandshakeAdapter(BuiltinSSLAdapter):
    """Wraps the accepted socket without the handshake: _HeadGate drives it, never blocking."""

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        try:
            wrapped = self.context.wrap_socket(
                sock, do_handshake_on_connect=False, server_side=True
            )
        except OSError as exc:  # the peer went away between accept and wrap
            raise cheroot_errors.FatalSSLAlert(*exc.args) from exc
        return wrapped, {"wsgi.url_scheme": "https", "HTTPS": "on"}


class _Connection(cheroot_server.HTTPConnection):
    """A connection whose socket an event stream may take over (then close() leaves it)."""

    detached = False
    head_started: float | None = None  # when _HeadGate began waiting for this request's head
    handshaken = False
    head: bytearray | None = None

    def close(self) -> None:
        if not self.detached:
            super().close()


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI gateway, plus the hand-off of event streams to their own pool."""

    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]  # stub says None
        env: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        env[sse.POOL_KEY] = self.req.server.streams
        return env

    def respond(self) -> None:
        response = self.req.server.wsgi_app(self.env, self.start_response)
        stream = self.env.pop(sse.HANDOFF_KEY, None)
        if isinstance(stream, sse.EventStream):
            self._hand_off(response, stream)
            return
        try:
            for chunk in filter(None, response):
                if not isinstance(chunk, bytes):
                    raise ValueError("WSGI Applications must yield bytes")
                self.write(chunk)
        finally:
            self.req.ensure_headers_sent()
            if hasattr(response, "close"):
                response.close()

    def _hand_off(self, response: Any, stream: sse.EventStream) -> None:
        pool: sse.StreamPool = self.req.server.streams
        if hasattr(response, "close"):
            response.close()
        if not self.req.status.startswith(b"200"):  # an after_request hook changed it
            pool.release(stream)
            self.req.ensure_headers_sent()
            return
        self.req.outheaders = [
            (k, v) for k, v in self.req.outheaders if k.lower() != b"content-length"
        ]
        self.req.close_connection = True  # the stream's end is the connection's end
        try:
            self.req.ensure_headers_sent()  # chunked: the pool's thread writes the chunks
        except BaseException:
            pool.release(stream)
            raise
        chunked = bool(self.req.chunked_write)  # False for an HTTP/1.0 client
        self.req.chunked_write = False  # the pool writes the last chunk, not this worker
        conn = self.req.conn
        conn.detached = True
        pool.start(stream, conn.socket, chunked=chunked)


class _Server(wsgi.Server):
    """cheroot's server with the connection gate in front of the request workers."""

    ConnectionClass = _Connection
    streams: sse.StreamPool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = _Gateway

    def process_conn(self, conn: _Connection) -> None:
        """Called for each new connection and each readable kept-alive one: a worker gets it
        only with a complete request head; until then it waits in the selector."""
        try:
            verdict = _HeadGate.step(conn)
        except Exception:  # noqa: BLE001 - a broken client must never stop the select loop
            log.debug("connection dropped while reading its head", exc_info=True)
            verdict = _HeadGate.DROP
        if verdict == _HeadGate.READY:
            super().process_conn(conn)
        elif verdict == _HeadGate.WAIT:
            _HeadGate.wait(self, conn)
        else:
            conn.close()


class _HeadGate:
    """Reads a connection's TLS handshake and request head without blocking.

    `step` is called whenever the socket is readable (and once right after accept). What it
    reads is kept on the connection and put back into cheroot's read buffer when the head is
    complete, so cheroot parses the request as if it had read it itself.
    """

    READY, WAIT, DROP = "ready", "wait", "drop"

    @classmethod
    def step(cls, conn: _Connection) -> str:
        if conn.head is None and conn.rfile.has_data():
            return cls.READY  # pipelined: the next head is already buffered
        sock = conn.socket
        if conn.head_started is None:
            conn.head_started = time.time()
            conn.head = bytearray()
        assert conn.head is not None
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            if isinstance(sock, ssl.SSLSocket) and not conn.handshaken:
                try:
                    sock.do_handshake()
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    return cls.WAIT
                conn.handshaken = True
                conn.ssl_env = conn.server.ssl_adapter.get_environ(sock)
            while True:
                try:
                    data = sock.recv(_READ_STEP)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    break
                if not data:
                    return cls.DROP  # the client went away before finishing its request
                conn.head += data
            end = conn.head.find(b"\r\n\r\n")
            if end < 0:
                # No head is this long: a client sending one is not a browser of ours.
                return cls.DROP if len(conn.head) > MAX_HEAD_BYTES else cls.WAIT
            if len(conn.head) < end + 4 + _body_to_wait_for(conn.head[:end]):
                return cls.WAIT  # a small body is read here too: a slow one holds no worker
        except (ssl.SSLError, OSError):
            return cls.DROP
        finally:
            if sock.fileno() != -1:
                sock.settimeout(timeout)
        _refill(conn, bytes(conn.head))
        conn.head = None
        conn.head_started = None
        return cls.READY

    @staticmethod
    def wait(server: _Server, conn: _Connection) -> None:
        """Back into cheroot's selector until readable; its expiry closes the connection
        `timeout` seconds after the head began (last_used is not moved by a trickle)."""
        conn.last_used = conn.head_started
        manager: Any = getattr(server, "_connections")  # noqa: B009 - cheroot's own selector
        manager._selector.register(conn.socket.fileno(), _READ_EVENTS, data=conn)


_READ_EVENTS = 1  # selectors.EVENT_READ
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*(?=\r\n|$)", re.I)


def _body_to_wait_for(head: bytes | bytearray) -> int:
    """The body's length when it is small enough to wait for before a worker takes the request
    (every body the pages send); 0 for none, a chunked one or a larger one (the app refuses
    those by their Content-Length)."""
    found = _CONTENT_LENGTH.search(head)
    if found is None:
        return 0
    length = int(found.group(1))
    return length if length <= MAX_BODY_BUFFERED else 0


def _refill(conn: _Connection, head: bytes) -> None:
    """Put bytes read by the gate in front of cheroot's buffered reader."""
    reader = conn.rfile
    rest = reader._read_buf[reader._read_pos :]
    reader._read_buf = head + bytes(rest)
    reader._read_pos = 0
