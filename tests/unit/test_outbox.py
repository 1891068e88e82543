"""The re-check queue (device/outbox.py, sync/store/outbox.py) with a scripted fake central:
queueing, draining oldest first at a bounded rate, backoff, the round stopping when the central
is down again, refusals ending an item, changed answers, and recovery after a kill between
storing an answer and marking its item. The pages: web/recheck.py and the detail page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from device.accounts import Accounts
from device.checks import CheckFailed, ManualChecks, NumbersInput
from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus
from device.flow import VisitFlow
from device.jobs import JOBS
from device.outbox import AnswerChange, Outbox, answer_changes
from sync.central import (
    CentralAnswer,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import QualificationTransport
from sync.xmlmsg import (
    Qualification,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_result,
)
from tests.fake_services import services_with
from web.app import create_staff_app
from web.present import STRINGS

from .test_web import STAFF_HASH, STAFF_USER, FakeFlow, make_config, sign_in

MIC = "1312345670"
T0 = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
KYOKAI = "01130012"
OTHER_INSURER = "06130017"


def typed(number: str = "11") -> NumbersInput:
    return NumbersInput(KYOKAI, "40199901", number, "", "19830807")


@dataclass
class ScriptedCentral:
    """Answers each search as one person; `down` makes every call unavailable, `faults` fails
    the requests of the given insured numbers, `answer` overrides the answer's fields."""

    down: bool = False
    faults: dict[str, Exception] = field(default_factory=dict)
    answer: dict[str, str] = field(default_factory=dict)
    requests: list[QualificationRequest] = field(default_factory=list)

    def nonce(self) -> bytes:
        return b"n" * 32

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        self.requests.append(request)
        if self.down:
            raise CentralUnavailable("connection refused")
        assert request.search is not None
        s = request.search
        if s.number in self.faults:
            raise self.faults[s.number]
        person = Qualification(
            card_classification="01",
            insurer_number=self.answer.get("insurer_number", s.insurer_number),
            symbol=s.symbol,
            number=s.number,
            branch="00",
            name="井上　健一",
            name_kana="イノウエ　ケンイチ",
            birthdate=s.birthdate,
            contribution_ratio=self.answer.get("contribution_ratio", "030"),
        )
        validity = self.answer.get("validity", "1")
        result = QualificationResult(
            process_time="20260401093000",
            confirmation_date=request.confirmation_date,
            medical_institution_code=request.medical_institution_code,
            file_id=request.file_id,
            reference_classification=request.reference_classification,
            segment_of_result="1",
            processing_status="1",
            validity=validity,
            search=s,
            results=() if validity == "4" else (person,),
        )
        return CentralAnswer(result, build_result(result), 0.01)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    store: Store
    central: ScriptedCentral
    clock: Clock
    bus: EventBus
    confirmations: Confirmations
    outbox: Outbox
    checks: ManualChecks
    sleeps: list[float]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = Clock()
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
    central = ScriptedCentral()
    bus = EventBus()
    confirmations = Confirmations(
        transport=cast(QualificationTransport, central), store=store, bus=bus
    )
    sleeps: list[float] = []
    outbox = Outbox(
        store=store,
        confirmations=confirmations,
        rate_per_s=0.1,  # 10 s apart: every wait after the first ask is positive
        backoff_base_s=30,
        backoff_max_s=100,
        clock=clock,
        sleep=sleeps.append,
    )
    checks = ManualChecks(
        medical_institution_code=MIC,
        confirmations=confirmations,
        store=store,
        clock=clock,
        outbox=outbox,
    )
    yield Rig(store, central, clock, bus, confirmations, outbox, checks, sleeps)
    store.close()


def queue_while_down(rig: Rig, *numbers: str, step: timedelta = timedelta(0)) -> None:
    rig.central.down = True
    for number in numbers:
        with pytest.raises(CheckFailed) as failed:
            rig.checks.check(typed(number), actor="uketsuke")
        assert failed.value.reason == "central_unavailable" and failed.value.queued
        rig.clock.now += step
    rig.central.down = False
    rig.central.requests.clear()


def actions(store: Store) -> list[str]:
    return [e.action for e in reversed(store.audit_entries())]


# -- queueing ------------------------------------------------------------------------------
def test_an_unavailable_check_is_queued_encrypted_and_audited(rig: Rig, tmp_path: Path) -> None:
    queue_while_down(rig, "11")
    (item,) = rig.store.outbox_due(rig.clock.now, 10)
    assert (item.kind, item.method, item.actor, item.state) == (
        "numbers",
        "numbers",
        "uketsuke",
        "queued",
    )
    assert item.request is not None and item.request.search is not None
    assert item.request.search.birthdate == "19830807"
    assert item.charged_id is None and item.attempts == 0
    assert "outbox.queued" in actions(rig.store)
    assert b"19830807" not in (tmp_path / "onshi.db").read_bytes()


