"""Half a day without the central, through the real stack (the acceptance test of issue 10).

pcscd + vpcd and the emulated JPKI cards, the appliance's visit flow, desk checks, 申立書 and
re-check queue on real SQLite, the client over mutual TLS behind the circuit breaker, and a
relay in front of a simulated central of this test's own, whose clock is the desk's: moved
18 minutes after each of the 20 things that happen at the desk while the line is down, so the
outage lasts six hours of the store's and the simulator's time (and of the breaker's).

Before the outage five patients visit with their cards and one 資格確認書 holder is checked by
numbers, so they have a 前回確認. During it: PIN and 目視 card visits of cards seen before and
never seen, a card whose certificate has expired, numbers typed at the desk, 再照会 of stored
answers and 申立書. While the line is down the simulator's world moves on (P001 loses the
qualification, P004 pays 30 %, P008 joined another insurer: sim/central/changes.py). After the
line is back the queue is drained, and every queued request must be answered exactly once, the
three changes flagged and nothing else, nothing stored twice and the audit chain whole.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest

from device.checks import CheckFailed
from device.events import (
    ConsentRequested,
    Event,
    PinRequested,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.flow import EndReason, VisitOutcome, VisitState
from device.inputs import VisualCheck
from device.outbox import AnswerChange, DrainReport
from device.statement import StatementForm, Statements, insurance_kind_of
from sim.central.server import CentralServer
from sim.population import person
from sync.clock import JST, utc_now
from sync.store import Confirmation
from tests.central_relay import CentralRelay

from .conftest import Desk
from .test_manual_check import as_typed

pytestmark = pytest.mark.stack

CONSENT = ("drug", "checkup")
STAFF = "uketsuke1"
STEP = timedelta(minutes=18)  # between two patients at the desk: 20 of them in six hours
REPAIR = timedelta(minutes=30)  # from the last patient to the line being back

SEEN_BEFORE = ("P001", "P002", "P004", "P005", "P008")  # card visits online before the outage
CHECKED_BEFORE = "P025"  # a 資格確認書 holder, checked by numbers before the outage

# What the simulator changes while the line is down, and how the re-check must see it.
CHANGED = {
    "P001": (AnswerChange.VERDICT,),  # lost the qualification on the day the outage began
    "P004": (AnswerChange.RATIO,),  # 20 % → 30 %
    "P008": (AnswerChange.VERDICT, AnswerChange.INSURER),  # 国保 → 協会けんぽ
}


class Kind(StrEnum):
    PIN = "pin"  # the card and its PIN at the kiosk
    VISUAL = "visual"  # the card, 目視確認 by reception
    NUMBERS = "numbers"  # numbers typed at the desk
    RECHECK = "recheck"  # 再照会 of a stored answer (for an offline row: of its 前回確認)
    STATEMENT = "statement"  # 被保険者資格申立書


# The 20 things that happen at the desk while the line is down, in order.
OUTAGE_DAY = (
    ("P001", Kind.PIN),
    ("P004", Kind.PIN),  # the second failure: the circuit opens
    ("P002", Kind.VISUAL),
    ("P010", Kind.PIN),  # never seen here: no 前回確認
    ("P019", Kind.PIN),  # the certificate is past its grace: no PIN is asked (DOMAIN.md §10)
    ("P019", Kind.NUMBERS),  # …so reception types the numbers from マイナポータル
    ("P025", Kind.RECHECK),  # the 資格確認書 holder again: 再照会 of the morning's answer
    ("P008", Kind.PIN),
    ("P026", Kind.PIN),  # never seen (PIN 5678)
    ("P024", Kind.VISUAL),  # never seen
    ("P009", Kind.NUMBERS),
    ("P027", Kind.STATEMENT),  # no card, no 資格確認書, never seen: nothing is known
    ("P005", Kind.PIN),
    ("P003", Kind.PIN),  # never seen
    ("P011", Kind.NUMBERS),
    ("P005", Kind.RECHECK),  # 再照会 on P005's offline row: the numbers of its 前回確認
    ("P006", Kind.PIN),  # never seen
    ("P010", Kind.STATEMENT),  # from P010's offline row: nothing known, the form starts empty
    ("P013", Kind.PIN),  # never seen
    ("P028", Kind.NUMBERS),
)


class HalfDayClock:
    """The wall clock of the desk and of the simulated central, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> HalfDayClock:
    return HalfDayClock(utc_now())


