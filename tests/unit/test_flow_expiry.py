"""A card visit and its certificate's expiry (device/cardexpiry.py, device/flow.py): read before
the PIN; a notice near expiry, no consent within grace, no PIN after it. Also the kiosk's "done"
only for a valid answer, and a card left on the reader after its visit.

The emulated JPKI card (sim/card.py) answers in process, with certificates from the test PKI
built at a fixed instant; the visit's clock is set beside it (no test depends on today)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from device.confirm import Confirmations
from device.events import (
    CardExpiring,
    CardGraceOver,
    CardInGrace,
    CardLeftOnReader,
    Event,
    EventBus,
    PinRequested,
    VisitAnswered,
    VisitFailed,
)
from device.flow import VisitFlow, VisitState
from device.reasons import EndReason
from reader.connection import CardConnection
from reader.events import CardInserted, CardRemovedEvent
from sim.card import VirtualCard
from sim.pki import PkiPaths
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import QualificationTransport
from web.kiosk import kiosk_wire

from .test_offline_visit import CODE, CONSENT, PIN, _CardConnection, _Central, _People

# The test PKI as built on this day: P049's certificate lapses 45 days later (2026-02-24),
# P050's lapsed 20 days before (2025-12-21, grace until 2026-03-31), P019's a year before.
BUILT = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


class Alarms:
    """Alarms that ring when the test says."""

    def __init__(self) -> None:
        self.set: list[tuple[float, Callable[[], None], list[bool]]] = []

    def __call__(self, seconds: float, ring: Callable[[], None]) -> Any:
        cancelled = [False]
        self.set.append((seconds, ring, cancelled))

        class Handle:
            def cancel(self) -> None:
                cancelled[0] = True

        return Handle()

    def ring_all(self) -> None:
        for _s, ring, cancelled in self.set:
            if not cancelled[0]:
                ring()


class Box:
    def __init__(self, tmp_path: Path, pki: PkiPaths, now: datetime) -> None:
        self.store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
        self.central = _Central()
        self.bus = EventBus()
        self.events = self.bus.subscribe()
        self.people = _People()
        self.now = now
        self.alarms = Alarms()
        self.pki = pki
        self.tmp = tmp_path
        self.card: VirtualCard | None = None
        self.flow = VisitFlow(
            medical_institution_code=CODE,
            connect=lambda reader: cast(CardConnection, _CardConnection(self._card())),
            confirmations=Confirmations(
                transport=cast(QualificationTransport, self.central), store=self.store, bus=self.bus
            ),
            store=self.store,
            bus=self.bus,
            inputs=self.people,
            consent_kinds=CONSENT,
            clock=lambda: self.now,
            card_left_alert_s=12.0,
            alarm=self.alarms,
        )

    def _card(self) -> VirtualCard:
        assert self.card is not None
        return self.card

    def visit(self, person_id: str) -> tuple[Any, list[Event]]:
        self.card = VirtualCard(person_id, self.pki, state_dir=self.tmp / person_id, pin=PIN)
        list(self.events.drain())
        self.people.steps.clear()
        outcome = self.flow.run_visit("reader")
        return outcome, list(self.events.drain())


@pytest.fixture
def box(tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]) -> Iterator[Box]:
    made = Box(tmp_path, pki_at(BUILT), BUILT)
    yield made
    made.events.close()
    made.store.close()


def _jst(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=JST)


def test_a_card_near_expiry_is_told_to_renew_before_the_pin_and_the_visit_goes_on(
    box: Box,
) -> None:
    outcome, events = box.visit("P049")
    assert outcome.state is VisitState.DONE
    notices = [e for e in events if isinstance(e, CardExpiring)]
    assert [n.expires_on.isoformat() for n in notices] == ["2026-02-24"]
    first_pin = next(i for i, e in enumerate(events) if isinstance(e, PinRequested))
    assert events.index(notices[0]) < first_pin  # read before anything is asked
    assert box.people.steps == ["pin", "consent"]
    assert [c.agreed for c in box.central.requests[0].consents] == [True, True]


def test_an_ordinary_card_says_nothing_of_expiry(box: Box) -> None:
    _outcome, events = box.visit("P001")
    assert not [e for e in events if isinstance(e, CardExpiring | CardInGrace | CardGraceOver)]


@pytest.mark.parametrize("now", [BUILT, _jst(2026, 3, 31, 23, 59)])
def test_within_grace_qualification_is_asked_without_consent(box: Box, now: datetime) -> None:
    box.now = now
    outcome, events = box.visit("P050")
    assert outcome.state is VisitState.DONE
    grace = [e for e in events if isinstance(e, CardInGrace)]
    assert len(grace) == 1
    assert grace[0].expired_on.isoformat() == "2025-12-21"
    assert grace[0].grace_until.isoformat() == "2026-03-31"
    assert box.people.steps == ["pin"]  # no consent screen
    assert box.central.requests[0].consents == ()  # the request records no consent
    assert outcome.confirmation is not None
    assert box.store.consents(outcome.confirmation.id) == []
    assert [e.verdict for e in events if isinstance(e, VisitAnswered)] == ["VALID"]


@pytest.mark.parametrize(
    ("person", "now"),
    [("P050", _jst(2026, 4, 1, 0, 0)), ("P019", BUILT)],
)
def test_past_grace_no_pin_is_asked_and_the_desk_is_told(
    box: Box, person: str, now: datetime
) -> None:
    box.now = now
    outcome, events = box.visit(person)
    assert outcome.state is VisitState.FAILED
    assert outcome.reason == EndReason.CARD_GRACE_OVER
    assert box.people.steps == []  # not even the PIN
    assert box.central.calls == []
    assert [type(e) for e in events if isinstance(e, CardGraceOver)] == [CardGraceOver]
    failed = [e for e in events if isinstance(e, VisitFailed)]
    assert [f.reason for f in failed] == ["card_grace_over"]
    visit = box.store.visit(outcome.visit_id)
    assert visit is not None and visit.reason == "card_grace_over"


def test_the_kiosk_says_done_only_for_a_valid_answer() -> None:
    assert kiosk_wire(VisitAnswered("v1", "VALID"), "ja") == (
        "done",
        {"visit_id": "v1", "desk": False},
    )
    for verdict in ("NOT_FOUND", "INVALID", "ERROR", "MULTIPLE"):
        wire = kiosk_wire(VisitAnswered("v1", verdict), "ja")
        assert wire is not None and wire[1]["desk"] is True, verdict


def test_the_kiosk_shows_the_expiry_date_in_the_patients_words() -> None:
    expiring = CardExpiring("v1", _jst(2026, 2, 24).date())
    assert kiosk_wire(expiring, "ja") == (
        "card_notice",
        {"visit_id": "v1", "kind": "renew", "date": "2026年2月24日"},
    )
    grace = CardInGrace("v1", _jst(2025, 12, 21).date(), _jst(2026, 3, 31).date())
    wire = kiosk_wire(grace, "en")
    assert wire is not None and wire[1]["date"] == "21 December 2025"


def _handle_visit(box: Box, person_id: str) -> None:
    box.card = VirtualCard(person_id, box.pki, state_dir=box.tmp / person_id, pin=PIN)
    box.flow.handle(CardInserted("reader", b""))
    assert box.flow.wait_idle(30)


def test_a_card_left_on_the_reader_is_reported_after_the_setting(box: Box) -> None:
    _handle_visit(box, "P001")
    assert [s for s, _r, _c in box.alarms.set] == [12.0]
    assert box.flow.card_left == box.flow.last_outcome.visit_id  # type: ignore[union-attr]
    list(box.events.drain())
    box.alarms.ring_all()
    left = [e for e in box.events.drain() if isinstance(e, CardLeftOnReader)]
    assert len(left) == 1 and left[0].reader == "reader" and left[0].seconds == 12.0


def test_a_card_taken_in_time_is_not_reported(box: Box) -> None:
    _handle_visit(box, "P001")
    box.flow.handle(CardRemovedEvent("reader"))
    assert box.flow.card_left is None
    box.alarms.ring_all()
    assert not [e for e in box.events.drain() if isinstance(e, CardLeftOnReader)]


def test_a_card_taken_during_its_visit_sets_no_alarm(box: Box) -> None:
    box.card = VirtualCard("P001", box.pki, state_dir=box.tmp / "P001", pin=PIN)
    box.flow.handle(CardInserted("reader", b""))
    box.flow.handle(CardRemovedEvent("reader"))
    assert box.flow.wait_idle(30)
    assert box.alarms.set == [] and box.flow.card_left is None
