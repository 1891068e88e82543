"""Synthetic drug and checkup histories (sim/medical.py) and how the simulated central serves
them under consent (sim/central/service.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sim.central.service import CentralService, RequestRejected
from sim.medical import (
    CHECKUP_ITEMS,
    LAG_DAYS,
    NO_DRUG_HISTORY,
    checkup_history,
    drug_history,
)
from sim.population import Person, person, population
from sync.challenge import signed_payload
from sync.clock import JST
from sync.codes import is_insured
from sync.medinfo import (
    MedicalInfoRequest,
    MedicalInfoResult,
    build_medinfo_request,
    build_medinfo_result,
    parse_medinfo_result,
)
from sync.xmlmsg import (
    CardAuthentication,
    ConsentAnswer,
    QualificationRequest,
    QualificationResult,
    build_request,
    parse_result,
)

# Histories, consents, certificates and the service's clock all come from this one instant.
NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 10:00 in Japan
UNTIL = NOW.astimezone(JST).date()
MIC = "1312345670"


def _jst(instant: datetime) -> str:
    return instant.astimezone(JST).strftime("%Y%m%d%H%M%S")


CONSENTED = _jst(NOW - timedelta(minutes=1))  # at the kiosk, a minute before the answer


def _day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _age(born: str, on: date) -> int:
    b = _day(born)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


def _drug_names(p: Person, until: date = UNTIL) -> set[str]:
    return {
        drug.name
        for month in drug_history(p, until)
        for dispensing in month.dispensings
        for drug in dispensing.drugs
    }


# ---------------------------------------------------------------- histories


def test_histories_are_deterministic_and_leave_the_global_random_alone() -> None:
    random.seed(7)
    state = random.getstate()
    for p in population():
        assert drug_history(p, UNTIL) == drug_history(p, UNTIL)
        assert checkup_history(p, UNTIL) == checkup_history(p, UNTIL)
    assert random.getstate() == state


def test_a_month_is_the_same_whatever_the_window() -> None:
    p = person("P004")
    earlier = {m.month: m for m in drug_history(p, UNTIL - timedelta(days=200))}
    later = {m.month: m for m in drug_history(p, UNTIL)}
    shared = set(earlier) & set(later)
    assert len(shared) >= 20
    # the last month of the earlier window may be cut by its own claims lag
    for month in sorted(shared)[:-1]:
        assert earlier[month] == later[month]
    assert {e.date for e in checkup_history(p, UNTIL - timedelta(days=400))} & {
        e.date for e in checkup_history(p, UNTIL)
    }


def test_p001_has_months_of_regular_drugs_and_only_the_checkups_his_age_allows() -> None:
    p = person("P001")
    months = drug_history(p, UNTIL)
    assert len(months) >= 12
    names = _drug_names(p)
    assert len(names) >= 2 and "アムロジピン錠5mg" in names
    refills = [
        d
        for m in months
        for d in m.dispensings
        if any(drug.name == "アムロジピン錠5mg" for drug in d.drugs)
    ]
    gaps = [(_day(b.date) - _day(a.date)).days for a, b in zip(refills, refills[1:], strict=False)]
    assert gaps and all(21 <= gap <= 35 for gap in gaps)  # every 4 weeks, a few days either way
    amlodipine = next(d for d in refills[0].drugs if d.name == "アムロジピン錠5mg")
    assert (amlodipine.ingredient, amlodipine.quantity, amlodipine.unit) == (
        "アムロジピンベシル酸塩",
        "1",
        "錠",
    )
    assert (amlodipine.usage, amlodipine.days) == ("1日1回朝食後", "28")
    assert len(amlodipine.code) == 12
    assert all(d.institution.endswith("店") for m in months for d in m.dispensings)
    for exam in checkup_history(p, UNTIL):
        assert _age(p.birthdate, _day(exam.date)) >= 40
    assert checkup_history(p, date(2026, 4, 1)) == ()  # still 39


@pytest.mark.parametrize("person_id", ["P004", "P010"])
def test_middle_aged_and_older_people_have_drugs_and_yearly_checkups(person_id: str) -> None:
    p = person(person_id)
    assert len(drug_history(p, UNTIL)) >= 12 and len(_drug_names(p)) >= 2
    exams = checkup_history(p, UNTIL)
    assert len(exams) >= 3
    years = [int(e.date[:4]) for e in exams]
    assert years == sorted(set(years))  # one a year, oldest first


def test_checkups_have_every_item_with_codes_units_and_ranges() -> None:
    exams = checkup_history(person("P004"), UNTIL)
    for exam in exams:
        assert [i.name for i in exam.items] == [spec.name for spec in CHECKUP_ITEMS]
        by_name = {i.name: i for i in exam.items}
        assert by_name["HbA1c"].unit == "%" and by_name["HbA1c"].reference
        assert by_name["収縮期血圧"].unit == "mmHg"
        assert by_name["尿糖"].value in ("(-)", "(±)", "(+)") and by_name["尿糖"].unit == ""
        for item in exam.items:
            assert len(item.code) == 17
            if item.unit:
                float(item.value)
        height, weight = float(by_name["身長"].value), float(by_name["体重"].value)
        assert float(by_name["BMI"].value) == pytest.approx(weight / (height / 100) ** 2, abs=0.1)
    # P004 has diabetes: HbA1c above the reference in every exam
    assert all(float(next(i for i in e.items if i.name == "HbA1c").value) > 5.5 for e in exams)


def test_only_ages_40_to_74_get_checkups_and_children_get_acute_courses_only() -> None:
    for p in population():
        for exam in checkup_history(p, UNTIL):
            assert 40 <= _age(p.birthdate, _day(exam.date)) <= 74, p.id
    child = person("P003")
    assert checkup_history(child, UNTIL) == ()
    months = drug_history(child, UNTIL)
    assert months, "a small child sees the paediatrician now and then"
    for month in months:
        for dispensing in month.dispensings:
            assert all(int(drug.days) <= 7 for drug in dispensing.drugs)
            assert all(drug.unit == "g" for drug in dispensing.drugs)
    for elderly in ("P006", "P007", "P012"):
        assert checkup_history(person(elderly), UNTIL) == ()


def test_claims_lag_and_window() -> None:
    latest = UNTIL - timedelta(days=LAG_DAYS)
    oldest_month = "202312"  # 36 months ending with 2026-11
    for p in population():
        for month in drug_history(p, UNTIL):
            assert oldest_month <= month.month <= "202611"
            for dispensing in month.dispensings:
                assert dispensing.date[:6] == month.month
                assert _day(dispensing.date) <= latest
        for exam in checkup_history(p, UNTIL):
            assert date(2021, 11, 22) < _day(exam.date) <= latest
    months = drug_history(person("P001"), UNTIL, months=6)
    assert months and all(m.month >= "202606" for m in months)


def test_some_people_have_no_drug_history() -> None:
    assert NO_DRUG_HISTORY
    for person_id in NO_DRUG_HISTORY:
        assert drug_history(person(person_id), UNTIL) == ()
    with_history = [p for p in population() if drug_history(p, UNTIL)]
    assert len(with_history) > len(population()) * 3 // 4


@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_every_history_survives_the_wire(encoding: str) -> None:
    for p in population():
        for kind, months, exams in (
            ("drug", drug_history(p, UNTIL), ()),
            ("checkup", (), checkup_history(p, UNTIL)),
        ):
            result = MedicalInfoResult(
                kind=kind,
                process_time="20261122101500",
                medical_institution_code=MIC,
                file_id=f"h{p.id}",
                segment_of_result="1",
                start_month="202001",
                end_month="202611",
                months=months,
                exams=exams,
            )
            assert parse_medinfo_result(build_medinfo_result(result, encoding)) == result


# ---------------------------------------------------------------- the service


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def pki(pki_at: Any) -> Any:
    """The test PKI as issued at NOW, so its cards mean to the service what they say."""
    return pki_at(NOW)


@pytest.fixture
def service(pki: Any, clock: Clock) -> Iterator[CentralService]:
    yield CentralService(pki, clock=clock)


def _visit(
    service: CentralService,
    pki: Any,
    person_id: str,
    consents: tuple[ConsentAnswer, ...] = (),
    *,
    method: str = "visual",
    file_id: str | None = None,
    institution: str = MIC,
) -> QualificationResult:
    certificate = pki.card_cert(person_id).read_bytes()
    file_id = file_id or f"v{random.Random().getrandbits(48):x}"
    nonce = signature = b""
    if method == "pin":
        nonce = service.issue_nonce(institution).value
        key = serialization.load_pem_private_key(pki.card_key(person_id).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        payload = signed_payload(nonce, institution, file_id)
        signature = key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    card = CardAuthentication(certificate, nonce, signature, method)
    request = QualificationRequest(
        institution, f"{UNTIL:%Y%m%d}", file_id, "1", card=card, consents=consents
    )
    return parse_result(service.qualify(build_request(request), institution).body)


def _request(person_id: str, kind: str, **changes: str) -> MedicalInfoRequest:
    p = person(person_id)
    request = MedicalInfoRequest(
        kind=kind,
        medical_institution_code=MIC,
        file_id=f"m{random.Random().getrandbits(48):x}",
        insurer_number=p.insurer_number,
        number=p.number,
        birthdate=p.birthdate,
        start_month="202001",
        end_month="202611",
        symbol=p.symbol,
        branch=p.branch,
    )
    return replace(request, **changes)


def _ask(
    service: CentralService, request: MedicalInfoRequest, institution: str = MIC
) -> MedicalInfoResult:
    answer = service.medical_info(build_medinfo_request(request), institution, request.kind)
    assert answer.content_type.startswith("application/xml")
    return parse_medinfo_result(answer.body)


def _agreed(kind: str, at: str = CONSENTED) -> ConsentAnswer:
    return ConsentAnswer(kind, True, at)


def test_no_consent_is_ek01(service: CentralService) -> None:
    result = _ask(service, _request("P001", "drug"))
    assert (result.segment_of_result, result.error_code, result.kind) == ("9", "EK01", "drug")
    assert "同意" in result.error_message and " / " in result.error_message
    assert result.months == () and result.start_month == ""


def test_consent_for_drugs_serves_drugs_but_not_checkups(service: CentralService, pki: Any) -> None:
    assert is_insured(
        _visit(
            service,
            pki,
            "P010",
            (_agreed("drug"), ConsentAnswer("checkup", False, CONSENTED)),
        )
    )
    drug = _ask(service, _request("P010", "drug"))
    assert (drug.segment_of_result, drug.error_code) == ("1", "")
    assert drug.months == drug_history(person("P010"), UNTIL)
    assert (drug.start_month, drug.end_month) == ("202001", "202611")
    checkup = _ask(service, _request("P010", "checkup"))
    assert (checkup.segment_of_result, checkup.error_code) == ("9", "EK01")


def test_other_kind_agreed_is_ek01_for_this_kind(service: CentralService, pki: Any) -> None:
    _visit(service, pki, "P004", (_agreed("checkup"),))
    assert _ask(service, _request("P004", "drug")).error_code == "EK01"
    exams = _ask(service, _request("P004", "checkup")).exams
    assert exams == checkup_history(person("P004"), UNTIL) and len(exams) >= 3


def test_period_limits_the_answer(service: CentralService, pki: Any) -> None:
    _visit(service, pki, "P004", (_agreed("drug"), _agreed("checkup")))
    drug = _ask(service, _request("P004", "drug", start_month="202601", end_month="202603"))
    assert [m.month for m in drug.months] == ["202601", "202602", "202603"]
    exams = _ask(service, _request("P004", "checkup", start_month="202401", end_month="202412"))
    assert [e.date[:4] for e in exams.exams] == ["2024"]


def test_consent_expires_after_24_hours(service: CentralService, pki: Any, clock: Clock) -> None:
    _visit(service, pki, "P001", (_agreed("drug", CONSENTED),))
    assert _ask(service, _request("P001", "drug")).segment_of_result == "1"
    clock.now += timedelta(hours=23, minutes=58)
    assert _ask(service, _request("P001", "drug")).segment_of_result == "1"
    clock.now += timedelta(minutes=2)  # 2026-11-23 10:00 JST: past 09:59 + 24 h
    result = _ask(service, _request("P001", "drug"))
    assert (result.segment_of_result, result.error_code) == ("9", "EK02")
    assert "24" in result.error_message


def test_refused_answer_and_a_later_visit_replacing_consent(
    service: CentralService, pki: Any
) -> None:
    _visit(service, pki, "P001", (ConsentAnswer("drug", False, CONSENTED),))
    assert _ask(service, _request("P001", "drug")).error_code == "EK01"
    _visit(service, pki, "P001", (_agreed("drug"), _agreed("checkup")))
    assert _ask(service, _request("P001", "drug")).segment_of_result == "1"
    # a visit asking only about checkups keeps the drug answer
    _visit(service, pki, "P001", (ConsentAnswer("checkup", False, _jst(NOW)),))
    assert _ask(service, _request("P001", "drug")).segment_of_result == "1"
    assert _ask(service, _request("P001", "checkup")).error_code == "EK01"


def test_consent_is_per_institution(service: CentralService, pki: Any) -> None:
    _visit(service, pki, "P001", (_agreed("drug"),), institution="1399999990")
    assert _ask(service, _request("P001", "drug")).error_code == "EK01"


def test_pin_visit_gives_consent_too(service: CentralService, pki: Any) -> None:
    assert is_insured(_visit(service, pki, "P001", (_agreed("drug"),), method="pin"))
    assert _ask(service, _request("P001", "drug")).segment_of_result == "1"


def test_failed_card_checks_give_no_consent(service: CentralService, pki: Any) -> None:
    result = _visit(service, pki, "P020", (_agreed("drug"),))
    assert result.error_code == "EC05"
    assert _ask(service, _request("P020", "drug")).error_code == "EK01"


def test_unknown_person_is_ek03(service: CentralService) -> None:
    assert _ask(service, _request("P001", "drug", number="99999")).error_code == "EK03"
    assert _ask(service, _request("P016", "checkup")).error_code == "EK03"  # not registered
    assert _ask(service, _request("P017", "drug")).error_code == "EK03"  # two records


def test_padded_kokuho_number_and_missing_branch_still_match(
    service: CentralService, pki: Any
) -> None:
    _visit(service, pki, "P008", (_agreed("drug"),))
    p = person("P008")
    request = _request("P008", "drug", insurer_number="  " + p.insurer_number, branch="")
    assert _ask(service, request).segment_of_result == "1"


def test_http_level_refusals(service: CentralService) -> None:
    body = build_medinfo_request(_request("P001", "drug"))
    with pytest.raises(RequestRejected) as caught:
        service.medical_info(body, MIC, "checkup")
    assert caught.value.status == 400 and "MessageKind" in caught.value.message
    with pytest.raises(RequestRejected) as caught:
        service.medical_info(body, "1399999990", "drug")
    assert caught.value.status == 403
    with pytest.raises(RequestRejected) as caught:
        service.medical_info(
            body.replace(b"<EndDate>", b"<Other>").replace(b"</EndDate>", b"</Other>"), MIC, "drug"
        )
    assert caught.value.status == 400 and "MessageBody/EndDate" in caught.value.message


def test_replay_and_conflict(service: CentralService, pki: Any, clock: Clock) -> None:
    request = _request("P001", "drug")
    body = build_medinfo_request(request)
    first = service.medical_info(body, MIC, "drug")
    _visit(service, pki, "P001", (_agreed("drug"),))
    clock.now += timedelta(minutes=5)
    assert service.medical_info(body, MIC, "drug").body == first.body  # the stored refusal
    other = build_medinfo_request(replace(request, start_month="202501"))
    with pytest.raises(RequestRejected) as caught:
        service.medical_info(other, MIC, "drug")
    assert caught.value.status == 409
    # the same identifier on another endpoint is another request
    checkup = build_medinfo_request(replace(request, kind="checkup"))
    assert (
        parse_medinfo_result(service.medical_info(checkup, MIC, "checkup").body).kind == "checkup"
    )


def test_shift_jis_answers(service: CentralService, pki: Any) -> None:
    service.encoding = "shift_jis"
    _visit(service, pki, "P004", (_agreed("drug"),))
    answer = service.medical_info(build_medinfo_request(_request("P004", "drug")), MIC, "drug")
    assert answer.content_type == "application/xml; charset=Shift_JIS"
    assert b'encoding="Shift_JIS"' in answer.body
    assert parse_medinfo_result(answer.body).months == drug_history(person("P004"), UNTIL)


# ---------------------------------------------------------------- visual confirmation


def test_visual_card_request_is_accepted_without_nonce(service: CentralService, pki: Any) -> None:
    result = _visit(service, pki, "P001")
    assert is_insured(result) and result.results[0].name == person("P001").name


@pytest.mark.parametrize(("person_id", "code"), [("P019", "EC03"), ("P020", "EC05")])
def test_visual_card_request_refuses_expired_and_revoked_certificates(
    service: CentralService, pki: Any, person_id: str, code: str
) -> None:
    result = _visit(service, pki, person_id)
    assert (result.segment_of_result, result.error_code) == ("9", code)


def test_visual_card_request_refuses_certificates_outside_the_chain(
    service: CentralService, pki: Any
) -> None:
    from cryptography import x509

    der = x509.load_pem_x509_certificate(pki.device_cert.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    card = CardAuthentication(der, b"", b"", "visual")
    request = QualificationRequest(MIC, f"{UNTIL:%Y%m%d}", "vis-chain", "1", card=card)
    result = parse_result(service.qualify(build_request(request), MIC).body)
    assert result.error_code == "EC02"
    card = CardAuthentication(b"not a certificate", b"", b"", "visual")
    request = QualificationRequest(MIC, f"{UNTIL:%Y%m%d}", "vis-junk", "1", card=card)
    assert parse_result(service.qualify(build_request(request), MIC).body).error_code == "EC01"


def test_pin_request_without_nonce_is_400(service: CentralService, pki: Any) -> None:
    card = CardAuthentication(pki.card_cert("P001").read_bytes(), b"", b"", "visual")
    body = build_request(QualificationRequest(MIC, f"{UNTIL:%Y%m%d}", "nopin", "1", card=card))
    body = body.replace(b">visual<", b">pin<")
    with pytest.raises(RequestRejected) as caught:
        service.qualify(body, MIC)
    assert caught.value.status == 400 and "Nonce" in caught.value.message


def test_histories_use_the_service_date_in_japan(
    service: CentralService, pki: Any, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # already the 23rd in Japan
    _visit(service, pki, "P004", (_agreed("drug", "20261123000000"),))
    drug = _ask(service, _request("P004", "drug"))
    expected_until = clock.now.astimezone(JST).date()
    assert expected_until == date(2026, 11, 23)
    assert drug.months == drug_history(person("P004"), expected_until)
