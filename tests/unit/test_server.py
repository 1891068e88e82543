"""web/server.py's connection gate with real sockets: what ordinary clients do still works
(kept-alive connections, bodies, heads that arrive in pieces, HTTP/1.0 streams), and what hostile
ones do is cut off. tests/drills/test_event_streams.py measures the same under load."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, Response, request

from device.events import EventBus, VisitStateChanged
from device.tls import staff_certificate
from web import sse
from web.server import WebServer

from .test_web import make_config


def _app(bus: EventBus) -> Flask:
    app = Flask("probe")

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    @app.post("/echo")
    def echo() -> Response:
        return Response(str(len(request.get_data())), mimetype="text/plain")

    @app.get("/events")
    def events() -> Response:
        return sse.stream(bus.subscribe(), lambda e: ("changed", {"v": 1}), [("hi", {})])

    return app


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture(params=["http", "https"])
def server(request: pytest.FixtureRequest, tmp_path: Path, bus: EventBus) -> Iterator[WebServer]:
    tls: dict[str, Path] = {}
    if request.param == "https":
        certificate, private_key = staff_certificate(make_config(tmp_path))
        tls = {"certificate": certificate, "private_key": private_key}
    web = WebServer(_app(bus), "127.0.0.1", 0, 4, timeout_s=1.0, max_streams=2, **tls)
    web.start()
    try:
        yield web
    finally:
        web.stop()


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # our own listener on loopback
    return context


def _connect(server: WebServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return _context().wrap_socket(sock) if server.tls else sock


def _http(server: WebServer) -> http.client.HTTPConnection:
    if server.tls:
        return http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=_context())
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)


def _read_until(response: http.client.HTTPResponse, marker: bytes) -> None:
    seen = b""
    while marker not in seen:
        chunk = response.read1(4096)
        assert chunk, f"stream ended before {marker!r}"
        seen += chunk


def test_kept_alive_connection_and_a_body(server: WebServer) -> None:
    conn = _http(server)
    try:
        for _ in range(3):  # one connection, three requests
            conn.request("GET", "/hello")
            response = conn.getresponse()
            assert response.read() == b"hello"
        body = b"x" * 40_000
        conn.request("POST", "/echo", body=body, headers={"Content-Type": "text/plain"})
        assert conn.getresponse().read() == b"40000"
    finally:
        conn.close()


def test_a_head_in_pieces_within_the_deadline_is_answered(server: WebServer) -> None:
    sock = _connect(server)
    try:
        for piece in (b"GET /hel", b"lo HTTP/1.1\r\nHost: x\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(0.1)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
    finally:
        sock.close()


def test_a_head_that_never_ends_is_closed_at_the_deadline(server: WebServer) -> None:
    sock = _connect(server)
    try:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        sock.settimeout(10)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionError, ssl.SSLError):
            pass
        assert time.monotonic() - started < 5  # 1 s deadline, checked every 0.5 s
    finally:
        sock.close()


def test_streams_past_the_cap_are_refused_with_retry_after(
    server: WebServer, bus: EventBus
) -> None:
    open_streams = []
    try:
        for _ in range(2):
            conn = _http(server)
            conn.request("GET", "/events")
            response = conn.getresponse()
            assert response.status == 200
            _read_until(response, b"event: hi")
            open_streams.append((conn, response))
        third = _http(server)
        third.request("GET", "/events")
        refused = third.getresponse()
        assert refused.status == 503
        assert refused.getheader("Retry-After") == str(sse.RETRY_AFTER_S)
        assert "自動的に再接続" in json.loads(refused.read())["message"]
        third.close()
        assert server.streams.refused == 1
        bus.publish(VisitStateChanged("v", "reading"))
        for _conn, response in open_streams:
            _read_until(response, b"event: changed")
    finally:
        for conn, response in open_streams:
            response.close()  # the socket stays open while the response holds it
            conn.close()
    deadline = time.monotonic() + 5
    while server.streams.open and time.monotonic() < deadline:
        bus.publish(VisitStateChanged("v", "ping"))  # a write notices the client left
        time.sleep(0.05)
    assert server.streams.open == 0


def test_an_http10_stream_is_not_chunked(server: WebServer) -> None:
    sock = _connect(server)
    try:
        sock.sendall(b"GET /events HTTP/1.0\r\nHost: x\r\n\r\n")
        seen = b""
        while b"event: hi" not in seen:
            seen += sock.recv(4096)
        head, _, body = seen.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head.lower()
        assert body.startswith(b"retry: ")
    finally:
        sock.close()


def test_an_endless_head_is_cut_off_at_once(bus: EventBus) -> None:
    # A 30 s deadline: only the size limit can close it within the client's 5 s.
    server = WebServer(_app(bus), "127.0.0.1", 0, 4, timeout_s=30.0)
    server.start()
    sock = _connect(server)
    try:
        with pytest.raises(ConnectionError):
            for _ in range(100):  # 100 × 4 KiB without an end of head
                sock.sendall(b"X-Padding: " + b"a" * 4083 + b"\r\n")
            sock.settimeout(5)
            if not sock.recv(4096):
                raise ConnectionResetError("closed by the server")
    finally:
        sock.close()
        server.stop()


@pytest.mark.parametrize("tls", [False, True])
def test_slow_bodies_hold_no_worker(tmp_path: Path, bus: EventBus, tls: bool) -> None:
    """Eight bodies that never finish, four workers, a 30 s deadline: ordinary requests still
    answer within the client's 5 s."""
    keys: dict[str, Path] = {}
    if tls:
        certificate, private_key = staff_certificate(make_config(tmp_path))
        keys = {"certificate": certificate, "private_key": private_key}
    server = WebServer(_app(bus), "127.0.0.1", 0, 4, timeout_s=30.0, **keys)
    server.start()
    slow = []
    try:
        for _ in range(8):
            sock = _connect(server)
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 1000\r\n\r\nonly a part"
            )
            slow.append(sock)
        time.sleep(0.2)
        conn = _http(server)
        conn.request("GET", "/hello")
        assert conn.getresponse().read() == b"hello"
        conn.close()
    finally:
        for sock in slow:
            sock.close()
        server.stop()
