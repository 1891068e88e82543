"""device/flow.py's handling of reader events: a removed card ends the visit whatever it is
doing, the next card is never turned away while the previous visit winds down, and pcscd going
away is told apart from a card taken away."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from device.confirm import Confirmations
from device.events import EventBus, VisitAborted, VisitStarted
from device.flow import ActiveVisit, EndReason, VisitFlow
from device.inputs import VisitInputs
from reader.connection import CardConnection
from reader.errors import CardRemoved
from reader.events import CardInserted, CardRemovedEvent, PcscDown, ReaderEvent, RemovalCause
from reader.pcsc import ReaderMonitor
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from web.present import reason_text

NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
READER = "Virtual PCD 00 00"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    yield s
    s.close()


class HeldCards:
    """connect() that holds each card until released, then finds it gone."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(self, reader: str) -> CardConnection:
        self.calls.append(reader)
        self.entered.set()
        self.release.wait(10)
        raise CardRemoved()


def flow_with(store: Store, bus: EventBus, connect: HeldCards) -> VisitFlow:
    return VisitFlow(
        medical_institution_code="1312345670",
        connect=connect,
        # never reached: every card is gone
        confirmations=Confirmations(transport=cast(CentralClient, object()), store=store, bus=bus),
        store=store,
        bus=bus,
        inputs=VisitInputs(),
        clock=lambda: NOW,
    )


def test_the_next_card_starts_a_visit_as_soon_as_the_ending_one_has_ended(store: Store) -> None:
    bus = EventBus()
    events = bus.subscribe()
    cards = HeldCards()
    flow = flow_with(store, bus, cards)
    flow.handle(CardInserted(READER, b""))
    assert cards.entered.wait(5)
    flow.handle(CardInserted(READER, b""))  # the running visit's own card: nothing new
    flow.handle(CardRemovedEvent(READER))
    flow.handle(CardInserted(READER, b""))  # the next card, while the first visit winds down
    cards.release.set()
    assert flow.wait_idle(10)
    seen = list(events.drain())
    started = [e.visit_id for e in seen if isinstance(e, VisitStarted)]
    aborted = [(e.visit_id, e.reason) for e in seen if isinstance(e, VisitAborted)]
    assert len(started) == 2 and started[0] != started[1]
    assert aborted == [(started[0], "card_removed"), (started[1], "card_removed")]
    assert cards.calls == [READER, READER]


def visit() -> ActiveVisit:
    return ActiveVisit(id="v1", reader=READER, started_at=NOW)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (CardRemovedEvent(READER), EndReason.CARD_REMOVED),
        (CardRemovedEvent(READER, RemovalCause.SERVICE_LOST), EndReason.READER_RESTARTED),
    ],
)
def test_why_the_card_went_is_the_visits_reason(
    store: Store, event: ReaderEvent, reason: EndReason
) -> None:
    flow = flow_with(store, EventBus(), HeldCards())
    running = visit()
    flow._current = running  # a visit in any state: only the event matters here
    flow.handle(event)
    assert running.cancelled.is_set() and running.end_reason == reason


def test_the_first_reason_to_end_a_visit_is_the_one_kept() -> None:
    running = visit()
    running.cancel(EndReason.READER_RESTARTED)
    running.cancel(EndReason.CARD_REMOVED)
    assert running.end_reason == EndReason.READER_RESTARTED


def test_the_monitor_says_pcscd_went_away_rather_than_the_card() -> None:
    seen: list[ReaderEvent] = []
    monitor = ReaderMonitor(seen.append, reader_filter=READER)
    monitor._cards = {READER: (True, 1), "other": (False, 0)}
    monitor._lose_all("80100013 RPC transport error.")
    assert seen == [CardRemovedEvent(READER, RemovalCause.SERVICE_LOST), PcscDown(seen[-1].reason)]  # type: ignore[union-attr]


@pytest.mark.parametrize("reason", list(EndReason))
def test_every_end_reason_has_words_for_staff_and_the_patient(reason: EndReason) -> None:
    for lang in ("ja", "en"):
        desk = reason_text(reason, lang)
        kiosk = reason_text(reason, lang, kiosk=True)
        assert desk != reason.value and kiosk != reason.value
        assert "。" in desk if lang == "ja" else "." in desk  # a next step follows the fact


def test_staff_and_patient_are_told_different_things_about_a_certificate_problem() -> None:
    desk = reason_text(EndReason.CENTRAL_UNTRUSTED, "en")
    kiosk = reason_text(EndReason.CENTRAL_UNTRUSTED, "en", kiosk=True)
    assert "administrator" in desk and "will not help" in desk
    assert "reception" in kiosk and "central_ca" not in kiosk
    assert "shortly" not in desk  # not "try again shortly"
    assert "refused" not in reason_text(EndReason.CENTRAL_UNREADABLE, "en")
    assert "removed" not in reason_text(EndReason.READER_RESTARTED, "en")
