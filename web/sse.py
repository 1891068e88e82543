"""Server-sent events from the in-process bus to one browser page.

Each connection holds one server thread, so a stream ends after `max_duration_s` and the
browser's EventSource reconnects by itself; `retry:` tells it to do so within two seconds.
Disconnects are noticed on the next write, which a heartbeat comment forces every
`heartbeat_s`, and the subscription is then closed. When the server stops, `close_streams`
ends every open stream of that app within POLL_S, so no worker thread is left waiting.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, current_app

from device.events import Event, Subscription

Wire = tuple[str, dict[str, Any]]
RECONNECT_MS = 2000
POLL_S = 0.5  # how soon an open stream notices that the server is stopping
_CLOSING = "onshi_sse_closing"


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


def stream(
    subscription: Subscription,
    to_wire: Callable[[Event], Wire | None],
    initial: list[Wire],
    heartbeat_s: float = 15.0,
    max_duration_s: float = 300.0,
) -> Response:
    closing = closing_event(current_app)

    def generate() -> Iterator[str]:
        try:
            yield f"retry: {RECONNECT_MS}\n\n"
            for name, data in initial:
                yield encode(name, data)
            deadline = time.monotonic() + max_duration_s
            last_write = time.monotonic()
            while True:
                now = time.monotonic()
                if now >= deadline or closing.is_set():
                    return
                wait = min(deadline - now, max(0.0, last_write + heartbeat_s - now), POLL_S)
                event = subscription.get(timeout=wait) if wait > 0 else None
                if event is not None:
                    wire = to_wire(event)
                    if wire is not None:
                        last_write = time.monotonic()
                        yield encode(*wire)
                elif time.monotonic() - last_write >= heartbeat_s and not closing.is_set():
                    last_write = time.monotonic()
                    yield ": heartbeat\n\n"
        finally:
            subscription.close()

    response = Response(generate(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy must pass chunks at once
    # A response that is never iterated never runs the generator's finally: close here too.
    response.call_on_close(subscription.close)
    return response