@pytest.fixture
def central(sim_pki: Any, clock: HalfDayClock) -> Iterator[CentralServer]:
    """A simulated central of this test's own: its answers change for good after recovery."""
    with CentralServer(sim_pki, clock=clock) as server:
        yield server


@pytest.fixture
def relay(central: CentralServer) -> Iterator[CentralRelay]:
    line = CentralRelay(int(central.url.rsplit(":", 1)[1]))
    line.start()
    yield line
    line.stop()


@dataclass
class Day:
    """What the desk did and what it must find afterwards."""

    desk: Desk
    clock: HalfDayClock
    statements: Statements
    online: dict[str, Confirmation] = field(default_factory=dict)  # 前回確認 by person
    offline: dict[str, Confirmation] = field(default_factory=dict)  # offline rows by person
    visits: dict[str, VisitOutcome] = field(default_factory=dict)  # last card visit by person
    queued: Counter[str] = field(default_factory=Counter)  # re-checks queued, by person
    statement_ids: list[int] = field(default_factory=list)
    consent_asked: list[str] = field(default_factory=list)  # outage visits asked for consent

    def advance(self, by: timedelta) -> None:
        self.clock.advance(by)
        assert self.desk.breaker_clock is not None
        self.desk.breaker_clock.offset += by.total_seconds()


def card_visit(desk: Desk, person_id: str, kind: Kind) -> tuple[VisitOutcome, list[Event]]:
    """One card on the reader: its PIN at the kiosk, or reception's 目視確認; every consent
    asked is agreed to. The outcome and the events seen."""
    given = VisualCheck(STAFF) if kind is Kind.VISUAL else person(person_id).pin
    return desk.visit_agreeing(person_id, given)


def grace_over_visit(desk: Desk, person_id: str) -> tuple[VisitOutcome, list[Event]]:
    """A card whose certificate is past its grace: the visit ends before anything is asked."""
    desk.place(person_id)
    seen: list[Event] = [desk.expect(VisitStarted)]
    while not (desk.flow.wait_idle(0) and seen and isinstance(seen[-1], VisitStateChanged)):
        event = desk.events.get(0.1)
        if event is not None:
            seen.append(event)
    outcome = desk.finish()
    desk.remove(desk.cards[-1])
    desk.wait_empty()
    time.sleep(0.5)  # pcscd notices a new card reliably only a little after the last left
    return outcome, seen


def queued_check(day: Day, person_id: str, call: Callable[[], Confirmation]) -> None:
    """A desk check while the line is down: not answered, kept in the re-check queue."""
    with pytest.raises(CheckFailed) as failed:
        call()
    assert failed.value.queued, person_id
    assert failed.value.reason is EndReason.CENTRAL_UNAVAILABLE
    day.queued[person_id] += 1


def statement_of(person_id: str, start: StatementForm) -> StatementForm:
    """What the patient writes on the form (nothing was known to pre-fill it)."""
    assert start == StatementForm()
    p = person(person_id)
    kind = insurance_kind_of(p.insurer_number)
    assert kind is not None
    return StatementForm(
        card_held="no",
        insurance_kind=kind.value,
        insurer_name=p.insurer_name,
        issued="2024年4月頃",
        ratio=str(int(p.contribution_ratio)),
        name=p.name,
        birthdate=p.birthdate,
        sex=p.sex,
        address=p.address,
        contact="03-1234-5678",
    )


