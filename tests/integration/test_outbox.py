"""The re-check queue on the real stack: numbers checks typed while the simulated central
(real mutual TLS) is stopped are queued in the real SQLite store; once it is back, a drain asks
each again through the one confirmation path and stores each answer exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.checks import CheckFailed, ManualChecks, NumbersInput
from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus
from device.outbox import Outbox
from sim.central.server import CentralServer
from sim.population import person
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

from .conftest import MEDICAL_INSTITUTION_CODE, central_client

PEOPLE = ("P025", "P008", "P001")


def as_typed(person_id: str) -> NumbersInput:
    p = person(person_id)
    return NumbersInput(p.insurer_number, p.symbol, p.number, "", p.birthdate)  # branch: answered


@pytest.fixture
def central(sim_pki: Any) -> Iterator[CentralServer]:
    """A simulated central of this test's own, which the test stops and starts again."""
    server = CentralServer(sim_pki)
    server.start()
    yield server
    server.stop()


def test_checks_made_while_the_central_is_down_are_answered_once_after_recovery(
    sim_pki: Any, central: CentralServer, tmp_path: Path
) -> None:
    keys = FieldKeys.generate()
    store = Store(tmp_path / "onshi.db", FieldCipher(keys))
    client = central_client(sim_pki, central.url, timeout_s=2.0, retries=0)
    bus = EventBus()
    confirmations = Confirmations(transport=client, store=store, bus=bus)
    outbox = Outbox(store=store, confirmations=confirmations, rate_per_s=50)
    checks = ManualChecks(
        medical_institution_code=MEDICAL_INSTITUTION_CODE,
        confirmations=confirmations,
        store=store,
        outbox=outbox,
    )
    try:
        charged = checks.check(as_typed("P025"), actor="uketsuke")  # answered before the outage
        central.stop()
        for person_id in PEOPLE:
            with pytest.raises(CheckFailed) as failed:
                checks.check(as_typed(person_id), actor="uketsuke")
            assert failed.value.reason == "central_unavailable" and failed.value.queued
        with pytest.raises(CheckFailed) as failed:
            checks.recheck(charged.id, actor="uketsuke")
        assert failed.value.queued
        assert store.count_confirmations() == 1
        down = outbox.drain()  # still down: one attempt, the round stops
        assert (down.asked, down.answered, down.stopped) == (1, 0, True)
        assert store.outbox_counts().queued == 4
    finally:
        client.close()
        store.close()

    # The central comes back (a new server: the stopped one's port may still be held), and the
    # appliance's parts are built again from the same database file: the queue was persisted.
    back = CentralServer(sim_pki)
    back.start()
    store = Store(tmp_path / "onshi.db", FieldCipher(keys))
    client = central_client(sim_pki, back.url, timeout_s=2.0, retries=0)
    events = bus.subscribe()
    confirmations = Confirmations(transport=client, store=store, bus=bus)
    outbox = Outbox(store=store, confirmations=confirmations, rate_per_s=50)
    try:
        first = outbox.drain()  # the item that failed above backs off; the other three go
        assert (first.asked, first.answered, first.stopped) == (3, 3, False)
        assert outbox.drain().asked == 0  # not due yet
        (waiting,) = [i for i in store.outbox_items() if i.state == "queued"]
        assert waiting.attempts == 1 and waiting.outcome == "central_unavailable"
        outbox_at_next = Outbox(
            store=store, confirmations=confirmations, clock=lambda: waiting.next_at
        )
        assert outbox_at_next.drain().answered == 1
        counts = store.outbox_counts()
        assert (counts.queued, counts.answered, counts.ended, counts.open_alerts) == (0, 4, 0, 0)
        assert store.count_confirmations() == 1 + 4
        items = store.outbox_items()
        answers = [store.confirmation(i.answer_id) for i in items if i.answer_id is not None]
        assert len({a.id for a in answers if a is not None}) == 4
        assert [a.badge for a in answers if a is not None] == ["VALID"] * 4
        names = sorted(a.result.results[0].name for a in answers if a is not None)
        assert names == sorted([person(p).name for p in PEOPLE] + [person("P025").name])
        stored_events = [e for e in events.drain() if isinstance(e, ConfirmationStored)]
        assert len(stored_events) == 4
        assert outbox_at_next.drain().asked == 0  # nothing is asked or stored again
        assert store.count_confirmations() == 5
        assert store.verify_audit() is None
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        back.stop()
        events.close()
        client.close()
        store.close()
