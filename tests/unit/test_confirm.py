"""device/confirm.py: the one path from a built request to a stored, published answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from device.confirm import CENTRAL_REASONS, ConfirmationFailed, Confirmations
from device.events import ConfirmationStored, Event, EventBus, Subscription
from device.reasons import EndReason
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Confirmation, Store, StoreFullError, VisitRecord
from sync.transport import (
    CentralAnswer,
    CentralError,
    CentralFault,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
)
from sync.xmlmsg import (
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_result,
    parse_result,
)

NOW = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
REQUEST = QualificationRequest(
    medical_institution_code="1312345670",
    confirmation_date="20260401",
    file_id="f0c0ffee",
    reference_classification="2",
    search=SearchInfo("06139015", "12", "19800401"),
)
RESULT = QualificationResult(
    process_time="20260401093000",
    confirmation_date="20260401",
    medical_institution_code="1312345670",
    file_id=REQUEST.file_id,
    reference_classification="2",
    segment_of_result="1",
    processing_status="1",
    validity="4",
)
ANSWER = CentralAnswer(RESULT, build_result(RESULT), 0.01)

# One error of every kind the transport may raise, and how it is logged.
FAILURES: list[tuple[CentralError, int]] = [
    (CentralUnavailable("no route"), logging.WARNING),
    (CentralRefused(400, "bad request"), logging.WARNING),
    (CentralUnreadable("not XML"), logging.WARNING),
    (CentralUntrusted("unknown CA"), logging.ERROR),
]


class ScriptedTransport:
    """Answers ANSWER, or raises the error it was given; counts the calls."""

    def __init__(self, error: CentralError | None = None) -> None:
        self.error = error
        self.asked: list[QualificationRequest] = []
        self.nonces = 0

    def nonce(self) -> bytes:
        self.nonces += 1
        if self.error is not None:
            raise self.error
        return b"n" * 32

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        self.asked.append(request)
        if self.error is not None:
            raise self.error
        return ANSWER


class RecordingStore:
    """Keeps what it is asked to save; fails the test when handed an answer to parse again."""

    def __init__(self, full: bool = False) -> None:
        self.saved: list[dict[str, Any]] = []
        self.full = full

    def save_confirmation(self, **kwargs: Any) -> Confirmation:
        if kwargs.get("result") is None:
            pytest.fail("the store was handed the raw answer to parse again")
        if self.full:
            raise StoreFullError(0, reserve_left=False)
        self.saved.append(kwargs)
        visit = kwargs.get("visit")
        return Confirmation(
            len(self.saved),
            kwargs["file_id"],
            visit.id if visit is not None else None,
            NOW,
            kwargs["kind"],
            kwargs["method"],
            "online",
            "VALID",
            kwargs["result"],
        )


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def events(bus: EventBus) -> Iterator[Subscription]:
    sub = bus.subscribe()
    yield sub
    sub.close()


def confirmations(transport: object, store: object, bus: EventBus) -> Confirmations:
    return Confirmations(transport=cast(Any, transport), store=cast(Store, store), bus=bus)


def published(events: Subscription) -> list[Event]:
    return list(events.drain())


def test_every_central_fault_has_its_reason() -> None:
    assert set(CENTRAL_REASONS) == set(CentralFault)
    assert len(set(CENTRAL_REASONS.values())) == len(CentralFault)


@pytest.mark.parametrize(("error", "level"), FAILURES, ids=lambda v: type(v).__name__)
def test_a_failure_becomes_its_reason_is_logged_once_and_nothing_is_stored(
    error: CentralError,
    level: int,
    bus: EventBus,
    events: Subscription,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RecordingStore()
    path = confirmations(ScriptedTransport(error), store, bus)
    with caplog.at_level(logging.INFO, logger="device.confirm"):
        with pytest.raises(ConfirmationFailed) as failed:
            path.confirm(REQUEST, kind="numbers", method="numbers", actor="desk", label="check x")
    assert failed.value.reason is CENTRAL_REASONS[error.fault]
    assert failed.value.cause is error and failed.value.request is REQUEST
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, f"check x: {error}")]
    assert store.saved == [] and published(events) == []


@pytest.mark.parametrize(("error", "level"), FAILURES, ids=lambda v: type(v).__name__)
def test_a_nonce_that_does_not_come_is_a_reason_too(
    error: CentralError, level: int, bus: EventBus
) -> None:
    with pytest.raises(ConfirmationFailed) as failed:
        confirmations(ScriptedTransport(error), RecordingStore(), bus).nonce(label="visit 1")
    assert failed.value.reason is CENTRAL_REASONS[error.fault] and failed.value.request is None


def test_an_answer_is_stored_once_with_its_parsed_result_and_published_once(
    bus: EventBus, events: Subscription
) -> None:
    transport, store = ScriptedTransport(), RecordingStore()
    stored = confirmations(transport, store, bus).confirm(
        REQUEST, kind="numbers", method="numbers", actor="desk", label="check x"
    )
    assert transport.asked == [REQUEST]
    assert len(store.saved) == 1
    saved = store.saved[0]
    assert saved["result"] is RESULT and saved["raw_result"] == ANSWER.raw
    assert (saved["file_id"], saved["kind"], saved["method"], saved["actor"]) == (
        REQUEST.file_id,
        "numbers",
        "numbers",
        "desk",
    )
    assert saved["visit"] is None
    assert published(events) == [ConfirmationStored(stored.id, None)]


def test_a_visit_is_stored_with_its_answer_and_named_in_the_event(
    bus: EventBus, events: Subscription
) -> None:
    store = RecordingStore()
    visit = VisitRecord("v1", NOW, NOW, "reader 0", "pin", "done", file_id="f1")
    order: list[str] = []
    path = confirmations(ScriptedTransport(), store, bus)
    stored = path.keep(
        ANSWER,
        file_id="f1",
        kind="card",
        method="pin",
        actor="reader",
        visit=visit,
        before_publish=lambda c: order.append(f"saved {c.id}, told {len(published(events))}"),
    )
    assert store.saved[0]["visit"] is visit
    assert order == [f"saved {stored.id}, told 0"]  # the hook runs before the desk hears of it
    assert published(events) == [ConfirmationStored(stored.id, "v1")]


def test_an_answer_that_cannot_be_saved_is_not_published(
    bus: EventBus, events: Subscription
) -> None:
    path = confirmations(ScriptedTransport(), RecordingStore(full=True), bus)
    with pytest.raises(StoreFullError):
        path.confirm(REQUEST, kind="numbers", method="numbers", actor="desk", label="check x")
    assert published(events) == []


def test_the_runner_runs_the_call_and_its_own_errors_pass_through(bus: EventBus) -> None:
    class Abandoned(Exception):
        pass

    transport = ScriptedTransport()
    ran: list[str] = []

    def run(call: Callable[[], CentralAnswer]) -> CentralAnswer:
        ran.append("run")
        return call()

    path = confirmations(transport, RecordingStore(), bus)
    assert path.ask(REQUEST, label="visit 1", run=run) is ANSWER and ran == ["run"]

    def abandon(call: Callable[[], CentralAnswer]) -> CentralAnswer:
        raise Abandoned()

    with pytest.raises(Abandoned):
        path.ask(REQUEST, label="visit 1", run=abandon)


def test_the_answer_is_parsed_once_on_its_way_from_the_wire_to_the_store(
    tmp_path: Path, bus: EventBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []

    def counting(where: str, parse: Callable[[bytes], QualificationResult]) -> Any:
        def wrapper(raw: bytes) -> QualificationResult:
            parsed.append(where)
            return parse(raw)

        return wrapper

    monkeypatch.setattr("sync.central.parse_result", counting("central", parse_result))
    monkeypatch.setattr("sync.store.visits.parse_result", counting("store", parse_result))
    central = CentralClient(
        "https://central.test",
        verify=False,
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=ANSWER.raw)),
        sleep=lambda s: None,
    )
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    try:
        stored = Confirmations(transport=central, store=store, bus=bus).confirm(
            REQUEST, kind="numbers", method="numbers", actor="desk", label="check x"
        )
        assert parsed == ["central"]
        assert stored.result == RESULT and stored.file_id == REQUEST.file_id
    finally:
        store.close()
        central.close()


def test_reasons_are_the_ones_the_pages_know() -> None:
    assert {r.value for r in CENTRAL_REASONS.values()} <= {r.value for r in EndReason}


def test_every_answer_is_told_as_it_arrives_and_a_failure_is_not(bus: EventBus) -> None:
    heard: list[CentralAnswer] = []
    path = Confirmations(
        transport=cast(Any, ScriptedTransport()),
        store=cast(Store, RecordingStore()),
        bus=bus,
        on_answer=heard.append,
    )
    path.ask(REQUEST, label="check x")
    assert heard == [ANSWER]  # the clock check learns the central's time from its stamp
    failing = Confirmations(
        transport=cast(Any, ScriptedTransport(CentralUnavailable("down"))),
        store=cast(Store, RecordingStore()),
        bus=bus,
        on_answer=heard.append,
    )
    with pytest.raises(ConfirmationFailed):
        failing.ask(REQUEST, label="check y")
    assert heard == [ANSWER]