def test_queueing_the_same_file_id_twice_is_a_no_op(rig: Rig) -> None:
    queue_while_down(rig, "11")
    (item,) = rig.store.outbox_due(rig.clock.now, 10)
    assert item.request is not None
    assert not rig.outbox.enqueue(item.request, "numbers", "numbers", "someone")
    assert len(rig.store.outbox_items()) == 1
    assert actions(rig.store).count("outbox.queued") == 1


@pytest.mark.parametrize(
    "error",
    [
        CentralRefused(403, "institution mismatch"),
        CentralUnreadable("answer too large"),
        CentralUntrusted("certificate verify failed"),
    ],
)
def test_refused_unreadable_and_untrusted_checks_are_not_queued(rig: Rig, error: Exception) -> None:
    rig.central.faults["11"] = error
    with pytest.raises(CheckFailed) as failed:
        rig.checks.check(typed("11"), actor="uketsuke")
    assert not failed.value.queued
    assert rig.store.outbox_items() == []


# -- draining ------------------------------------------------------------------------------
def test_drain_asks_oldest_first_at_the_bounded_rate_and_stores_each_once(rig: Rig) -> None:
    queue_while_down(rig, "13", "11", "12", step=timedelta(seconds=1))
    stored = rig.bus.subscribe()
    report = rig.outbox.drain()
    assert (report.asked, report.answered, report.stopped) == (3, 3, False)
    assert [r.search.number for r in rig.central.requests if r.search] == ["13", "11", "12"]
    assert len(rig.sleeps) == 2 and all(0 < s <= 10 for s in rig.sleeps)
    assert rig.store.count_confirmations() == 3
    assert len([e for e in stored.drain() if isinstance(e, ConfirmationStored)]) == 3
    items = rig.store.outbox_items()
    assert {i.state for i in items} == {"answered"} and all(i.request is None for i in items)
    assert all(i.answer_id is not None for i in items)
    assert rig.outbox.drain().asked == 0  # nothing is asked twice
    assert actions(rig.store).count("outbox.answered") == 3


def test_the_round_stops_at_the_first_unavailable_and_backs_off(rig: Rig) -> None:
    queue_while_down(rig, "11", "12", step=timedelta(seconds=1))
    rig.central.down = True
    report = rig.outbox.drain()
    assert (report.asked, report.stopped) == (1, True)  # the central is down: ask no more
    first = rig.store.outbox_items()[-1]
    assert first.attempts == 1 and first.next_at == rig.clock.now + timedelta(seconds=30)
    assert first.outcome == "central_unavailable"
    # The first item waits; the next round goes on with the second, which fails the same way.
    assert rig.outbox.drain().asked == 1
    rig.clock.now += timedelta(seconds=30)
    rig.outbox.drain()
    again = rig.store.outbox_item(first.id)
    assert again is not None and again.attempts == 2
    assert again.next_at == rig.clock.now + timedelta(seconds=60)
    assert [rig.outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 100, 100]
    assert "outbox.retry" in actions(rig.store)
    rig.central.down = False
    rig.clock.now += timedelta(seconds=100)
    assert rig.outbox.drain().answered == 2
    assert rig.store.count_confirmations() == 2


def test_untrusted_while_draining_waits_like_unavailable(rig: Rig) -> None:
    queue_while_down(rig, "11")
    rig.central.faults["11"] = CentralUntrusted("certificate verify failed")
    report = rig.outbox.drain()
    assert report.stopped and report.ended == 0
    (item,) = rig.store.outbox_items()
    assert item.state == "queued" and item.outcome == "central_untrusted"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (CentralRefused(403, "institution mismatch"), "central_refused"),
        (CentralUnreadable("answer too large"), "central_unreadable"),
    ],
)
def test_a_refused_item_ends_with_its_reason_and_the_rest_go_on(
    rig: Rig, error: Exception, reason: str
) -> None:
    queue_while_down(rig, "11", "12", step=timedelta(seconds=1))
    rig.central.faults["11"] = error
    report = rig.outbox.drain()
    assert (report.asked, report.answered, report.ended) == (2, 1, 1)
    ended = rig.store.outbox_items()[-1]
    assert (ended.state, ended.outcome, ended.request) == ("ended", reason, None)
    rig.clock.now += timedelta(days=1)
    assert rig.outbox.drain().asked == 0  # never retried
    assert "outbox.ended" in actions(rig.store)


