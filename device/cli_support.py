"""Process-level helpers shared by the commands: stop signals and the run loop with restarts."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

POLL_S = 0.2  # how soon a stop or restart request is noticed


class Running(Protocol):
    def stop(self) -> None: ...


def install_stop_signal() -> threading.Event:
    """An event set by SIGINT or SIGTERM.

    The handlers stay installed afterwards on purpose: Ctrl-C in a terminal reaches the whole
    process group, often twice (make, then us), and a second signal must not abort the orderly
    shutdown that follows — that would leave servers and child processes running.
    """
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = install_stop_signal()
    while not stop.wait(1.0):
        pass


def run_until_stopped(
    start: Callable[[threading.Event], Running],
    stop: threading.Event,
    *,
    poll_s: float = POLL_S,
) -> int:
    """Start, and rebuild whenever the restart event handed to `start` is set, until `stop`.

    `start(restart)` builds and starts everything (reading the settings afresh) and returns what
    to stop. A restart stops the old parts completely before the new ones bind their ports.
    Returns how many restarts happened.
    """
    restarts = 0
    while True:
        restart = threading.Event()
        running = start(restart)
        try:
            while not stop.is_set() and not restart.is_set():
                stop.wait(poll_s)
        finally:
            running.stop()
        if stop.is_set():
            return restarts
        restarts += 1
        log.info("restarting with the saved settings (restart %d)", restarts)
