"""公費 and 医療扶助 in answers: the PublicExpenseResultList parsed and built (both encodings,
optional parts, malformed tickets named by their tag path), the simulator's 生活保護 / 難病 /
乳幼児医療 people, and the desk row and detail page in both languages."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from flask.testing import FlaskClient

from sim.central.service import CentralService
from sim.grants import INFANT_SETAGAYA, INTRACTABLE_TOKYO, OTHER_CLINIC
from sim.population import person, population
from sync.codes import (
    PublicExpenseKind,
    Verdict,
    is_medical_aid,
    public_expense_kind,
    ticket_current,
    verdict,
)
from sync.facefile import face_file_bytes
from sync.fhir import PUBLIC_PAYER_SYSTEM, PUBLIC_RECIPIENT_SYSTEM, coverage_eligibility_response
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import (
    MedicalTicket,
    MessageError,
    PublicExpense,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_request,
    build_result,
    parse_result,
    public_number_problem,
)
from web.labels import PUBLIC_EXPENSE_KIND, PUBLIC_EXPENSE_SHORT
from web.present import confirmation_row, public_expense_marks

from .test_desk import Desk, desk
from .test_read_api import FHIR, JSON, Api, api, check_bindings
from .test_read_api import save as save_for_api
from .test_web import qualification, result, save
from .test_words import both

__all__ = ["api", "desk"]  # fixtures; desk on this module's store (a fixed clock)

MIC = "1312345670"
# 2026-06-15 10:30 JST: the June tickets are current, May's are over.
NOW = datetime(2026, 6, 15, 1, 30, tzinfo=UTC)
TODAY = date(2026, 6, 15)

INTRACTABLE = PublicExpense("54131008", "1234566", "20251001", "20260930")
TICKET = MedicalTicket(
    ticket_type="01",
    valid_date="20260601",
    expiration_date="20260630",
    issue_number="2606-00512",
    treatment_month="202606",
    institution_code=OTHER_CLINIC[0],
    institution_flag="1",
    institution_name=OTHER_CLINIC[1],
    prescriber_code="1319999990",
    prescriber_name="処方 医院",
    injury_names=("高血圧症", "", "糖尿病"),
    treatment_type="02",
    self_pay_amount="3000",
    district_contact="地区 担当",
    handling_contact="取扱 担当",
    single_or_combined="1",
    social_insurance="なし",
    consistency_flag="0",
    infection="0",
    elderly_care="0",
    prefectural="0",
    remarks=("𠮷の字も運ぶ", "", "三行目"),
)


def aid(**changes: Any) -> Any:
    base: dict[str, Any] = dict(
        card_classification="A1",
        insurer_number="12133005",
        symbol="",
        number="4012365",
        contribution_ratio="",
        insurer_name="世田谷区福祉事務所",
        medical_tickets=(TICKET,),
    )
    base.update(changes)
    return qualification(**base)


# -- the wire format ------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_public_expense_and_tickets_round_trip(encoding: str) -> None:
    res = result(aid(public_expenses=(INTRACTABLE,)))
    body = build_result(res, encoding)
    assert parse_result(body) == res
    assert b"<PublicExpenseResultList>" in body and b"<MedicalTicketInfo>" in body
    assert b"<Remarks3>" in body and b"<Remarks2>" not in body  # positions kept
    assert b"<StatusOfInfecton>" in body  # the wire's own spelling


def test_optional_parts_may_be_missing() -> None:
    bare = result(qualification(public_expenses=(PublicExpense("54131008", "1234566"),)))
    body = build_result(bare)
    assert b"PublicExpenseValidStartDate" not in body and b"MedicalTicketInfo" not in body
    assert parse_result(body) == bare
    ticket_only = result(aid(medical_tickets=(MedicalTicket(ticket_type="02"),)))
    assert parse_result(build_result(ticket_only)) == ticket_only
    # no list at all: nothing else changes
    plain = result(qualification())
    assert b"PublicExpenseResultList" not in build_result(plain)
    assert parse_result(build_result(plain)).results[0].public_expenses == ()


def _with_ticket(fragment: str) -> bytes:
    body = build_result(result(aid(medical_tickets=(MedicalTicket(ticket_type="01"),))))
    return body.replace(b"<TicketType>01</TicketType>", fragment.encode())


@pytest.mark.parametrize(
    ("fragment", "tag"),
    [
        (
            "<TicketType>01</TicketType><MedicalTreatmentMonth>202613</MedicalTreatmentMonth>",
            "MedicalTreatmentMonth",
        ),
        ("<MedicalTicketValidDate>2026-06-01</MedicalTicketValidDate>", "MedicalTicketValidDate"),
        (
            "<DesignatedMedicalInstitutionFlag>2</DesignatedMedicalInstitutionFlag>",
            "DesignatedMedicalInstitutionFlag",
        ),
        ("<SelfPayAmount>3,000</SelfPayAmount>", "SelfPayAmount"),
        (
            "<DesignatedMedicalInstitutionCode>13123</DesignatedMedicalInstitutionCode>",
            "DesignatedMedicalInstitutionCode",
        ),
    ],
)
def test_a_malformed_ticket_is_refused_with_its_tag_path(fragment: str, tag: str) -> None:
    with pytest.raises(MessageError) as refused:
        parse_result(_with_ticket(fragment))
    path = (
        "MessageBody/ResultList/ResultOfQualificationConfirmation[1]/"
        f"PublicExpenseResultList/MedicalTicketInfo[1]/{tag}"
    )
    assert refused.value.path == path
    assert path in str(refused.value)


def test_a_public_expense_without_its_numbers_is_refused() -> None:
    body = build_result(result(qualification(public_expenses=(INTRACTABLE,))))
    with pytest.raises(MessageError) as refused:
        parse_result(body.replace(b"<RecipientNumber>1234566</RecipientNumber>", b""))
    assert refused.value.path is not None and refused.value.path.endswith(
        "PublicExpenseInfo[1]/RecipientNumber"
    )
    with pytest.raises(MessageError):
        parse_result(body.replace(b"54131008", b"5413100"))  # 7 digits


def test_check_digits_are_flagged_not_refused() -> None:
    assert public_number_problem("54131008", 8) is None
    assert public_number_problem("54131009", 8) == "check_digit"
    assert public_number_problem("5413100", 8) == "length"
    assert public_number_problem("５４１３１００８", 8) == "length"  # full width: not on the wire
    with pytest.raises(MessageError, match="PublicExpenseNumber"):
        build_result(result(qualification(public_expenses=(PublicExpense("5413100", "1234566"),))))
    with pytest.raises(MessageError, match="RecipientNumber"):
        build_result(result(qualification(public_expenses=(PublicExpense("54131008", "123"),))))
    # a wrong check digit from the central is kept as sent (the page flags it) and can be
    # written again (the face files for the receipt computer)
    body = build_result(result(qualification(public_expenses=(INTRACTABLE,))))
    read = parse_result(body.replace(b"54131008", b"54131009"))
    assert read.results[0].public_expenses[0].number == "54131009"
    assert parse_result(build_result(read)) == read


def test_codes_and_meanings() -> None:
    assert public_expense_kind("12133005") is PublicExpenseKind.MEDICAL_AID
    assert public_expense_kind("54131008") is PublicExpenseKind.INTRACTABLE_DISEASE
    assert public_expense_kind(INFANT_SETAGAYA) is PublicExpenseKind.LOCAL
    assert public_expense_kind("28131002") is PublicExpenseKind.OTHER
    assert is_medical_aid(aid()) and not is_medical_aid(qualification())
    assert ticket_current(TICKET, TODAY) and ticket_current(TICKET, None)
    assert not ticket_current(TICKET, date(2026, 7, 1))
    assert not ticket_current(TICKET, date(2026, 5, 31))


@pytest.mark.parametrize("kind", list(PublicExpenseKind), ids=str)
def test_every_public_expense_kind_has_words(kind: PublicExpenseKind) -> None:
    both(PUBLIC_EXPENSE_KIND[kind])
    both(PUBLIC_EXPENSE_SHORT[kind])


# -- the simulator's people -----------------------------------------------------------------
def _ask(service: CentralService, p: Any, on: str = "20260615") -> QualificationResult:
    request = QualificationRequest(
        medical_institution_code=MIC,
        confirmation_date=on,
        file_id=f"pe{p.id}{on}",
        reference_classification="2",
        search=SearchInfo(p.insurer_number, p.number, p.birthdate, symbol=p.symbol),
    )
    return parse_result(service.qualify(build_request(request), MIC).body)


@pytest.fixture(scope="module")
def service(pki_at: Any) -> CentralService:
    return CentralService(pki_at(NOW), clock=lambda: NOW)


def test_population_has_the_public_expense_people() -> None:
    people = population()
    assert len(people) == 55
    aid_people = [p for p in people if p.card_classification == "A1"]
    assert {p.id for p in aid_people} == {"P023", "P051", "P052", "P053"}
    assert {p.validity for p in aid_people} == {"1", "6"}
    assert any(t.elsewhere[0] for p in aid_people for t in p.aid_tickets)
    for p in people:
        for g in p.grants:
            assert public_number_problem(g.number, 8) is None, p.id
            assert public_number_problem(g.recipient, 7) is None, p.id
        if p.aid_tickets:
            assert public_number_problem(p.number, 7) is None, p.id


def test_aid_ticket_for_the_month_asked_naming_this_clinic(service: CentralService) -> None:
    res = _ask(service, person("P051"))
    assert verdict(res) is Verdict.VALID
    (q,) = res.results
    assert q.card_classification == "A1" and q.insurer_number.startswith("12")
    (t,) = q.medical_tickets
    assert (t.treatment_month, t.valid_date, t.expiration_date) == (
        "202606",
        "20260601",
        "20260630",
    )
    assert (t.institution_code, t.institution_flag) == (MIC, "0")
    # another month, another ticket; February has 28 days
    (t,) = _ask(service, person("P051"), "20270210").results[0].medical_tickets
    assert (t.treatment_month, t.expiration_date) == ("202702", "20270228")


def test_aid_ticket_naming_another_clinic(service: CentralService) -> None:
    (t,) = _ask(service, person("P052")).results[0].medical_tickets
    assert (t.institution_code, t.institution_flag, t.institution_name) == (
        OTHER_CLINIC[0],
        "1",
        OTHER_CLINIC[1],
    )
    assert t.self_pay_amount == "3000"


def test_aid_unregistered_with_last_months_ticket(service: CentralService) -> None:
    res = _ask(service, person("P053"), "20260105")
    assert verdict(res) is Verdict.UNREGISTERED_AID and res.validity == "6"
    (t,) = res.results[0].medical_tickets
    assert (t.treatment_month, t.expiration_date) == ("202512", "20251231")
    assert not ticket_current(t, date(2026, 1, 5))


def test_intractable_and_infant_public_expense(service: CentralService) -> None:
    (q,) = _ask(service, person("P054")).results
    assert q.contribution_ratio == "030" and not q.medical_tickets
    assert [e.number for e in q.public_expenses] == [INTRACTABLE_TOKYO]
    assert INTRACTABLE_TOKYO.startswith("54")
    (q,) = _ask(service, person("P055")).results
    assert q.preschool and [e.number for e in q.public_expenses] == [INFANT_SETAGAYA]


@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_sim_answers_round_trip(pki_at: Any, encoding: str) -> None:
    service = CentralService(pki_at(NOW), encoding=encoding, clock=lambda: NOW)
    for pid in ("P051", "P052", "P053", "P054", "P055"):
        res = _ask(service, person(pid))
        assert parse_result(build_result(res, encoding)) == res


# -- the desk row ---------------------------------------------------------------------------
def test_row_marker_and_warnings() -> None:
    marks = public_expense_marks(aid(public_expenses=(INTRACTABLE,)), "ja", TODAY)
    assert marks.text == "医療扶助 ・ 公費 難病"
    assert marks.warning == "医療券：指定医療機関 不一致"
    assert "54131008" in marks.title and "1234566" in marks.title
    en = public_expense_marks(aid(medical_tickets=()), "en", TODAY)
    assert en.text == "Medical aid" and en.warning == "No ticket"
    late = public_expense_marks(aid(), "ja", date(2026, 7, 1))
    assert "医療券 期限切れ" in late.warning
    none = public_expense_marks(qualification(), "ja", TODAY)
    assert none == type(none)("", "", "")


# -- the detail page, through the Flask test client ------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    yield s
    s.close()


def _page(client: FlaskClient, path: str) -> str:
    return html.unescape(client.get(path).get_data(as_text=True))


def test_detail_page_lists_public_expenses_and_tickets(desk: Desk) -> None:
    expired = MedicalTicket(
        ticket_type="02",
        valid_date="20260501",
        expiration_date="20260531",
        treatment_month="202605",
        institution_code=MIC,
        institution_flag="0",
    )
    c = save(desk.store, result(aid(medical_tickets=(TICKET, expired))), "pe1")
    infant = save(
        desk.store,
        result(qualification(public_expenses=(INTRACTABLE,), preschool=True)),
        "pe2",
    )
    staff = desk.client()
    ja = _page(staff, f"/confirmations/{c.id}")
    for expected in (
        "医療扶助（生活保護）",
        "公費負担者番号",
        "12133005",
        "受給者番号",
        "4012365",
        "医療券・調剤券 1",
        "医療券 (01)",
        "2026/06/01〜2026/06/30",
        "2026/06",
        "2606-00512",
        f"{OTHER_CLINIC[0]} {OTHER_CLINIC[1]} — 不一致 (1)",
        "この医療券の指定医療機関は当院ではありません",
        "3,000円",
        "入院外 (02)",
        "単独 (1)",
        "高血圧症、糖尿病",
        "医療券・調剤券 2",
        "調剤券 (02)",
        "2026/05/01〜2026/05/31 (期限切れ)",
        "この医療券は有効期間が終わっています",
    ):
        assert expected in ja, expected
    assert ja.count('class="section-warning"') == 2
    en = _page(staff, f"/confirmations/{c.id}?lang=en")
    for expected in (
        "Medical aid (public assistance)",
        "Public expense payer number",
        "Recipient number",
        "medical ticket (01)",
        "another institution (1)",
        "This ticket names another medical institution",
        "¥3,000",
        "outpatient (02)",
        "2026/05/01〜2026/05/31 (expired)",
    ):
        assert expected in en, expected
    other = _page(staff, f"/confirmations/{infant.id}?lang=ja")
    assert "公費 1：特定医療費（指定難病）" in other and "2025/10/01〜2026/09/30" in other
    assert "医療扶助（生活保護）" not in other and "section-warning" not in other
    assert "Public expense 1: designated intractable disease" in _page(
        staff, f"/confirmations/{infant.id}?lang=en"
    )


def test_desk_row_shows_the_marker(desk: Desk) -> None:
    c = save(desk.store, result(aid()), "pe3")
    row = confirmation_row(c, "ja", today=TODAY)
    assert row["public_expense"] == "医療扶助"
    assert row["public_expense_warning"] == "医療券：指定医療機関 不一致"
    page = _page(desk.client(), "/?lang=ja")
    assert 'class="public-expense"' in page and "医療券：指定医療機関 不一致" in page
    plain = confirmation_row(save(desk.store, result(qualification()), "pe4"), "en")
    assert plain["public_expense"] == "" and plain["public_expense_warning"] == ""


# -- the read API and FHIR ------------------------------------------------------------------
def test_read_api_passes_the_public_expense_through(api: Api) -> None:
    save_for_api(api.store, result(aid(public_expenses=(INTRACTABLE,))), n=1)
    save_for_api(api.store, result(qualification(public_expenses=(INTRACTABLE,))), n=2)
    rows = api.get(JSON).get_json()["confirmations"]
    q = rows[0]["qualification"]
    assert q["card_classification"] == "A1"
    assert q["public_expenses"] == [
        {
            "number": "54131008",
            "recipient": "1234566",
            "valid_start": "2025-10-01",
            "valid_end": "2026-09-30",
        }
    ]
    (ticket,) = q["medical_tickets"]
    assert ticket["treatment_month"] == "202606" and ticket["institution_flag"] == "1"
    assert ticket["self_pay_amount"] == 3000 and ticket["valid_end"] == "2026-06-30"
    assert rows[1]["qualification"]["medical_tickets"] == []
    bundle = api.get(FHIR).get_json(force=True)
    Bundle.model_validate(bundle)
    aid_response, insured_response = (e["resource"] for e in bundle["entry"])
    for resource in (aid_response, insured_response):
        check_bindings(resource)
        CoverageEligibilityResponse.model_validate(resource)
    # 医療扶助: the payor is a 公費負担者番号, the number a 受給者番号
    assert aid_response["insurer"]["identifier"] == {
        "system": PUBLIC_PAYER_SYSTEM,
        "value": "12133005",
    }
    coverage = aid_response["contained"][1]
    assert coverage["identifier"] == [{"system": PUBLIC_RECIPIENT_SYSTEM, "value": "4012365"}]
    # the 公費 beside the insurance: a second Coverage and its own insurance entry
    patient, main, extra = insured_response["contained"]
    assert extra["id"] == "public-expense-1" and extra["subscriberId"] == "1234566"
    assert extra["payor"] == [{"identifier": {"system": PUBLIC_PAYER_SYSTEM, "value": "54131008"}}]
    assert extra["period"] == {"start": "2025-10-01", "end": "2026-09-30"}
    first, second = insured_response["insurance"]
    assert first["coverage"] == {"reference": "#coverage"}
    # confirmed on 2026-04-01 (the test answers' date): in force
    assert second == {
        "coverage": {"reference": "#public-expense-1"},
        "inforce": True,
        "benefitPeriod": {"start": "2025-10-01", "end": "2026-09-30"},
    }
    ended = save_for_api(
        api.store,
        result(
            qualification(public_expenses=(PublicExpense("54131008", "1234566", "", "20260331"),))
        ),
        n=3,
    )
    resource = coverage_eligibility_response(ended)
    assert resource["insurance"][1]["inforce"] is False
    assert resource["contained"][2]["status"] == "cancelled"


def test_face_file_for_the_receipt_computer_carries_the_ticket(service: CentralService) -> None:
    res = _ask(service, person("P052"))
    written = face_file_bytes(res)
    assert b"<MedicalTicketInfo>" in written and b"\r\n" in written
    again = parse_result(written, face=True).results[0]
    assert again.medical_tickets == res.results[0].medical_tickets
    infant = _ask(service, person("P055"))
    assert parse_result(face_file_bytes(infant), face=True).results[0].public_expenses == (
        infant.results[0].public_expenses
    )


def test_detail_page_flags_a_wrong_check_digit(desk: Desk) -> None:
    wrong = PublicExpense("54131009", "1234567", "20251001", "20260930")
    c = save(desk.store, result(qualification(public_expenses=(wrong,))), "pe5")
    page = _page(desk.client(), f"/confirmations/{c.id}?lang=ja")
    assert "54131009 (検証番号が合いません)" in page
    assert "1234567 (検証番号が合いません)" in page


@pytest.mark.parametrize(
    ("ticket", "tag"),
    [
        (MedicalTicket(treatment_month="2026-6"), "MedicalTreatmentMonth"),
        (MedicalTicket(institution_flag="2"), "DesignatedMedicalInstitutionFlag"),
        (MedicalTicket(self_pay_amount="3,000"), "SelfPayAmount"),
        (MedicalTicket(institution_code="13123"), "DesignatedMedicalInstitutionCode"),
        (MedicalTicket(ticket_type="1"), "TicketType"),
    ],
)
def test_a_ticket_the_other_side_would_refuse_is_never_built(
    ticket: MedicalTicket, tag: str
) -> None:
    with pytest.raises(MessageError) as refused:
        build_result(result(aid(medical_tickets=(ticket,))))
    assert refused.value.path == tag
