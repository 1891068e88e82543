"""Card visits on the real stack (pcscd + vpcd + emulated card) while something else misbehaves:
a central that trickles its answer, pcscd restarting under a visit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from device.events import (
    ConfirmationStored,
    PinRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.flow import VisitState
from tests.faulty_central import FaultyCentral

from ..conftest import Pcscd
from .conftest import Desk
from .test_visit import valid_person

pytestmark = pytest.mark.stack

LONG_DEADLINE_S = 60.0  # the visit must not wait for it: removal ends the visit at once


@pytest.fixture
def trickling(sim_pki: Any) -> Iterator[FaultyCentral]:
    with FaultyCentral("trickle", sim_pki) as central:
        yield central


def wait_for_request(central: FaultyCentral, path: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while path not in central.requests:
        assert time.monotonic() < deadline, f"no {path}; saw {central.requests}"
        time.sleep(0.02)


def test_card_removed_while_the_central_trickles_ends_the_visit_and_the_next_card_works(
    desk_factory: Callable[..., Desk], trickling: FaultyCentral
) -> None:
    desk = desk_factory(
        central_url=trickling.url, deadline_s=LONG_DEADLINE_S, timeout_s=5.0, retries=0
    )
    person = valid_person()
    card = desk.place(person.id)
    request = desk.expect(PinRequested)
    first = request.visit_id
    assert desk.inputs.submit(first, person.pin)
    desk.expect(VisitStateChanged, where=lambda e: e.state == "confirming")
    wait_for_request(trickling, "/v1/qualification")  # the answer is now trickling in

    removed_at = time.monotonic()
    desk.remove(card)
    aborted = desk.expect(VisitAborted, timeout=10)
    ended_s = time.monotonic() - removed_at
    assert (aborted.visit_id, aborted.reason) == (first, "card_removed")
    assert desk.finish(10).state is VisitState.ABORTED
    assert ended_s < LONG_DEADLINE_S / 2, ended_s  # it did not wait for the central

    # The next card starts a visit while the first visit's central call is still trickling.
    desk.wait_empty()
    assert time.monotonic() - removed_at < LONG_DEADLINE_S / 2
    second_card = desk.place(person.id)
    started = desk.expect(VisitStarted, timeout=10)
    assert started.visit_id != first
    assert desk.expect(PinRequested, timeout=10).visit_id == started.visit_id
    desk.remove(second_card)
    assert desk.expect(VisitAborted, timeout=10).visit_id == started.visit_id
    desk.finish(10)

    # Nothing of the first visit was stored or shown as its result.
    assert desk.store.count_confirmations() == 0
    assert desk.store.count_visits("aborted") == 2
    assert not [e for e in desk.events.drain() if isinstance(e, ConfirmationStored)]


def test_a_trickling_answer_ends_the_visit_at_the_deadline_as_try_later(
    desk_factory: Callable[..., Desk], trickling: FaultyCentral
) -> None:
    deadline_s = 3.0
    desk = desk_factory(central_url=trickling.url, deadline_s=deadline_s, timeout_s=1.0)
    person = valid_person()
    desk.place(person.id)
    request = desk.expect(PinRequested)
    assert desk.inputs.submit(request.visit_id, person.pin)
    desk.expect(VisitStateChanged, where=lambda e: e.state == "confirming")
    failed = desk.expect(VisitFailed, timeout=deadline_s + 10)
    assert failed.reason == "central_unavailable"
    outcome = desk.finish(10)
    assert outcome.state is VisitState.FAILED
    assert outcome.timings.central_s <= deadline_s + 1.0, outcome.timings
    assert desk.store.count_confirmations() == 0


def test_pcscd_restarting_under_a_visit_is_not_a_removed_card(pcscd: Pcscd, desk: Desk) -> None:
    card = desk.place(valid_person().id)
    request = desk.expect(PinRequested)
    pcscd.restart()
    aborted = desk.expect(VisitAborted, timeout=20, where=lambda e: e.visit_id == request.visit_id)
    assert aborted.reason == "reader_restarted"
    assert desk.finish(10).reason == "reader_restarted"
    # The appliance carries on with the new pcscd: the next card starts a visit.
    desk.remove(card)
    desk.wait_empty()
    desk.place(valid_person().id)
    assert desk.expect(PinRequested, timeout=30).visit_id != request.visit_id


def test_pcscd_restarting_during_the_card_read_is_not_a_removed_card(
    pcscd: Pcscd, desk: Desk
) -> None:
    slow = desk.place(valid_person().id, delay_s=0.05)
    started = desk.expect(VisitStarted)
    desk.expect(VisitStateChanged, where=lambda e: e.state == "reading")
    assert slow.wait_for_apdus(3, timeout=10)
    pcscd.restart()
    aborted = desk.expect(VisitAborted, timeout=20, where=lambda e: e.visit_id == started.visit_id)
    assert aborted.reason == "reader_restarted"
    assert desk.store.count_confirmations() == 0
