"""Process-level helpers shared by the commands."""

from __future__ import annotations

import signal
import threading


def wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM.

    The handlers stay installed afterwards on purpose: Ctrl-C in a terminal reaches the whole
    process group, often twice (make, then us), and a second signal must not abort the orderly
    shutdown that follows — that would leave servers and child processes running.
    """
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
