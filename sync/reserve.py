"""A few megabytes of disk held back for the moment the disk fills.

The reserve is a preallocated file beside the database. When free space runs low (or SQLite
reports the disk full) the store deletes it, so the answer being saved — and the next ones, for
a while — still fit, and the status page turns red while an admin frees space. When the space is
back the file is made again.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RESERVE_NAME = "disk-reserve"
LOW_FREE_BYTES = 1024 * 1024  # below this a transaction may not fit: use the reserve first
REMAKE_INTERVAL_S = 60.0  # how often a released reserve tries to come back


def free_bytes(path: Path) -> int:
    """Free space for this (unprivileged) process on the filesystem holding `path`."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class DiskState:
    free_bytes: int  # -1 when it cannot be read
    reserve_bytes: int  # the configured size (0 = no reserve)
    reserve_held: bool  # the file is there, at full size
    released_at: float | None  # time.time() when it was last given up, None while held


class DiskReserve:
    def __init__(
        self,
        directory: Path,
        size_bytes: int,
        *,
        free: Callable[[Path], int] = free_bytes,
        remake_interval_s: float | None = None,
    ) -> None:
        self.path = directory / RESERVE_NAME
        self.size_bytes = size_bytes
        self._directory = directory
        self._free = free
        self._remake_interval_s = (
            REMAKE_INTERVAL_S if remake_interval_s is None else remake_interval_s
        )
        self._lock = threading.Lock()
        self._released_at: float | None = None
        self._last_try = -float("inf")
        if size_bytes <= 0:
            self.path.unlink(missing_ok=True)
        elif not self._make():
            self._released_at = time.time()
            log.error(
                "disk reserve of %d KiB could not be made in %s: the disk is (nearly) full",
                size_bytes // 1024,
                directory,
            )

    @property
    def held(self) -> bool:
        return self.size_bytes > 0 and self._released_at is None

    def free_bytes(self) -> int:
        try:
            return self._free(self._directory)
        except OSError:
            return -1

    def state(self) -> DiskState:
        return DiskState(self.free_bytes(), self.size_bytes, self.held, self._released_at)

    def before_write(self) -> None:
        """Called before each transaction: give the reserve up when space is nearly gone, make
        it again (at most once a REMAKE_INTERVAL_S) once there is room for it and a margin."""
        if self.size_bytes <= 0:
            return
        free = self.free_bytes()
        if self.held:
            if 0 <= free < LOW_FREE_BYTES:
                self.release(f"free space is down to {free} bytes")
            return
        now = time.monotonic()
        if now - self._last_try < self._remake_interval_s:
            return
        self._last_try = now
        if free >= self.size_bytes + LOW_FREE_BYTES and self._make():
            with self._lock:
                self._released_at = None
            log.warning(
                "disk space is back: the %d KiB reserve is made again", self.size_bytes // 1024
            )

    def release(self, why: str) -> bool:
        """Delete the reserve (True when there was one to give up)."""
        with self._lock:
            if not self.held:
                return False
            self._released_at = time.time()
            self._last_try = time.monotonic()
        self.path.unlink(missing_ok=True)
        log.error(
            "disk nearly full (%s): the %d KiB reserve was released so answers can still be "
            "saved; free space in %s now",
            why,
            self.size_bytes // 1024,
            self._directory,
        )
        return True

    def _make(self) -> bool:
        """The file at full size, its blocks really allocated; False when there is no room."""
        try:
            if self.path.exists() and self.path.stat().st_size >= self.size_bytes:
                return True
            partial = self.path.with_suffix(".tmp")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size_bytes)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(partial, self.path)
            return True
        except OSError as exc:
            self.path.with_suffix(".tmp").unlink(missing_ok=True)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.warning("disk reserve %s: %s", self.path, exc)
            return False
