"""Under systemd the log lines go to the journal as <priority>name: message, without a time
(the journal keeps its own); on a terminal they keep time and level name."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from device.logsetup import JournalFormatter, configure_logging, syslog_priority, under_journal
from reader.traffic import TRAFFIC


def record(level: int, message: str, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("broken")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("device.flow", level, __file__, 1, message, None, exc_info)


def test_levels_become_syslog_priorities() -> None:
    levels = [logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
    assert [syslog_priority(level) for level in [*levels, TRAFFIC]] == [2, 3, 4, 6, 7, 7]


def test_every_line_of_a_record_carries_its_priority_and_no_time() -> None:
    text = JournalFormatter().format(record(logging.ERROR, "line one\nline two", exc=True))
    lines = text.splitlines()
    assert lines[0] == "<3>device.flow: line one" and lines[1] == "<3>line two"
    assert any("ValueError: broken" in line for line in lines)
    assert all(line.startswith("<3>") for line in lines)


def test_the_journal_is_recognised_by_its_device_and_inode(tmp_path: Path) -> None:
    with open(tmp_path / "stream", "w") as stream:
        stat = os.fstat(stream.fileno())
        assert under_journal(stream, {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"})
        assert not under_journal(stream, {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino + 1}"})
        assert not under_journal(stream, {"JOURNAL_STREAM": "garbage"})
        assert not under_journal(stream, {})
    assert not under_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"})  # no file behind it


def test_configure_logging_adds_one_handler_and_only_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    terminal = io.StringIO()
    handler = configure_logging(terminal, {})
    assert handler is not None and root.handlers == [handler]
    assert configure_logging(io.StringIO(), {}) is None  # as basicConfig: a second call adds none
    handler.handle(record(logging.WARNING, "reader unplugged"))
    assert " WARNING device.flow: reader unplugged" in terminal.getvalue()
    assert terminal.getvalue()[:4].isdigit()  # a terminal line starts with the time


def test_a_process_started_by_systemd_writes_journal_lines(tmp_path: Path) -> None:
    """As systemd starts `onshi run`: stderr is the journal stream and JOURNAL_STREAM says so."""
    script = (
        "import logging\n"
        "from device.logsetup import configure_logging\n"
        "configure_logging()\n"
        "logging.getLogger().setLevel(logging.INFO)\n"
        "logging.getLogger('device.outbox').warning('central down: %d queued', 3)\n"
        "logging.getLogger('device.appliance').info('started')\n"
    )
    with open(tmp_path / "journal", "w+") as journal:
        stat = os.fstat(journal.fileno())
        environ = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        subprocess.run([sys.executable, "-c", script], stderr=journal, env=environ, check=True)
    assert (tmp_path / "journal").read_text().splitlines() == [
        "<4>device.outbox: central down: 3 queued",
        "<6>device.appliance: started",
    ]