def at_the_desk(day: Day, person_id: str, kind: Kind) -> None:
    desk = day.desk
    checks = desk.checks
    assert checks is not None
    if kind in (Kind.PIN, Kind.VISUAL) and person(person_id).card_status == "expired":
        outcome, seen = grace_over_visit(desk, person_id)
        day.visits[person_id] = outcome
        assert (outcome.state, outcome.reason) == (VisitState.FAILED, "card_grace_over")
        assert not [e for e in seen if isinstance(e, PinRequested)]
        assert [e for e in seen if isinstance(e, VisitFailed)]
        assert outcome.confirmation is None
        return
    if kind in (Kind.PIN, Kind.VISUAL):
        outcome, seen = card_visit(desk, person_id, kind)
        day.visits[person_id] = outcome
        if any(isinstance(e, ConsentRequested) for e in seen):
            day.consent_asked.append(person_id)
        assert outcome.state is VisitState.OFFLINE_DONE, (person_id, outcome)
        assert outcome.confirmation is not None
        day.offline[person_id] = outcome.confirmation
        if person_id in day.online:
            day.queued[person_id] += 1  # its 前回確認's numbers, in the same transaction
    elif kind is Kind.NUMBERS:
        queued_check(day, person_id, lambda: checks.check(as_typed(person_id), actor=STAFF))
    elif kind is Kind.RECHECK:
        asked = day.offline.get(person_id) or day.online[person_id]
        queued_check(day, person_id, lambda: checks.recheck(asked.id, actor=STAFF))
    else:
        kept = day.offline.get(person_id)
        start = day.statements.start(kept.id if kept else None, actor=STAFF)
        stored = day.statements.save(
            statement_of(person_id, start),
            actor=STAFF,
            visit_id=kept.visit_id if kept else None,
            confirmation_id=kept.id if kept else None,
        )
        day.statement_ids.append(stored.id)


def drain_until_empty(day: Day) -> list[DrainReport]:
    reports: list[DrainReport] = []
    while day.desk.store.outbox_counts().queued and len(reports) < 5:
        reports.append(day.desk.outbox.drain())  # type: ignore[union-attr]
    return reports


def who(confirmation: Confirmation) -> str:
    """The person an answer names, by their numbers and birth date (P001 and P002 share
    the insured person's numbers)."""
    search = confirmation.result.search
    assert search is not None
    matches = [
        pid
        for pid in (p for p, _ in OUTAGE_DAY)
        if (person(pid).number, person(pid).birthdate) == (search.number, search.birthdate)
    ]
    assert len(set(matches)) == 1, (search, matches)
    return matches[0]