def test_killed_after_storing_the_answer_marks_the_item_without_asking_again(rig: Rig) -> None:
    queue_while_down(rig, "11")
    (item,) = rig.store.outbox_due(rig.clock.now, 10)
    assert item.request is not None
    # What a drain killed between keep() and marking leaves behind: the answer, a queued row.
    answer = rig.confirmations.ask(item.request, label="before the kill")
    stored = rig.confirmations.keep(
        answer, file_id=item.file_id, kind="numbers", method="numbers", actor="uketsuke"
    )
    rig.central.requests.clear()
    report = rig.outbox.drain()
    assert (report.asked, report.answered) == (0, 1)
    assert rig.central.requests == []
    marked = rig.store.outbox_item(item.id)
    assert marked is not None and (marked.state, marked.answer_id) == ("answered", stored.id)
    assert rig.store.count_confirmations() == 1
    assert "outbox.recovered" in actions(rig.store)


# -- changed answers -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "changes"),
    [
        ({}, ()),
        ({"validity": "2"}, (AnswerChange.VERDICT,)),
        ({"validity": "4"}, (AnswerChange.VERDICT,)),
        ({"insurer_number": OTHER_INSURER}, (AnswerChange.INSURER,)),
        ({"contribution_ratio": "020"}, (AnswerChange.RATIO,)),
        (
            {"insurer_number": OTHER_INSURER, "contribution_ratio": "010"},
            (AnswerChange.INSURER, AnswerChange.RATIO),
        ),
    ],
)
def test_a_recheck_whose_answer_changed_opens_an_alert_until_acknowledged(
    rig: Rig, answer: dict[str, str], changes: tuple[str, ...]
) -> None:
    charged = rig.checks.check(typed("11"), actor="uketsuke")
    rig.central.down = True
    with pytest.raises(CheckFailed) as failed:
        rig.checks.recheck(charged.id, actor="uketsuke")
    assert failed.value.queued
    (item,) = rig.store.outbox_items()
    assert item.charged_id == charged.id
    rig.central.down = False
    rig.central.answer = answer
    report = rig.outbox.drain()
    assert report.answered == 1 and report.alerts == (1 if changes else 0)
    alerts = rig.outbox.open_alerts()
    assert [a.changes for a in alerts] == ([tuple(changes)] if changes else [])
    if not changes:
        return
    (alert,) = alerts
    answered = rig.store.outbox_item(item.id)
    assert answered is not None
    assert (alert.earlier_id, alert.answer_id) == (charged.id, answered.answer_id)
    assert rig.outbox.drain().alerts == 0  # stays one alert
    assert rig.outbox.acknowledge(alert.id, actor="kanri")
    assert not rig.outbox.acknowledge(alert.id, actor="other")  # once
    assert rig.outbox.open_alerts() == []
    (seen,) = rig.store.outbox_alerts(open_only=False)
    assert seen.acknowledged_by == "kanri" and seen.acknowledged_at == rig.clock.now
    entry = next(e for e in rig.store.audit_entries() if e.action == "outbox.alert_acknowledged")
    assert entry.actor == "kanri"


def test_answer_changes_compares_by_the_code_rules() -> None:
    central = ScriptedCentral()
    request = QualificationRequest(
        MIC, "20260401", "f1", "2", search=SearchInfo(KYOKAI, "11", "19830807")
    )
    base = central.confirm(request).result
    central.answer = {"insurer_number": "1130012", "contribution_ratio": "30"}
    padded = central.confirm(request).result  # the same insurer and ratio, written otherwise
    assert answer_changes(base, padded) == ()
    central.answer = {"validity": "3"}
    assert answer_changes(base, central.confirm(request).result) == (AnswerChange.VERDICT,)


def test_the_drain_job_runs_the_outbox(rig: Rig) -> None:
    (job,) = [j for j in JOBS if j.name == "drain_outbox"]
    queue_while_down(rig, "11")
    services = cast(Any, type("S", (), {"outbox": rig.outbox})())
    assert job.run(services, cast(Any, None)) == 1
    assert job.every_setting == "outbox_drain_every_s"


# -- the pages -----------------------------------------------------------------------------
@pytest.fixture
def desk(rig: Rig, tmp_path: Path) -> FlaskClient:
    rig.store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    config = make_config(tmp_path)
    services = services_with(
        config=config,
        store=rig.store,
        bus=rig.bus,
        flow=cast(VisitFlow, FakeFlow()),
        accounts=Accounts(rig.store),
        checks=rig.checks,
        outbox=rig.outbox,
    )
    return sign_in(create_staff_app(config, services).test_client())


def csrf(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    return page.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]


def test_the_desk_says_a_failed_check_was_queued(rig: Rig, desk: FlaskClient) -> None:
    rig.central.down = True
    body = {"insurer_number": KYOKAI, "symbol": "40199901", "number": "11", "birthdate": "19830807"}
    r = desk.post("/api/checks", json=body, headers={"X-CSRF-Token": csrf(desk)})
    assert r.status_code == 503
    data = r.get_json()
    assert data["reason"] == "central_unavailable" and data["queued"] is True
    assert "再照会の待ち行列に入れました" in data["message"]
    assert len(rig.store.outbox_items()) == 1


