"""A simulator in the foreground stops on SIGTERM as on Ctrl-C (sim/stopsignal.py), and puts
back the handler it found."""

from __future__ import annotations

import os
import signal
import threading

from sim.stopsignal import stop_on_sigterm


def test_sigterm_sets_the_stop_event_while_the_block_runs() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    with stop_on_sigterm(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(10)  # a bound only so a bug hangs no test run
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_nothing_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def run() -> None:
        with stop_on_sigterm(threading.Event()):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]
