"""The store's one lock (sync/store/lock.py StoreLock): granted in the order it was asked
for, so a loop of short holds (a purge's batches, a count a chunk at a time) never keeps a
card save waiting for more than the hold in progress."""

from __future__ import annotations

import threading

from sync.store.lock import StoreLock

from .test_audit_group import until


def test_a_thread_asking_again_at_once_waits_for_the_one_that_asked_meanwhile() -> None:
    lock = StoreLock()
    order: list[str] = []

    def save() -> None:
        with lock:
            order.append("save")

    saver = threading.Thread(target=save)
    for n in range(5):  # a job in short holds, asking again as soon as it let go
        with lock:
            order.append(f"batch {n}")
            if n == 0:
                saver.start()
                until(lambda: lock.waiting() == 1)
    saver.join()
    assert order == ["batch 0", "save", "batch 1", "batch 2", "batch 3", "batch 4"]


def test_threads_get_the_lock_in_the_order_they_asked() -> None:
    lock = StoreLock()
    order: list[int] = []

    def take(n: int) -> None:
        with lock:
            order.append(n)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
    with lock:
        for n, thread in enumerate(threads, start=1):
            thread.start()
            until(lambda n=n: lock.waiting() == n)  # type: ignore[misc]
    for thread in threads:
        thread.join()
    assert order == list(range(6))
    assert lock.waiting() == 0


def test_the_holder_takes_it_again_at_once_whoever_waits() -> None:
    lock = StoreLock()
    lock.TURN_WAIT_S = 3600.0  # a nested write that waited for a turn would never finish
    nested = threading.Event()

    def holder() -> None:
        with lock:
            other = threading.Thread(target=lambda: lock.acquire() and lock.release())
            other.start()
            until(lambda: lock.waiting() == 1)
            with lock:  # a nested write: no turn to wait for, it is held here
                nested.set()
            assert lock.waiting() == 1  # the other thread still waits for the outer hold
        other.join()

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    thread.join(30)  # a bound only so a bug hangs no test run
    assert nested.is_set()
    assert lock.waiting() == 0 and not lock.held_here()
