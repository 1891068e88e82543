"""The doctor's views go through the appliance's one circuit breaker (device/clinical.py).

A real CircuitBreaker on a fake monotonic clock, the fake central of test_clinical.py (which
records every request it gets), a real Store and the real pages through the Flask test client.
"Answers at once" is shown by the request that was never made, not by timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from device.accounts import Accounts
from device.clinical import ClinicalRecords, ClinicalRefused
from device.config import load_config
from device.events import EventBus
from device.reachability import CentralReachability
from sync.breaker import BreakerChange, BreakerState, CircuitBreaker
from sync.central import CentralRefused, CentralUnavailable, CentralUnreadable
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.medinfo import MedicalInfoRequest, MedicalInfoResult
from sync.store import Store
from tests.fake_services import services_with
from tests.unit.test_clinical import (
    MIC,
    NOW,
    Clock,
    FakeCentral,
    agreed,
    audit_of,
    save_card_visit,
)
from tests.unit.test_clinical_web import PASSWORD, page
from web.app import create_staff_app
from web.auth import SESSION_COOKIE
from web.clinical import refusal_words

DOCTOR = "doctor"
DOWN = CentralUnavailable("中央サービスに接続できません / central service unreachable")


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, tmp_path: Path, *, failures: int = 1) -> None:
        self.clock = Clock(NOW)
        self.monotonic = Monotonic()
        self.store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), self.clock)
        self.central = FakeCentral(self.clock)
        self.bus = EventBus()
        self.reachability = CentralReachability(self.bus, self.clock)
        self.changes: list[BreakerChange] = []

        def listen(change: BreakerChange) -> None:
            self.changes.append(change)
            self.reachability.on_change(change)

        self.breaker = CircuitBreaker(
            cast(Any, self.central),
            failures=failures,
            open_s=30.0,
            clock=self.monotonic,
            listener=listen,
        )
        self.records = ClinicalRecords(
            self.store, self.central, MIC, clock=self.clock, breaker=self.breaker
        )

    def refused(self, confirmation_id: int, kind: str = "drug") -> ClinicalRefused:
        with pytest.raises(ClinicalRefused) as caught:
            self.records.open(confirmation_id, kind, user=DOCTOR)
        return caught.value


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.store.close()


def test_open_circuit_answers_at_once_without_asking(world: World) -> None:
    cid = save_card_visit(world.store, "P010", (agreed("drug"),))
    world.central.error = DOWN
    first = world.refused(cid)
    assert first.reason == "unavailable" and not first.circuit_open
    assert len(world.central.requests) == 1
    assert world.breaker.state is BreakerState.OPEN  # the view's failure counted (failures=1)

    second = world.refused(cid)
    assert second.reason == "unavailable" and second.circuit_open
    assert len(world.central.requests) == 1  # nothing sent: no connect deadline waited
    assert [a[3] for a in audit_of(world.store)] == [
        "drug:unavailable",
        "drug:unavailable circuit_open",
    ]
    words = refusal_words(second)
    assert "接続できない状態" in words.ja and "お薬手帳" in words.ja
    assert "unreachable" in words.en and "Try again" in words.en


def test_open_circuit_still_shows_the_cached_copy(world: World) -> None:
    cid = save_card_visit(world.store, "P010", (agreed("drug"),))
    online = world.records.open(cid, "drug", user=DOCTOR)
    assert not online.from_cache and len(world.central.requests) == 1
    world.central.error = DOWN
    with pytest.raises(CentralUnavailable):
        world.breaker.call(lambda: world.central.medical_info(world.central.requests[0]))
    assert world.breaker.state is BreakerState.OPEN  # opened by another caller
    world.clock.now = NOW + timedelta(hours=2)  # consent still valid
    cached = world.records.open(cid, "drug", user=DOCTOR)
    assert cached.from_cache and cached.fetched_at == NOW
    assert len(world.central.requests) == 2  # the other caller's; the view asked nothing


@pytest.mark.parametrize(
    "error",
    [
        CentralRefused(403, "no consent"),
        CentralUnreadable("broken answer"),
    ],
)
def test_an_answer_never_opens_the_circuit(world: World, error: Exception) -> None:
    cid = save_card_visit(world.store, "P010", (agreed("drug"),))
    world.central.error = error
    for _ in range(3):
        world.refused(cid)
    assert world.breaker.state is BreakerState.CLOSED and world.breaker.failures == 0
    assert world.changes == []


def test_a_consent_refusal_in_the_answer_never_opens_the_circuit(world: World) -> None:
    def refuse(request: MedicalInfoRequest) -> MedicalInfoResult:
        return MedicalInfoResult(
            kind=request.kind,
            process_time="20260401103000",
            medical_institution_code=MIC,
            file_id=request.file_id,
            segment_of_result="9",
            error_code="EK01",
            error_message="同意がありません",
        )

    cid = save_card_visit(world.store, "P010", (agreed("drug"),))
    world.central.answer = refuse
    for _ in range(3):
        assert world.refused(cid).reason == "central"
    assert world.breaker.state is BreakerState.CLOSED and world.changes == []


def test_a_view_failure_counts_with_the_others(tmp_path: Path) -> None:
    w = World(tmp_path, failures=2)
    try:
        cid = save_card_visit(w.store, "P010", (agreed("drug"),))
        w.central.error = DOWN

        def other_caller() -> None:
            raise DOWN

        with pytest.raises(CentralUnavailable):
            w.breaker.call(other_caller)  # e.g. a desk check: 1 of 2
        assert w.breaker.state is BreakerState.CLOSED
        w.refused(cid)  # the view's failure is the second
        assert w.breaker.state is BreakerState.OPEN
        assert w.reachability.current().down
    finally:
        w.store.close()


def test_after_the_open_interval_a_view_is_the_probe(world: World) -> None:
    cid = save_card_visit(world.store, "P010", (agreed("drug"),))
    world.central.error = DOWN
    world.refused(cid)
    assert world.breaker.state is BreakerState.OPEN
    world.monotonic.now += 31  # the open interval has passed
    world.central.error = None  # the central is back
    record = world.records.open(cid, "drug", user=DOCTOR)
    assert not record.from_cache
    assert world.breaker.state is BreakerState.CLOSED
    assert not world.reachability.current().down


# -- the pages --------------------------------------------------------------------------------
@pytest.fixture
def doctor_page(world: World, tmp_path: Path) -> FlaskClient:
    accounts = Accounts(world.store)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path), "kiosk_port": 18081})
    services = services_with(
        config=config,
        store=world.store,
        bus=world.bus,
        flow=cast(Any, None),
        accounts=accounts,
        clinical=world.records,
        reachability=world.reachability,
    )
    browser = create_staff_app(config, services).test_client()
    user = accounts.create_user(DOCTOR, DOCTOR, ("clinical",), PASSWORD, actor="test")
    browser.set_cookie(SESSION_COOKIE, accounts.start_session(user, client="test"))
    return browser


def test_page_while_down_says_since_when_and_offers_to_try_again(
    world: World, doctor_page: FlaskClient
) -> None:
    cid = save_card_visit(world.store, "P010", (agreed("drug"),))
    world.central.error = DOWN
    url = f"/clinical/confirmations/{cid}/drug"
    r = doctor_page.get(url, headers={"Accept-Language": "ja"})
    assert r.status_code == 503
    html = page(r)
    assert world.reachability.current().down_since == NOW
    assert "（10:30から）" in html  # NOW is 10:30 in Japan
    assert "お薬手帳" in html and f'href="{url}"' in html and "もう一度開く" in html
    assert len(world.central.requests) == 1
    r = doctor_page.get(url)  # circuit open: refused at once, nothing sent
    assert r.status_code == 503 and "もう一度開く" in page(r)
    assert len(world.central.requests) == 1


def test_cached_page_while_down_says_what_it_shows(world: World, doctor_page: FlaskClient) -> None:
    cid = save_card_visit(world.store, "P010", (agreed("drug"),))
    url = f"/clinical/confirmations/{cid}/drug"
    assert 'class="cl-offline"' not in page(doctor_page.get(url))  # online: no notice
    world.central.error = DOWN
    world.clock.now = NOW + timedelta(minutes=20)
    with pytest.raises(CentralUnavailable):
        world.breaker.call(lambda: world.central.medical_info(world.central.requests[0]))
    r = doctor_page.get(url)
    assert r.status_code == 200
    html = page(r)
    assert 'class="cl-offline"' in html
    assert "（10:50から）" in html and "10:30に取得した内容" in html
    assert world.reachability.current().down_since == datetime(2026, 4, 1, 1, 50, tzinfo=UTC)