def test_a_typed_check_in_an_outage_is_charged_and_compared_with_its_numbers_last_answer(
    rig: Rig, desk: FlaskClient
) -> None:
    earlier = rig.checks.check(typed("11"), actor="uketsuke")
    rig.central.down = True
    with pytest.raises(CheckFailed) as failed:
        rig.checks.check(typed("11"), actor="uketsuke")
    assert failed.value.queued and failed.value.earlier == earlier
    (item,) = rig.store.outbox_items()
    assert item.charged_id == earlier.id  # what the desk charges meanwhile
    body = {"insurer_number": KYOKAI, "symbol": "40199901", "number": "11", "birthdate": "19830807"}
    r = desk.post("/api/checks", json=body, headers={"X-CSRF-Token": csrf(desk)})
    data = r.get_json()
    assert r.status_code == 503 and data["earlier"]["id"] == earlier.id
    assert "前回確認" in data["message"] and "3割" in data["message"]
    assert "本日" in data["message"]  # its age
    rig.central.down = False
    rig.central.answer = {"contribution_ratio": "020"}
    assert rig.outbox.drain().alerts == 2  # both re-checks differ from the answer charged
    # a number never answered before queues with nothing charged
    rig.central.down = True
    with pytest.raises(CheckFailed) as unknown:
        rig.checks.check(typed("12"), actor="uketsuke")
    assert unknown.value.queued and unknown.value.earlier is None


def test_alerts_are_listed_acknowledged_and_shown_on_the_detail_page(
    rig: Rig, desk: FlaskClient
) -> None:
    page = desk.get("/").get_data(as_text=True)
    assert 'id="recheck-alerts"' in page and "recheck.js" in page
    assert desk.get("/api/recheck/alerts").get_json() == {"alerts": []}
    charged = rig.checks.check(typed("11"), actor="uketsuke")
    rig.central.down = True
    with pytest.raises(CheckFailed):
        rig.checks.recheck(charged.id, actor="uketsuke")
    rig.central.down = False
    rig.central.answer = {"contribution_ratio": "020"}
    rig.outbox.drain()
    (alert,) = desk.get("/api/recheck/alerts").get_json()["alerts"]
    assert alert["changes"] == ["負担割合"]
    assert alert["earlier"]["id"] == charged.id and alert["earlier"]["ratio"] == "3割"
    assert alert["answer"]["ratio"] == "2割"
    assert alert["answer"]["url"] == f"/confirmations/{alert['answer']['id']}"
    assert "outbox.alerts_view" in actions(rig.store)
    detail = desk.get(f"/confirmations/{charged.id}").get_data(as_text=True)
    assert "再照会で回答が変わりました" in detail and "2割" in detail and "3割" in detail
    token = csrf(desk)
    url = f"/api/recheck/alerts/{alert['id']}/acknowledge"
    assert desk.post(url).status_code in (400, 403)  # without the CSRF token: refused
    assert desk.post(url, headers={"X-CSRF-Token": token}).status_code == 200
    assert desk.post(url, headers={"X-CSRF-Token": token}).status_code == 404
    assert desk.get("/api/recheck/alerts").get_json() == {"alerts": []}
    (seen,) = rig.store.outbox_alerts(open_only=False)
    assert seen.acknowledged_by == STAFF_USER
    detail = desk.get(f"/confirmations/{charged.id}").get_data(as_text=True)
    assert "確認済み（受付 花子）" in detail  # the display name, not the username


@pytest.mark.parametrize("change", list(AnswerChange), ids=str)
def test_every_answer_change_has_words_in_both_languages(change: AnswerChange) -> None:
    ja, en = STRINGS[f"recheck_change_{change.value}"]
    assert ja and en and ja != en and en.isascii()


def test_a_check_for_a_card_visit_must_name_one_kept_offline(rig: Rig, desk: FlaskClient) -> None:
    body = {"insurer_number": KYOKAI, "symbol": "40199901", "number": "11", "birthdate": "19830807"}
    headers = {"X-CSRF-Token": csrf(desk)}
    for bad in ("7", True, 0, -1):
        r = desk.post("/api/checks", json={**body, "for_visit": bad}, headers=headers)
        assert r.status_code == 400, bad
    online = rig.checks.check(typed("11"), actor="uketsuke")  # not a card visit kept offline
    r = desk.post("/api/checks", json={**body, "for_visit": online.id}, headers=headers)
    assert r.status_code == 404
    assert rig.store.count_confirmations() == 1  # nothing asked, nothing stored
