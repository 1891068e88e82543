"""Card visits while the central is unreachable, through the real stack: pcscd + vpcd and the
emulated JPKI card, the client over mutual TLS behind the circuit breaker, a relay in front of
the simulated central that is switched off and on, real SQLite.

The card and its PIN are proven on the box (its certificate against the test PKI's JPKI root,
a challenge made here signed by the card); the visit is kept beside the card's last online
answer and that answer's numbers are re-checked once the central is back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from device.events import ConsentRequested
from device.flow import VisitState
from tests.central_relay import CentralRelay

from .conftest import Desk
from .test_visit import valid_person

pytestmark = pytest.mark.stack

CONSENT = ("drug", "checkup")


@pytest.fixture
def relay(central_server: Any) -> Iterator[CentralRelay]:
    line = CentralRelay(int(central_server.url.rsplit(":", 1)[1]))
    line.start()
    yield line
    line.stop()


def visit(desk: Desk, person_id: str, pin: str) -> tuple[Any, list[Any]]:
    """A PIN visit whose patient agrees to everything asked: its outcome and its events."""
    return desk.visit_agreeing(person_id, pin)


def test_an_outage_visit_is_proven_on_the_box_kept_offline_and_rechecked_after_recovery(
    desk_factory: Callable[..., Desk], relay: CentralRelay
) -> None:
    desk = desk_factory(central_url=relay.url, offline=True, consent_kinds=CONSENT)
    assert desk.outbox is not None and desk.reach is not None and desk.breaker_clock
    person = valid_person()

    online, _ = visit(desk, person.id, person.pin)
    assert online.state is VisitState.DONE and online.confirmation is not None
    earlier = online.confirmation

    relay.stop()  # the line drops
    first, _ = visit(desk, person.id, person.pin)
    assert first.state is VisitState.OFFLINE_DONE, first
    assert first.timings.central_s < 5.0  # learnt within the connect deadline
    second, _ = visit(desk, person.id, person.pin)
    assert second.state is VisitState.OFFLINE_DONE
    assert desk.reach.current().down  # two failures: the circuit is open
    third, events = visit(desk, person.id, person.pin)
    assert third.state is VisitState.OFFLINE_DONE
    assert third.timings.central_s == 0.0  # known down: nothing waited for
    assert not [e for e in events if isinstance(e, ConsentRequested)]  # consent not asked

    for outcome in (first, second, third):
        stored = outcome.confirmation
        assert stored is not None and stored.offline and stored.earlier_id == earlier.id
        assert desk.store.consents(stored.id) == []
    queued = desk.store.outbox_items()
    assert len(queued) == 3 and {q.charged_id for q in queued} == {earlier.id}
    assert {q.visit_id for q in queued} == {first.visit_id, second.visit_id, third.visit_id}

    relay.start()  # the line is back; the breaker's next call is its half-open probe
    desk.breaker_clock.offset += 31.0
    report = desk.outbox.drain()
    assert report.answered == 3 and not report.stopped
    assert desk.outbox.open_alerts() == []  # the same answer as charged
    assert not desk.reach.current().down
    assert desk.store.count_confirmations() == 1 + 3 + 3  # no answer stored twice
    assert desk.outbox.drain().asked == 0  # nothing asked twice
