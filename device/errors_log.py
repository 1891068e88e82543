"""The last WARNING-or-worse log records, kept in memory for the admin's status page.

Installed once by the CLI on the root logger. Only what a record says is kept (time, logger,
level, message, the exception's type): by the logging rules messages never carry PINs, names or
insurance numbers, and tracebacks stay in the journal where they belong.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_CAPACITY = 50
MAX_MESSAGE_CHARS = 500  # one runaway message must not fill the page


@dataclass(frozen=True)
class ErrorRecord:
    at: datetime  # aware, UTC
    logger: str
    level: str
    message: str


class RecentErrors(logging.Handler):
    """A bounded ring of records; the oldest fall out."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._records: deque[ErrorRecord] = deque(maxlen=capacity)
        self._ring_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string must not break logging
            message = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            message = f"{message} ({record.exc_info[0].__name__})"
        entry = ErrorRecord(
            datetime.fromtimestamp(record.created, UTC),
            record.name,
            record.levelname,
            message[:MAX_MESSAGE_CHARS],
        )
        with self._ring_lock:
            self._records.append(entry)

    def records(self) -> list[ErrorRecord]:
        """Newest first."""
        with self._ring_lock:
            return list(reversed(self._records))

    def install(self, logger: logging.Logger | None = None) -> RecentErrors:
        """Attach to `logger` (the root logger by default) once; returns self."""
        target = logger if logger is not None else logging.getLogger()
        if self not in target.handlers:
            target.addHandler(self)
        return self

    def uninstall(self, logger: logging.Logger | None = None) -> None:
        (logger if logger is not None else logging.getLogger()).removeHandler(self)
