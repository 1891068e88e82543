"""The store's one lock (sync/store/database.py takes it for every write and every read that
is not on a reader connection of its own)."""

from __future__ import annotations

import threading


class StoreLock:
    """The store's one lock (reentrant, used as `with database.lock:`), granted in the order it
    was asked for.

    A plain lock is not: a thread that releases it and asks again at once (a long job in short
    holds: a purge's batches, a count or a check a slice at a time, an audit group) takes it
    again before a waiting thread has woken up, so a card save could wait through many short
    holds. Here a thread asking for the lock first waits until every thread that asked before
    it has had it, so a save waits for the hold in progress and those queued ahead of it, never
    for a loop. A turn is awaited at most `TURN_WAIT_S` (after that the thread goes on as a
    plain lock would): a hold longer than that is long whatever the order."""

    TURN_WAIT_S = 1.0

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._counts = threading.Condition(threading.Lock())
        self._arrived = 0  # first acquisitions asked for (not re-entries)
        self._admitted = 0  # of those, granted or given up
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._counts:
            if self._owner == me:
                self._depth += 1
                return self._lock.acquire()  # a re-entry: held already, at once
            ahead = self._arrived
            self._arrived += 1
            self._counts.wait_for(lambda: self._admitted >= ahead, self.TURN_WAIT_S)
        try:
            self._lock.acquire()
        except BaseException:  # interrupted: those behind it must not wait for its turn
            with self._counts:
                self._admitted += 1
                self._counts.notify_all()
            raise
        with self._counts:
            self._admitted += 1
            self._owner = me
            self._depth = 1
            self._counts.notify_all()
        return True

    def release(self) -> None:
        with self._counts:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()

    def waiting(self) -> int:
        """Threads waiting for the lock now."""
        with self._counts:
            return self._arrived - self._admitted

    def held_here(self) -> bool:
        """Whether this thread holds the lock (at any depth)."""
        with self._counts:
            return self._owner == threading.get_ident()
