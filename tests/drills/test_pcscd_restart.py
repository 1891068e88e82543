"""Drill: pcscd killed (SIGKILL) and started again, while idle and in the middle of visits.

The whole appliance card path (visit flow, reader monitor, PC/SC readers, store, the
simulated central over mutual TLS) stays up the whole time: nothing is restarted but
pcscd. tests/integration/test_pcscd_restart.py shows the monitor alone comes back; here
the desk does: a visit cut off by the crash ends (nothing stored, the kiosk back at its
start), and the next card placed once pcscd is back gets a whole visit. The figure is the
time from pcscd being back (its readers listed again) to the next visit's answer stored,
beside the time of an ordinary visit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from sim.card import VirtualCard
from sim.population import Person, population
from tests.conftest import Pcscd
from tests.integration.conftest import (  # noqa: F401 (fixtures)
    Desk,
    desk_factory,
    no_forbidden_card_traffic,
)

pytestmark = pytest.mark.stack

EVENT_TIMEOUT_S = 20.0  # the monitor retries every second; pcscd takes a moment to start


def _holder() -> Person:
    return next(
        p
        for p in population()
        if p.validity == "1"
        and p.card_status == "valid"
        and p.registered
        and p.pin_tries_left == 3
        and not p.duplicate_of
    )


def _ended(desk: Desk, visit_id: str) -> Any:
    return desk.expect(
        object,
        EVENT_TIMEOUT_S,
        lambda e: isinstance(e, (VisitAborted, VisitFailed)) and e.visit_id == visit_id,
    )


def _whole_visit(desk: Desk, person: Person) -> tuple[VirtualCard, float]:
    """Place a card, give the PIN, wait for the stored answer; the seconds it took."""
    started = time.perf_counter()
    card = desk.place(person.id)
    visit_id = desk.expect(VisitStarted, EVENT_TIMEOUT_S).visit_id
    asked = desk.expect(PinRequested, EVENT_TIMEOUT_S, lambda e: e.visit_id == visit_id)
    assert desk.inputs.submit(asked.visit_id, person.pin)
    desk.expect(ConfirmationStored, EVENT_TIMEOUT_S, lambda e: e.visit_id == visit_id)
    seconds = time.perf_counter() - started
    assert desk.finish().state is VisitState.DONE
    return card, seconds


def _take_away(desk: Desk, card: VirtualCard) -> None:
    if card in desk.cards:
        desk.remove(card)
    desk.wait_empty()


def test_pcscd_restarts_idle_and_mid_visit_and_the_desk_recovers(
    pcscd: Pcscd,
    desk_factory: Callable[..., Desk],  # noqa: F811
    drill_budget: int,
    figure: Callable[[str], None],
) -> None:
    desk = desk_factory()
    person = _holder()
    card, ordinary = _whole_visit(desk, person)
    _take_away(desk, card)
    recoveries: dict[str, list[float]] = {}
    endings: dict[str, set[str]] = {}
    for _ in range(drill_budget):
        for when in ("idle", "waiting for the PIN", "during the certificate read"):
            stored_before = desk.store.count_confirmations()
            cut: VirtualCard | None = None
            visit_id = ""
            if when == "waiting for the PIN":
                cut = desk.place(person.id)
                visit_id = desk.expect(PinRequested, EVENT_TIMEOUT_S).visit_id
            elif when == "during the certificate read":
                cut = desk.place(person.id, delay_s=0.05)
                visit_id = desk.expect(
                    VisitStateChanged, EVENT_TIMEOUT_S, lambda e: e.state == "reading"
                ).visit_id
                assert cut.wait_for_apdus(3, timeout=EVENT_TIMEOUT_S)
            pcscd.restart()  # SIGKILL, then a new pcscd; returns once its readers are listed
            back = time.perf_counter()
            if cut is not None:
                ended = _ended(desk, visit_id)
                endings.setdefault(when, set()).add(ended.reason)
                assert desk.finish().state in (VisitState.ABORTED, VisitState.FAILED)
                assert desk.store.count_confirmations() == stored_before, when
                _take_away(desk, cut)
            # The kiosk is back at its start and nothing waits for input.
            assert desk.flow.current is None, when
            assert desk.inputs.waiting_step(visit_id) is None, when
            card, _ = _whole_visit(desk, person)
            recoveries.setdefault(when, []).append(time.perf_counter() - back)
            _take_away(desk, card)
    assert desk.store.verify_audit() is None
    shown = "; ".join(
        f"{when} {max(seconds):.1f} s"
        + (f" (cut visit ended: {', '.join(sorted(endings[when]))})" if when in endings else "")
        for when, seconds in recoveries.items()
    )
    total = sum(len(s) for s in recoveries.values())
    figure(
        f"{total} pcscd kills, recovered {total}/{total} without restarting the appliance;"
        f" pcscd back → next visit stored (worst): {shown}; an ordinary visit {ordinary:.1f} s"
    )
