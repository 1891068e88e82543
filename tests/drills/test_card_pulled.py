"""Drill: the card pulled at every step of a visit, through the real stack.

pcscd + vpcd, the emulated JPKI card and the simulated central over mutual TLS, the
appliance's visit flow and reader monitor as tests/integration wires them. A reference
visit records the APDUs a visit sends; then the card is pulled in the middle of each one of
them (the emulated card leaves the reader when that APDU arrives, unanswered: the first one
is "right after connect"), while the kiosk waits for the PIN and for consent, and while the
appliance waits for the central's nonce and for its answer. Each pull: the visit ends as
aborted, card removed, nothing stored but the visit row (no personal data), the audit chain
holds, the kiosk is back at its start (no visit, nothing waiting for input); then the next
card gets a whole visit. A pull while the central answers ends the visit at once too: the
late answer is not this visit's any more and is dropped (device/flow.py), so the desk and the
kiosk never show an answer for a card that has gone.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from device.events import (
    ConfirmationStored,
    ConsentRequested,
    PinRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.flow import VisitState
from device.inputs import ConsentChoice
from sim.card import VirtualCard
from sim.population import Person, population
from tests.integration.conftest import (  # noqa: F401 (fixtures)
    Desk,
    desk_factory,
    no_forbidden_card_traffic,
)

pytestmark = pytest.mark.stack

CENTRAL_LATENCY_S = 0.8  # while pulling during a central call: long enough to land inside it
EVENT_TIMEOUT_S = 15.0
SEED = 8
RUNS_LARGE = 2  # `make drills`: every APDU, this many times (a step takes ~2 s of pcscd)


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


@dataclass
class Run:
    visit_id: str
    outcome: Any
    ended_by: type


def _visit(desk: Desk, card: VirtualCard, person: Person, pull_on: str = "") -> Run:
    """Drive one visit on the kiosk's behalf (PIN, consent); pull the card when the visit
    reaches `pull_on` ("pin", "consent" or a VisitState value)."""
    visit_id = ""
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while (remaining := deadline - time.monotonic()) > 0:
        event = desk.events.get(remaining)
        if event is None:
            break
        if isinstance(event, VisitStarted):
            visit_id = event.visit_id
            continue
        if getattr(event, "visit_id", None) != visit_id:
            continue  # the end of an earlier visit
        if isinstance(event, PinRequested):
            if pull_on == "pin":
                desk.remove(card)
            else:
                assert desk.inputs.submit(visit_id, person.pin)
        elif isinstance(event, ConsentRequested):
            if pull_on == "consent":
                desk.remove(card)
            else:
                assert desk.inputs.submit(visit_id, ConsentChoice.of({"drug": True}))
        elif isinstance(event, VisitStateChanged) and event.state == pull_on:
            desk.remove(card)
        elif isinstance(event, (VisitAborted, VisitFailed, ConfirmationStored)):
            return Run(visit_id, desk.finish(), type(event))
    raise AssertionError(f"the visit did not end within {EVENT_TIMEOUT_S} s")


def _take_away(desk: Desk, card: VirtualCard) -> None:
    if card in desk.cards:
        desk.remove(card)
    desk.wait_empty()


@pytest.fixture
def slow_central(central_server: Any) -> Iterator[Callable[[float], None]]:
    service = central_server.service
    before = service.latency_s

    def set_latency(seconds: float) -> None:
        service.latency_s = seconds

    yield set_latency
    service.latency_s = before


def test_card_pulled_at_every_step_aborts_cleanly_and_the_next_card_works(
    desk_factory: Callable[..., Desk],  # noqa: F811
    slow_central: Callable[[float], None],
    drill_budget: int,
    figure: Callable[[str], None],
) -> None:
    desk = desk_factory(consent_kinds=("drug",))
    person = _holder()
    since = time.time()
    reference = desk.place(person.id)
    first = _visit(desk, reference, person)
    assert first.outcome.state is VisitState.DONE
    _take_away(desk, reference)
    sent = [
        line
        for line in map(json.loads, desk.audit_path.read_text().splitlines())
        if line["t"] >= since and line["person"] == person.id
    ]
    assert len(sent) == first.outcome.timings.apdus, sent
    # The suite pulls once per kind of APDU in a row (one of the READs, chosen by the seed);
    # `make drills` pulls in the middle of every APDU, in as many rounds as RUNS_LARGE says.
    every = drill_budget > 1
    rng = random.Random(SEED)
    steps: list[tuple[str, dict[str, Any], str, float]] = []  # name, card, pull_on, latency
    for kind, group in itertools.groupby(
        enumerate(sent, start=1), key=lambda item: (item[1]["why"], "**" in item[1]["apdu"])
    ):
        numbers = [n for n, _ in group]
        for n in numbers if every else [rng.choice(numbers)]:
            name = "after connect" if n == 1 else f"APDU {n}"
            steps.append((f"{name}: {kind[0]}", {"pull_at_apdu": n}, "", 0.0))
    apdu_steps = len(steps)
    steps += [
        ("waiting for the PIN", {}, "pin", 0.0),
        ("waiting for consent", {}, "consent", 0.0),
        ("waiting for the central's nonce", {}, VisitState.SIGNING.value, CENTRAL_LATENCY_S),
        ("waiting for the central's answer", {}, VisitState.CONFIRMING.value, CENTRAL_LATENCY_S),
    ]
    aborted = next_ok = 0
    seconds: list[float] = []
    for _ in range(RUNS_LARGE if every else 1):
        for name, card_options, pull_on, latency in steps:
            stored_before = desk.store.count_confirmations()
            aborted_before = desk.store.count_visits("aborted")
            slow_central(latency)
            card = desk.place(person.id, **card_options)
            run = _visit(desk, card, person, pull_on)
            slow_central(0.0)
            # The kiosk is back at its start: no visit, nothing waiting for input.
            assert desk.flow.current is None, name
            assert desk.inputs.waiting_step(run.visit_id) is None, name
            assert run.ended_by is VisitAborted, (name, run.outcome)
            assert (run.outcome.state, run.outcome.reason) == (
                VisitState.ABORTED,
                "card_removed",
            ), name
            assert desk.store.count_confirmations() == stored_before, name
            assert desk.store.count_visits("aborted") == aborted_before + 1, name
            visit = desk.store.visit(run.visit_id)
            assert visit is not None and (visit.state, visit.file_id) == ("aborted", "")
            aborted += 1
            assert desk.store.verify_audit() is None, name
            _take_away(desk, card)
            # The next card: a whole visit.
            started = time.perf_counter()
            good = desk.place(person.id)
            after = _visit(desk, good, person)
            assert after.outcome.state is VisitState.DONE, (name, after.outcome)
            seconds.append(time.perf_counter() - started)
            next_ok += 1
            _take_away(desk, good)
    total = aborted
    figure(
        f"{total} pulls at {len(steps)} steps (in {apdu_steps} of the visit's {len(sent)}"
        " APDUs, 2 waits for the patient,"
        f" 2 central calls): {aborted} aborted cleanly with nothing stored;"
        f" next card worked {next_ok}/{total}"
        f" (its visit {min(seconds):.2f}–{max(seconds):.2f} s)"
    )
