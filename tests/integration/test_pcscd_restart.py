"""The reader monitor survives pcscd going away and coming back, and the next card works."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reader.events import CardInserted, PcscDown, PcscUp, ReaderEvent
from reader.guard import GuardedConnection
from reader.jpki import JpkiSession
from reader.pcsc import PcscReaders, ReaderMonitor
from sim.card import VirtualCard

from ..conftest import Pcscd

pytestmark = pytest.mark.stack

READER = "Virtual PCD 00 01"


def test_monitor_recovers_after_pcscd_restarts(
    pcscd: Pcscd, sim_pki: Any, card_audit_path: Path, tmp_path: Path
) -> None:
    events: list[ReaderEvent] = []
    changed = threading.Condition()

    def on_event(event: ReaderEvent) -> None:
        with changed:
            events.append(event)
            changed.notify_all()

    def wait_for(kind: type, after: int, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        with changed:
            while True:
                for i in range(after, len(events)):
                    if isinstance(events[i], kind):
                        return i
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no {kind.__name__}; saw {events[after:]}"
                changed.wait(remaining)

    monitor = ReaderMonitor(on_event, reader_filter=READER)
    monitor.start()
    readers = PcscReaders()
    card = VirtualCard("P001", sim_pki, tmp_path, port=35964, audit_path=card_audit_path)
    try:
        up = wait_for(PcscUp, 0)
        pcscd.restart()
        down = wait_for(PcscDown, up + 1)
        wait_for(PcscUp, down + 1)
        card.insert()
        inserted = wait_for(CardInserted, down + 1)
        assert events[inserted].reader == READER  # type: ignore[union-attr]
        connection = readers.connect(READER)
        try:
            der = JpkiSession(GuardedConnection(connection)).read_auth_certificate()
        finally:
            connection.close()
        assert der == sim_pki.card_cert("P001").read_bytes()
    finally:
        card.remove()
        monitor.stop()
        readers.wait_until_empty(READER)
        readers.close()
