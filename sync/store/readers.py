"""A read-only connection per thread that reads, beside the one writer connection
(sync/store/database.py): in WAL a reader sees the last commit and never waits for the
writer's lock or its fsync."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils


class _Reader:
    """One thread's read-only connection; closed when its thread ends (the thread-local slot
    holding it goes) or when the database closes, whichever comes first."""

    def __init__(self, path: Path) -> None:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA query_only=ON")  # exactly one writer: this one cannot write
        conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
        self.db = sqlite_utils.Database(conn)
        self.depth = 0
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.db.close()

    def __del__(self) -> None:
        self.close()


READER_CACHE_KIB = 512  # per thread; the pages are in the OS's cache anyway


class Readers:
    """A read-only connection per thread that reads (the request workers, the jobs), opened
    on first use. A thread's connection goes with the thread; all go when the database closes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._lock = threading.RLock()
        self._open: dict[int, _Reader] = {}  # id → reader, for close(); weak by thread end
        self._closed = False

    def _mine(self) -> _Reader:
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None or reader.closed:
            with self._lock:
                if self._closed:
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
                reader = _Reader(self._path)
                self._open[id(reader)] = reader
            self._local.reader = reader
            weak = _ForgetAtThreadEnd(self._open, self._lock, id(reader))
            self._local.finalizer = weak  # runs when the thread's slot is dropped
        return reader

    @contextmanager
    def transaction(self) -> Iterator[None]:
        reader = self._mine()
        reader.depth += 1
        try:
            if reader.depth == 1:
                reader.db.execute("BEGIN")
            yield
        finally:
            reader.depth -= 1
            if reader.depth == 0 and not reader.closed:
                reader.db.execute("COMMIT")  # a read transaction: ends the snapshot

    def active(self) -> bool:
        reader: _Reader | None = getattr(self._local, "reader", None)
        return reader is not None and reader.depth > 0

    def current(self) -> sqlite_utils.Database:
        reader: _Reader = self._local.reader
        return reader.db

    def count(self) -> int:
        """Open read connections (one per thread that has read and is still alive)."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            readers = list(self._open.values())
            self._open.clear()
        for reader in readers:
            reader.close()


class _ForgetAtThreadEnd:
    """Held in a thread's slot beside its reader: when the thread ends, the slot goes and this
    closes the reader and drops it from the open list."""

    def __init__(self, open_readers: dict[int, _Reader], lock: threading.RLock, key: int) -> None:
        self._open = open_readers
        self._lock = lock
        self._key = key

    def __del__(self) -> None:
        with self._lock:
            reader = self._open.pop(self._key, None)
        if reader is not None:
            reader.close()
