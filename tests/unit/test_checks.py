"""device/checks.py: insurance-number checks typed at the desk, with a fake central service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from device.checks import (
    CheckFailed,
    ConfirmationNotFound,
    InputRejected,
    ManualChecks,
    NumbersInput,
)
from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus, Subscription
from sync.central import (
    CentralAnswer,
    CentralClient,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import (
    LimitInfo,
    Qualification,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_result,
    parse_result,
)
from web.field_errors import field_errors_text

MIC = "1312345670"
NOW = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)  # 2026-04-01 00:30 in Japan: "today" is JST's
KYOKAI = "01130012"  # 0113001 + check digit 2
KOKUHO = "131128"  # 6-digit 国保: 13112 + check digit 8


def typed(**changes: str | bool) -> NumbersInput:
    base = NumbersInput(KYOKAI, "40199901", "11", "", "19830807")
    return replace(base, **changes)  # type: ignore[arg-type]


class FakeCentral:
    """Answers every search as one valid person with the numbers asked (or 該当資格なし)."""

    def __init__(self, not_found: bool = False, error: Exception | None = None) -> None:
        self.requests: list[QualificationRequest] = []
        self.not_found = not_found
        self.error = error

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        assert request.search is not None
        s = request.search
        person = Qualification(
            card_classification="01",
            insurer_number=s.insurer_number.removeprefix("00"),  # 国保 as its 6 digits
            symbol=s.symbol,
            number=s.number,
            branch=s.branch or "00",
            name="井上　健一",
            name_kana="イノウエ　ケンイチ",
            birthdate=s.birthdate,
            contribution_ratio="030",
            limit=LimitInfo("01", "A03", "20250801", "20250801", "20260731")
            if s.limit_consent
            else None,
        )
        result = QualificationResult(
            process_time="20260401093000",
            confirmation_date=request.confirmation_date,
            medical_institution_code=request.medical_institution_code,
            file_id=request.file_id,
            reference_classification=request.reference_classification,
            segment_of_result="1",
            processing_status="1",
            validity="4" if self.not_found else "1",
            search=s,
            results=() if self.not_found else (person,),
        )
        return CentralAnswer(result, build_result(result), 0.01)


class NoCentral:
    """Fails the test if anything is sent."""

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        pytest.fail("a request was sent although the input was invalid")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    yield s
    s.close()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def events(bus: EventBus) -> Iterator[Subscription]:
    sub = bus.subscribe()
    yield sub
    sub.close()


def checks_with(central: object, store: Store, bus: EventBus) -> ManualChecks:
    return ManualChecks(
        medical_institution_code=MIC,
        confirmations=Confirmations(transport=cast(CentralClient, central), store=store, bus=bus),
        store=store,
        clock=lambda: NOW,
    )


def rejected(checks: ManualChecks, value: NumbersInput) -> dict[str, str]:
    """The field errors in the words the desk shows them."""
    with pytest.raises(InputRejected) as caught:
        checks.check(value, actor="reception")
    return field_errors_text(caught.value.errors)


# -- validation: nothing is sent unless everything is right ------------------------------
def test_wrong_check_digit_is_refused_before_any_request(store: Store, bus: EventBus) -> None:
    checks = checks_with(NoCentral(), store, bus)
    errors = rejected(checks, typed(insurer_number="01130013"))
    assert list(errors) == ["insurer_number"]
    # the digit at fault and the one expected are named
    assert "8桁目: 3 → 2" in errors["insurer_number"]
    assert "digit 8" in errors["insurer_number"] and "expected 2" in errors["insurer_number"]
    assert store.count_confirmations() == 0


def test_all_errors_at_once(store: Store, bus: EventBus) -> None:
    checks = checks_with(NoCentral(), store, bus)
    errors = rejected(
        checks,
        NumbersInput(
            insurer_number="1234567",
            symbol="記" * 21,
            number="",
            branch="123",
            birthdate="1970-13-01",
            care_date="2026-04-02",
        ),
    )
    assert set(errors) == {"insurer_number", "symbol", "number", "branch", "birthdate", "care_date"}
    assert "6桁または8桁" in errors["insurer_number"]
    assert "番号が入力されていません" in errors["number"]
    assert "2桁" in errors["branch"]
    assert "存在しない日付" in errors["birthdate"]
    assert "未来" in errors["care_date"] and "future" in errors["care_date"]
    for message in errors.values():
        assert " / " in message  # Japanese first, English beside it


def test_birthdate_after_the_date_of_care_is_refused(store: Store, bus: EventBus) -> None:
    checks = checks_with(NoCentral(), store, bus)
    errors = rejected(checks, typed(birthdate="2026-03-01", care_date="2026-02-01"))
    assert list(errors) == ["birthdate"]


@pytest.mark.parametrize("birthdate", ["2026-04-02", "R8.4.2", "R99.1.1"])
def test_future_birthdate_is_refused_against_the_injected_clock(
    store: Store, bus: EventBus, birthdate: str
) -> None:
    checks = checks_with(NoCentral(), store, bus)  # today is 2026-04-01 in Japan (NOW)
    errors = rejected(checks, typed(birthdate=birthdate))
    assert list(errors) == ["birthdate"] and "in the future" in errors["birthdate"]


def test_birthdate_with_arabic_indic_digits_is_refused(store: Store, bus: EventBus) -> None:
    checks = checks_with(NoCentral(), store, bus)
    errors = rejected(checks, typed(birthdate="١٩٨٣٠٨٠٧", care_date="٢٠٢٦٠٤٠١"))
    assert set(errors) == {"birthdate", "care_date"}
    assert "digit of another script" in errors["birthdate"]


@pytest.mark.parametrize("care_date", ["2026-04-02", "R8.4.2", "20270101"])
def test_future_date_of_care_is_refused(store: Store, bus: EventBus, care_date: str) -> None:
    checks = checks_with(NoCentral(), store, bus)
    assert list(rejected(checks, typed(care_date=care_date))) == ["care_date"]


def test_unreadable_date_of_care(store: Store, bus: EventBus) -> None:
    checks = checks_with(NoCentral(), store, bus)
    errors = rejected(checks, typed(care_date="yesterday"))
    assert "診療日の形式が違います" in errors["care_date"]


# -- the request -----------------------------------------------------------------------------
def test_request_is_a_numbers_query_for_today_in_japan(
    store: Store, bus: EventBus, events: Subscription
) -> None:
    central = FakeCentral()
    checks = checks_with(central, store, bus)
    stored = checks.check(typed(branch="1"), actor="reception")
    (request,) = central.requests
    assert request.reference_classification == "2"
    assert request.medical_institution_code == MIC
    assert request.confirmation_date == "20260401"  # JST, although UTC is still 2026-03-31
    assert request.card is None
    assert request.search == SearchInfo(KYOKAI, "11", "19830807", "40199901", "01", False)
    assert stored.file_id == request.file_id
    assert (stored.kind, stored.method, stored.badge) == ("numbers", "numbers", "VALID")
    assert list(events.drain()) == [ConfirmationStored(stored.id, None)]
    assert store.confirmation(stored.id) is not None
    last = store.audit_entries(1)[0]
    assert (last.actor, last.action, last.subject) == (
        "reception",
        "confirmation.stored",
        f"confirmation:{stored.id}",
    )


def test_each_check_has_a_fresh_file_id(store: Store, bus: EventBus) -> None:
    central = FakeCentral()
    checks = checks_with(central, store, bus)
    checks.check(typed(), actor="reception")
    checks.check(typed(), actor="reception")
    first, second = central.requests
    assert first.file_id != second.file_id
    assert store.count_confirmations() == 2


def test_date_of_care_in_the_past_is_the_confirmation_date(store: Store, bus: EventBus) -> None:
    central = FakeCentral()
    checks_with(central, store, bus).check(typed(care_date="R8.3.30"), actor="reception")
    assert central.requests[0].confirmation_date == "20260330"


def test_six_digit_kokuho(store: Store, bus: EventBus) -> None:
    central = FakeCentral()
    stored = checks_with(central, store, bus).check(
        typed(insurer_number=KOKUHO, symbol="世田谷", number="0456123"), actor="reception"
    )
    search = central.requests[0].search
    assert search is not None
    assert search.insurer_number == "00" + KOKUHO  # padded to 8 on the wire
    assert search.symbol == "世田谷"
    assert stored.badge == "VALID"
    # found again by the numbers as typed
    assert [c.id for c in store.find_by_numbers(KOKUHO, "世田谷", "0456123")] == [stored.id]


def test_full_width_input_is_the_same_request(store: Store, bus: EventBus) -> None:
    central = FakeCentral()
    checks = checks_with(central, store, bus)
    checks.check(typed(branch="00"), actor="reception")
    checks.check(
        NumbersInput(
            insurer_number="０１１３　００１２",
            symbol="４０１９９９０１",
            number="１１",
            branch="００",
            birthdate="１９８３－０８－０７",
            care_date="２０２６／４／１",
        ),
        actor="reception",
    )
    half, full = central.requests
    assert full.search == half.search
    assert full.confirmation_date == half.confirmation_date


@pytest.mark.parametrize(
    ("birthdate", "expected"),
    [
        ("R2.4.1", "20200401"),
        ("令和2年4月1日", "20200401"),
        ("r2.4.1", "20200401"),
        ("S45.12.3", "19701203"),
        ("昭和45年12月3日", "19701203"),
        ("1970-12-03", "19701203"),
        ("19701203", "19701203"),
        ("1970/12/3", "19701203"),
        ("Ｓ４５．１２．３", "19701203"),
    ],
)
def test_birthdate_formats(store: Store, bus: EventBus, birthdate: str, expected: str) -> None:
    central = FakeCentral()
    checks_with(central, store, bus).check(typed(birthdate=birthdate), actor="reception")
    search = central.requests[0].search
    assert search is not None and search.birthdate == expected


def test_limit_consent_is_asked_only_when_given(store: Store, bus: EventBus) -> None:
    central = FakeCentral()
    checks = checks_with(central, store, bus)
    without = checks.check(typed(), actor="reception")
    with_limit = checks.check(typed(limit_consent=True), actor="reception")
    assert [r.search.limit_consent for r in central.requests if r.search] == [False, True]
    assert without.result.results[0].limit is None
    assert with_limit.result.results[0].limit is not None


# -- central failures --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (CentralUnavailable("down"), "central_unavailable"),
        (CentralRefused(403, "institution mismatch"), "central_refused"),
        # Neither "try later" nor "refused": each its own category for staff.
        (CentralUnreadable("answer too large"), "central_unreadable"),
        (CentralUntrusted("certificate verify failed"), "central_untrusted"),
    ],
)
def test_central_failure_stores_nothing(
    store: Store, bus: EventBus, events: Subscription, error: Exception, reason: str
) -> None:
    checks = checks_with(FakeCentral(error=error), store, bus)
    with pytest.raises(CheckFailed) as caught:
        checks.check(typed(), actor="reception")
    assert caught.value.reason == reason
    assert store.count_confirmations() == 0
    assert list(events.drain()) == []


# -- re-check ------------------------------------------------------------------------------------
def card_visit(store: Store) -> int:
    """A stored My Number card visit for 井上 健一 (ReferenceClassification 1, no search echo)."""
    result = QualificationResult(
        process_time="20260325093000",
        confirmation_date="20260325",
        medical_institution_code=MIC,
        file_id="card1",
        reference_classification="1",
        segment_of_result="1",
        processing_status="1",
        validity="1",
        results=(
            Qualification(
                insurer_number=KYOKAI,
                symbol="40199901",
                number="11",
                branch="00",
                name_kana="イノウエ　ケンイチ",
                birthdate="19830807",
                limit=LimitInfo("01", "A03"),
            ),
        ),
    )
    return store.save_confirmation(
        file_id="card1",
        raw_result=build_result(result),
        result=parse_result(build_result(result)),
        kind="card",
        method="pin",
        actor="reader",
    ).id


def test_recheck_of_a_card_visit_asks_by_numbers_today(
    store: Store, bus: EventBus, events: Subscription
) -> None:
    central = FakeCentral()
    original = card_visit(store)
    again = checks_with(central, store, bus).recheck(original, actor="reception")
    (request,) = central.requests
    assert request.reference_classification == "2"
    assert request.confirmation_date == "20260401"
    # the numbers of the answer; the 限度額 block it carried means the patient shared it
    assert request.search == SearchInfo(KYOKAI, "11", "19830807", "40199901", "00", True)
    assert again.id != original
    assert (again.kind, again.method) == ("numbers", "numbers")
    assert list(events.drain()) == [ConfirmationStored(again.id, None)]


def test_recheck_of_a_not_found_answer_uses_the_search_echo(store: Store, bus: EventBus) -> None:
    first_try = checks_with(FakeCentral(not_found=True), store, bus).check(
        typed(insurer_number=KOKUHO, symbol="世田谷", number="0456123", branch="00"),
        actor="reception",
    )
    assert first_try.badge == "NOT_FOUND"
    central = FakeCentral()
    again = checks_with(central, store, bus).recheck(first_try.id, actor="reception")
    search = central.requests[0].search
    assert search is not None
    assert (search.insurer_number, search.symbol, search.number) == (
        "00" + KOKUHO,
        "世田谷",
        "0456123",
    )
    assert again.badge == "VALID"


def test_recheck_needs_numbers(store: Store, bus: EventBus) -> None:
    failed = QualificationResult(
        process_time="20260401093000",
        confirmation_date="20260401",
        medical_institution_code=MIC,
        file_id="bad1",
        reference_classification="1",
        segment_of_result="9",
        error_code="EC03",
        error_message="電子証明書の有効期限が切れています",
    )
    stored = store.save_confirmation(
        file_id="bad1",
        raw_result=build_result(failed),
        result=parse_result(build_result(failed)),
        kind="card",
        method="pin",
        actor="reader",
    )
    checks = checks_with(NoCentral(), store, bus)
    with pytest.raises(InputRejected) as caught:
        checks.recheck(stored.id, actor="reception")
    assert list(caught.value.errors) == ["confirmation"]
    with pytest.raises(ConfirmationNotFound):
        checks.recheck(9999, actor="reception")
