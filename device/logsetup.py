"""Where log lines go and how they look: a terminal gets times and level names; the journal
(stderr connected to journald, which systemd says with JOURNAL_STREAM=<device>:<inode>) gets
each line with its syslog priority as a <N> prefix and no time, since the journal stamps its
own, so `journalctl -p warning -u onshi` finds the warnings."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"


def syslog_priority(level: int) -> int:
    """sd-daemon(3) priorities: 2 crit, 3 err, 4 warning, 6 info, 7 debug (TRAFFIC too)."""
    if level >= logging.CRITICAL:
        return 2
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    if level >= logging.INFO:
        return 6
    return 7


class JournalFormatter(logging.Formatter):
    """Every line of a record (a traceback's too) carries the record's priority, since journald
    makes one entry per line."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def under_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journal stream systemd connected (JOURNAL_STREAM names its
    device and inode; a stream redirected elsewhere by a child keeps the variable, not the file)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


def configure_logging(
    stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> logging.Handler | None:
    """One handler on the root logger, unless there is one already (as logging.basicConfig)."""
    root = logging.getLogger()
    if root.handlers:
        return None
    out = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(out)
    journal = under_journal(out, environ)
    handler.setFormatter(JournalFormatter() if journal else logging.Formatter(TERMINAL_FORMAT))
    root.addHandler(handler)
    return handler
