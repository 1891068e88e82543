"""How a simulator running in the foreground (`onshi sim central`, `card`, `terminal`) is
stopped: Ctrl-C, or SIGTERM. SIGTERM too, because a process started in the background by a
shell without job control (a test suite, a script) has SIGINT ignored from its start."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """While the block runs, SIGTERM sets `stop`; the handler before it is put back after.
    Only the main thread may handle signals: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