def test_half_a_day_without_the_central_every_patient_handled_and_rechecked_once(
    desk_factory: Callable[..., Desk],
    central: CentralServer,
    relay: CentralRelay,
    clock: HalfDayClock,
) -> None:
    desk = desk_factory(central_url=relay.url, offline=True, consent_kinds=CONSENT, clock=clock)
    assert desk.checks is not None and desk.outbox is not None and desk.reach is not None
    day = Day(desk, clock, Statements(desk.store, clock))

    # The morning: answers that will be 前回確認.
    for pid in SEEN_BEFORE:
        outcome, _ = card_visit(desk, pid, Kind.PIN)
        assert outcome.state is VisitState.DONE and outcome.confirmation is not None, outcome
        assert desk.store.consents(outcome.confirmation.id), "the consent given online is kept"
        day.online[pid] = outcome.confirmation
        day.advance(STEP)
    day.online[CHECKED_BEFORE] = desk.checks.check(as_typed(CHECKED_BEFORE), actor=STAFF)

    # The line drops, and the world moves on meanwhile.
    outage_began = clock()
    relay.stop()
    central.faults.switch(mode="down", changed_after_recovery=True)
    central.apply_faults()
    for n, (pid, kind) in enumerate(OUTAGE_DAY, start=1):
        at_the_desk(day, pid, kind)
        if n % 5 == 0:  # the drain job runs meanwhile: it meets the outage and waits
            report = desk.outbox.drain()
            assert report.stopped and report.answered == 0, report
        day.advance(STEP)
    assert desk.reach.current().down
    assert clock() - outage_began == 20 * STEP

    # Nothing answered yet; every card that was placed after the circuit opened was not asked
    # for consent (the first two were, before the desk knew).
    assert day.consent_asked == ["P001", "P004"]
    assert set(day.offline) == {
        pid for pid, kind in OUTAGE_DAY if kind in (Kind.PIN, Kind.VISUAL) and pid != "P019"
    }
    expected_queue = sum(day.queued.values())
    assert expected_queue == 11
    counts = desk.store.outbox_counts()
    assert (counts.queued, counts.answered, counts.ended) == (expected_queue, 0, 0)
    before_drain = {item.id: item for item in desk.store.outbox_items()}
    # The four drains met the outage with the oldest item each time (backoff then due again).
    oldest = min(before_drain.values(), key=lambda i: (i.created_at, i.id))
    tried = {i.id: (i.attempts, i.outcome) for i in before_drain.values() if i.attempts}
    assert tried == {oldest.id: (len(OUTAGE_DAY) // 5, "central_unavailable")}

    # The line is back; the simulator's answers for three people have changed.
    day.advance(REPAIR)
    assert central.faults.switch(mode="normal").answers_changed
    central.apply_faults()
    relay.start()
    reports = drain_until_empty(day)
    assert sum(r.answered for r in reports) == expected_queue, reports
    assert sum(r.asked for r in reports) == expected_queue  # each asked once, none again
    assert not any(r.stopped or r.ended for r in reports), reports
    assert desk.outbox.drain().asked == 0
    assert not desk.reach.current().down

    # Every queued request answered exactly once, oldest first, by an answer of its own.
    items = sorted(desk.store.outbox_items(), key=lambda i: (i.created_at, i.id))
    assert {i.id for i in items} == set(before_drain)
    assert all(i.state == "answered" and i.request is None for i in items)
    answer_ids = [i.answer_id for i in items]
    assert None not in answer_ids and len(set(answer_ids)) == len(items)
    assert answer_ids == sorted(answer_ids, key=lambda a: a or 0)  # asked oldest first
    answers = {i.id: desk.store.confirmation(i.answer_id or 0) for i in items}
    for item in items:
        answer = answers[item.id]
        assert answer is not None and answer.file_id == item.file_id
        assert (answer.source, answer.kind) == ("online", "numbers")
    assert Counter(who(a) for a in answers.values() if a is not None) == day.queued

    # Nothing stored twice: one row per file identifier, and exactly the rows expected.
    since = outage_began - 2 * len(SEEN_BEFORE) * STEP
    rows = desk.store.recent_confirmations(since, limit=1000)
    assert len(rows) == desk.store.count_confirmations()
    assert len(rows) == len(day.online) + len(day.offline) + expected_queue == 28
    assert len({r.file_id for r in rows}) == len(rows)

    # The offline rows: proven on the box, beside their 前回確認, no consent, still offline.
    for pid, row in day.offline.items():
        stored = desk.store.confirmation(row.id)
        assert stored is not None and stored.offline and stored.kind == "card"
        assert stored.method == ("visual" if pid in ("P002", "P024") else "pin")
        earlier = day.online.get(pid)
        assert stored.earlier_id == (earlier.id if earlier else None), pid
        assert desk.store.consents(stored.id) == [], pid
        queued_for = [i for i in items if i.visit_id == stored.visit_id]
        assert [i.charged_id for i in queued_for] == ([earlier.id] if earlier else []), pid

    # The expired card: the visit ended, nothing kept for it but the failed visit.
    expired = day.visits["P019"]
    visit = desk.store.visit(expired.visit_id)
    assert visit is not None and (visit.state, visit.reason) == ("failed", "card_grace_over")
    assert not [r for r in rows if r.visit_id == expired.visit_id]

    # Alerts for the three changed answers and for nothing else, each against what was charged.
    alerts = desk.outbox.open_alerts()
    changed = {who(row_of(rows, a.answer_id)): a for a in alerts}
    assert len(changed) == len(alerts)
    assert {pid: tuple(a.changes) for pid, a in changed.items()} == CHANGED
    for pid, alert in changed.items():
        assert alert.earlier_id == day.online[pid].id
    lost = row_of(rows, changed["P001"].answer_id)
    assert lost.result.validity == "2"
    assert lost.result.results[0].disqualification_date == (
        outage_began.astimezone(JST).strftime("%Y%m%d")
    )

    # The 申立書: stored, readable, tied to the visit where there was one.
    assert len(day.statement_ids) == 2
    for statement_id in day.statement_ids:
        found = day.statements.open(statement_id, actor=STAFF)
        assert found is not None
        statement, form = found
        assert form.name in (person("P027").name, person("P010").name)
        if form.name == person("P010").name:
            assert statement.confirmation_id == day.offline["P010"].id
            assert statement.visit_id == day.offline["P010"].visit_id

    # Every step audited, and the chain holds.
    actions = Counter(e.action for e in desk.store.audit_entries(limit=10_000))
    assert actions["outbox.queued"] == expected_queue
    assert actions["outbox.answered"] == expected_queue
    assert actions["outbox.retry"] == len(OUTAGE_DAY) // 5
    assert actions["outbox.alert"] == len(CHANGED)
    assert actions["statement.saved"] == 2
    assert desk.store.verify_audit() is None


def row_of(rows: list[Confirmation], confirmation_id: int) -> Confirmation:
    (found,) = [r for r in rows if r.id == confirmation_id]
    return found
