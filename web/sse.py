"""Server-sent events from the in-process bus to one browser page.

A stream must never hold one of the web server's request workers: fifty desk screens would
otherwise leave no thread for the pages themselves. Served by web.server, a stream is handed
off after its headers to a `StreamPool` of its own — a bounded set of stream threads apart
from the request workers — and the worker goes back to normal requests at once. Past the
pool's cap a new stream is refused with 503 and Retry-After (reception.js tries again later),
so a flood of screens costs a refusal, never the staff pages. Without web.server (Flask's test
client, another WSGI server) the same stream is an ordinary generator body.

A stream ends after `max_duration_s` and the browser's EventSource reconnects by itself;
`retry:` tells it to do so within two seconds. Disconnects are noticed on the next write, which
a heartbeat comment forces every `heartbeat_s`; a client that stops reading is dropped when a
write has waited the server's timeout. When the server stops, `close_streams` ends every open
stream of that app within POLL_S.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, current_app, request

from device.events import Event, Subscription

log = logging.getLogger(__name__)

Wire = tuple[str, dict[str, Any]]
RECONNECT_MS = 2000
POLL_S = 0.5  # how soon an open stream notices that the server is stopping
RETRY_AFTER_S = 10  # a refused stream: when the page should try again
_CLOSING = "onshi_sse_closing"
POOL_KEY = "onshi.event_streams"  # environ: the StreamPool of the server serving the request
HANDOFF_KEY = "onshi.event_stream"  # environ: the EventStream the server is to hand off


def closing_event(app: Flask) -> threading.Event:
    """Set when the app's server stops; open streams then end."""
    event = app.extensions.get(_CLOSING)
    if not isinstance(event, threading.Event):
        event = threading.Event()
        app.extensions[_CLOSING] = event
    return event


def close_streams(app: Flask) -> None:
    closing_event(app).set()


def reopen_streams(app: Flask) -> None:
    closing_event(app).clear()


def encode(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class EventStream:
    """One page's stream: what to send, independent of who writes it to the client."""

    def __init__(
        self,
        subscription: Subscription,
        to_wire: Callable[[Event], Wire | None],
        initial: list[Wire],
        closing: threading.Event,
        heartbeat_s: float,
        max_duration_s: float,
    ) -> None:
        self._subscription = subscription
        self._to_wire = to_wire
        self._initial = initial
        self._closing = closing
        self._heartbeat_s = heartbeat_s
        self._max_duration_s = max_duration_s

    def chunks(self) -> Iterator[str]:
        try:
            yield f"retry: {RECONNECT_MS}\n\n"
            for name, data in self._initial:
                yield encode(name, data)
            deadline = time.monotonic() + self._max_duration_s
            last_write = time.monotonic()
            heartbeat_s = self._heartbeat_s
            while True:
                now = time.monotonic()
                if now >= deadline or self._closing.is_set():
                    return
                wait = min(deadline - now, max(0.0, last_write + heartbeat_s - now), POLL_S)
                event = self._subscription.get(timeout=wait) if wait > 0 else None
                if event is not None:
                    wire = self._to_wire(event)
                    if wire is not None:
                        last_write = time.monotonic()
                        yield encode(*wire)
                elif time.monotonic() - last_write >= heartbeat_s and not self._closing.is_set():
                    last_write = time.monotonic()
                    yield ": heartbeat\n\n"
        finally:
            self.close()

    def close(self) -> None:
        self._subscription.close()


class StreamPool:
    """At most `limit` open streams, each on a thread of this pool, never a request worker.

    `admit` reserves a place (False when full); the server then calls `start` with the
    socket once the response headers are written, or `release` when it does not get there.
    `write_timeout_s` bounds how long one write may wait for a client that stopped reading.
    """

    def __init__(self, limit: int, write_timeout_s: float, name: str = "sse") -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._write_timeout_s = write_timeout_s
        self._name = name
        self._lock = threading.Lock()
        self._reserved = 0
        self._threads: set[threading.Thread] = set()
        self.refused = 0  # streams turned away since start, for the status page and drills

    @property
    def open(self) -> int:
        with self._lock:
            return self._reserved

    def admit(self) -> bool:
        with self._lock:
            if self._reserved >= self.limit:
                self.refused += 1
                return False
            self._reserved += 1
            return True

    def release(self, stream: EventStream | None = None) -> None:
        if stream is not None:
            stream.close()
        with self._lock:
            self._reserved = max(0, self._reserved - 1)

    def start(self, stream: EventStream, sock: socket.socket, *, chunked: bool = True) -> None:
        """Write the stream to `sock` (headers already sent) on a thread of the pool."""
        thread = threading.Thread(
            target=self._serve,
            args=(stream, sock, chunked),
            name=f"{self._name}-stream",
            daemon=True,
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _serve(self, stream: EventStream, sock: socket.socket, chunked: bool) -> None:
        try:
            sock.settimeout(self._write_timeout_s)
            for chunk in stream.chunks():
                data = chunk.encode("utf-8")
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:  # the page left, or stopped reading: the stream ends
            log.debug("event stream ended: %s", type(exc).__name__)
        finally:
            stream.close()
            _close_socket(sock)
            with self._lock:
                self._reserved = max(0, self._reserved - 1)
                self._threads.discard(threading.current_thread())

    def join(self, timeout: float) -> None:
        """Wait for the stream threads (after close_streams) up to `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _close_socket(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already gone
    try:
        sock.close()
    except OSError:
        pass


def stream(
    subscription: Subscription,
    to_wire: Callable[[Event], Wire | None],
    initial: list[Wire],
    heartbeat_s: float = 15.0,
    max_duration_s: float = 300.0,
) -> Response:
    events = EventStream(
        subscription,
        to_wire,
        initial,
        closing_event(current_app),
        heartbeat_s,
        max_duration_s,
    )
    pool = request.environ.get(POOL_KEY)
    if isinstance(pool, StreamPool):
        if not pool.admit():
            events.close()
            return refused()
        # web.server writes the headers and hands the socket to the pool; the body stays empty.
        request.environ[HANDOFF_KEY] = events
        response = Response(status=200, mimetype="text/event-stream")
    else:
        response = Response(events.chunks(), mimetype="text/event-stream")
        # A response that is never iterated never runs the generator's finally: close here too.
        response.call_on_close(events.close)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy must pass chunks at once
    return response


def refused() -> Response:
    """Too many open streams: the page is told in words and when to try again."""
    body = {
        "ok": False,
        "error": 503,
        "message": (
            "画面の同時接続が上限に達しています。自動的に再接続します / "
            "Too many screens are connected; this one will reconnect by itself"
        ),
    }
    response = Response(
        json.dumps(body, ensure_ascii=False), status=503, mimetype="application/json"
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    response.headers["Cache-Control"] = "no-store"
    return response
