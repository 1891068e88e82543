"""sync.precheck.classify: the class of one unit of a bulk answer, from the unit alone, the
numbers the appointment list holds and the limit flag of the patient's previous answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sync.codes import is_insured
from sync.precheck import PrecheckClass, classify, limit_flag, same_numbers
from sync.xmlmsg import LimitInfo, Qualification, QualificationResult, SearchInfo

LISTED = SearchInfo(insurer_number="06130012", number="1234", birthdate="19800101", symbol="記A")
CARD = Qualification(insurer_number="06130012", symbol="記A", number="1234", branch="00")


def answer(*results: Qualification, **changes: Any) -> QualificationResult:
    base = QualificationResult(
        process_time="20261129190000",
        confirmation_date="20261130",
        medical_institution_code="1312345678",
        file_id="f",
        reference_classification="2",
        segment_of_result="1",
        processing_status="1",
        validity="1",
        results=results,
    )
    return replace(base, **changes)


def with_limit(flag: str) -> Qualification:
    return replace(CARD, limit=LimitInfo(classification="01", flag=flag))


def test_insured_with_the_listed_numbers_is_valid() -> None:
    found = answer(CARD)
    assert is_insured(found)
    assert classify(found, listed=LISTED) is PrecheckClass.VALID
    assert not PrecheckClass.VALID.needs_attention


@pytest.mark.parametrize(
    ("validity", "klass"),
    [
        ("2", PrecheckClass.INVALID),
        ("3", PrecheckClass.INVALID),
        ("4", PrecheckClass.NOT_FOUND),
        ("5", PrecheckClass.MULTIPLE),
        ("6", PrecheckClass.NOT_FOUND),  # 医療扶助 not registered: ask for the paper 医療券
        ("7", PrecheckClass.FAILED),  # a validity nobody knows is no answer to act on
        ("", PrecheckClass.FAILED),
    ],
)
def test_each_validity_has_its_class(validity: str, klass: PrecheckClass) -> None:
    assert classify(answer(CARD, validity=validity), listed=LISTED) is klass
    assert klass.needs_attention


@pytest.mark.parametrize(
    "changes",
    [
        {"segment_of_result": "9", "error_code": "E001"},  # abnormal
        {"segment_of_result": "2"},  # still in progress is no answer
        {"processing_status": "2", "processing_code": "1001"},  # an error for this entry
    ],
)
def test_an_abnormal_or_error_answer_failed(changes: dict[str, str]) -> None:
    assert classify(answer(CARD, **changes), listed=LISTED) is PrecheckClass.FAILED


def test_valid_but_not_exactly_one_result_failed() -> None:
    assert classify(answer(), listed=LISTED) is PrecheckClass.FAILED
    assert classify(answer(CARD, CARD), listed=LISTED) is PrecheckClass.FAILED


@pytest.mark.parametrize(
    "found",
    [
        replace(CARD, insurer_number="06130020"),
        replace(CARD, symbol="記B"),
        replace(CARD, number="1235"),
    ],
)
def test_valid_with_other_numbers_differs(found: Qualification) -> None:
    assert classify(answer(found), listed=LISTED) is PrecheckClass.NUMBERS_DIFFER


def test_numbers_compare_as_written_not_as_typed() -> None:
    # leading zeros of the insurer, full-width digits and spaces from a receipt computer
    typed = SearchInfo(insurer_number="6130012", number="１２３４ ", birthdate="", symbol=" 記A")
    assert same_numbers(typed, CARD)
    assert classify(answer(replace(CARD, branch="01")), listed=typed) is PrecheckClass.VALID


def test_a_changed_limit_flag_is_limit_changed() -> None:
    found = answer(with_limit("A03"))
    assert limit_flag(found) == "A03"
    assert classify(found, listed=LISTED, previous_limit="A04") is PrecheckClass.LIMIT_CHANGED
    assert classify(found, listed=LISTED, previous_limit="A03") is PrecheckClass.VALID


def test_no_flag_on_either_side_says_nothing_about_a_change() -> None:
    assert classify(answer(with_limit("A03")), listed=LISTED) is PrecheckClass.VALID
    assert classify(answer(CARD), listed=LISTED, previous_limit="A03") is PrecheckClass.VALID


def test_numbers_differing_wins_over_a_limit_change() -> None:
    found = answer(replace(with_limit("A03"), number="9"))
    assert classify(found, listed=LISTED, previous_limit="A01") is PrecheckClass.NUMBERS_DIFFER


def test_an_invalid_answer_never_reads_as_a_limit_change() -> None:
    found = answer(with_limit("A03"), validity="2")
    assert classify(found, listed=LISTED, previous_limit="A01") is PrecheckClass.INVALID
