"""被保険者資格申立書: every problem named at once, pre-filled from an earlier answer, stored
encrypted with its audit entries, and every word on the pages in both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from device.statement import (
    CHOICES,
    FIELD_NAMES,
    CardHeld,
    InsuranceKind,
    StatementForm,
    StatementProblem,
    StatementRejected,
    Statements,
    insurance_kind_of,
    prefilled,
    validate_statement,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import Qualification, QualificationResult
from web.strings_statement import STRINGS

NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)  # 10:30 JST
GOOD = StatementForm(
    card_held="no",
    insurance_kind="national",
    insurer_name="世田谷区",
    issued="2024年4月頃",
    ratio="30",
    name="申立\u3000花子",
    birthdate="S55.4.1",
    sex="2",
    address="東京都世田谷区桜丘1-2-3",
    contact="０３－１２３４－５６７８",
)


def result_for(q: Qualification) -> QualificationResult:
    return QualificationResult("", "20260401", "1312345670", "f1", "2", "1", results=(q,))


def test_a_good_form_is_kept_as_written_with_the_birth_date_and_telephone_normalised() -> None:
    checked = validate_statement(GOOD, NOW)
    assert checked.birthdate == "19800401"
    assert checked.contact == "03-1234-5678"  # full-width digits from the IME
    assert checked.name == "申立\u3000花子"  # a name keeps its full-width space


def test_every_problem_is_named_at_once() -> None:
    typed = StatementForm(
        card_held="maybe",
        insurance_kind="",
        ratio="50",
        name="x" * 61,
        birthdate="2030-01-01",
        sex="2",
        address="line\x07",
        contact="call me",
    )
    with pytest.raises(StatementRejected) as rejected:
        validate_statement(typed, NOW)
    assert rejected.value.errors == {
        "card_held": StatementProblem.NOT_A_CHOICE,
        "insurance_kind": StatementProblem.MISSING,
        "ratio": StatementProblem.NOT_A_CHOICE,
        "name": StatementProblem.TOO_LONG,
        "birthdate": StatementProblem.FUTURE,
        "address": StatementProblem.UNPRINTABLE,
        "contact": StatementProblem.PHONE,
    }


def test_a_birth_date_that_is_not_a_date_is_refused() -> None:
    with pytest.raises(StatementRejected) as rejected:
        validate_statement(StatementForm(**{**GOOD.__dict__, "birthdate": "R99.13.1"}), NOW)
    assert rejected.value.errors == {"birthdate": StatementProblem.DATE_FORMAT}


@pytest.mark.parametrize(
    ("insurer", "kind"),
    [
        ("138057", InsuranceKind.NATIONAL),
        ("01130012", InsuranceKind.EMPLOYEE),
        ("06139999", InsuranceKind.EMPLOYEE),
        ("31130011", InsuranceKind.MUTUAL_AID),
        ("39131008", InsuranceKind.LATE_ELDERLY),
        ("02130010", InsuranceKind.SEAMEN),
        ("63130018", InsuranceKind.OTHER),
        ("", None),
        ("12345", None),
    ],
)
def test_the_kind_of_insurance_follows_the_insurer_number(
    insurer: str, kind: InsuranceKind | None
) -> None:
    assert insurance_kind_of(insurer) == kind


def test_prefilled_from_an_earlier_answer_leaves_to_the_patient_what_only_they_know() -> None:
    q = Qualification(
        insurer_number="39131008",
        insurer_name="東京都後期高齢者医療広域連合",
        name="後期\u3000一郎",
        birthdate="19400101",
        sex="1",
        address="東京都新宿区1-1",
        contribution_ratio="010",
    )
    form = prefilled(result_for(q))
    assert form.insurance_kind == InsuranceKind.LATE_ELDERLY
    assert (form.ratio, form.sex, form.name) == ("10", "1", "後期\u3000一郎")
    assert form.card_held == "" and form.contact == ""
    assert prefilled(None) == StatementForm()
    odd = prefilled(result_for(Qualification(sex="3", contribution_ratio="015")))
    assert odd.sex == "" and odd.ratio == ""  # not one of the form's choices: left to ask


def test_a_statement_is_stored_encrypted_and_every_view_is_audited(tmp_path: Path) -> None:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    try:
        statements = Statements(store, clock=lambda: NOW)
        with pytest.raises(StatementRejected):
            statements.save(StatementForm(name="only a name"), actor="desk")
        assert not [e for e in store.audit_entries() if e.action.startswith("statement.")]
        row = statements.save(GOOD, actor="desk", visit_id="ab12", confirmation_id=7)
        raw = (tmp_path / "onshi.db").read_bytes()
        for plain in ("申立", "世田谷", "03-1234"):
            assert plain.encode() not in raw
        opened = statements.open(row.id, actor="doctor")
        assert opened is not None
        stored, form = opened
        assert (stored.visit_id, stored.confirmation_id, stored.actor) == ("ab12", 7, "desk")
        assert form == validate_statement(GOOD, NOW)
        assert statements.open(row.id + 1, actor="desk") is None
        actions = [(e.action, e.actor, e.subject) for e in store.audit_entries()]
        assert ("statement.saved", "desk", f"statement:{row.id}") in actions
        assert ("statement.view", "doctor", f"statement:{row.id}") in actions
        assert store.verify_audit() is None
    finally:
        store.close()


def test_a_statement_awaits_an_online_check_until_a_person_marks_it_confirmed(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    try:
        statements = Statements(store, clock=lambda: NOW)
        assert statements.awaiting(actor="desk") == [] and statements.count_awaiting() == 0
        first = statements.save(GOOD, actor="desk")
        second = statements.save(GOOD, actor="desk")
        listed = statements.awaiting(actor="desk")
        assert [r.id for r in listed] == [first.id, second.id] and all(r.open for r in listed)
        assert listed[0].fields["name"] == "申立\u3000花子"
        assert statements.resolve(first.id, actor="suzuki")
        assert not statements.resolve(first.id, actor="tanaka")  # closed already: nothing
        assert not statements.resolve(999, actor="tanaka")
        assert [r.id for r in statements.awaiting(actor="desk")] == [second.id]
        closed = store.statement(first.id)
        assert closed is not None and not closed.open
        assert (closed.resolved_by, closed.resolved_at, closed.answer_id) == ("suzuki", NOW, None)
        actions = [(e.action, e.actor, e.subject) for e in store.audit_entries()]
        assert ("statement.resolved", "suzuki", f"statement:{first.id}") in actions
        assert ("statement.list", "desk", "statements:open") in actions  # it names patients
        assert store.verify_audit() is None
    finally:
        store.close()


def test_every_field_choice_and_problem_has_both_texts() -> None:
    keys = [f"statement_field_{name}" for name in FIELD_NAMES]
    keys += [
        f"statement_{name}_{choice}" for name, choices in CHOICES.items() for choice in choices
    ]
    keys += [f"statement_problem_{problem.value}" for problem in StatementProblem]
    for key in keys:
        ja, en = STRINGS[key]
        assert ja and en, key
    assert {c.value for c in CardHeld} == set(CHOICES["card_held"])
