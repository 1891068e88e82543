from __future__ import annotations

import re

import pytest

from sync.codes import Verdict as Badge
from sync.codes import badge, is_insured, ratio_percent
from sync.xmlmsg import CONSENT_FLAG_TAG, Qualification, QualificationResult
from web import labels as codes
from web.labels import (
    CONSENT_KIND,
    INSURED_CARD_CLASSIFICATION,
    LIMIT_CERTIFICATE_FLAG,
    QUALIFICATION_VALIDITY,
    SEGMENT_OF_RESULT,
    Label,
    label,
)

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
TABLES = {
    name: value
    for name, value in vars(codes).items()
    if name.isupper()
    and not name.startswith("_")
    and isinstance(value, dict)
    and name != "CONSENT_FLAG_TAG"
}


def test_all_contract_tables_exist() -> None:
    assert {
        "QUALIFICATION_VALIDITY",
        "SEGMENT_OF_RESULT",
        "PROCESSING_RESULT_STATUS",
        "INSURED_CARD_CLASSIFICATION",
        "PERSONAL_FAMILY",
        "SEX",
        "REASON_OF_LOSS",
        "LIMIT_CERTIFICATE_CLASSIFICATION",
        "LIMIT_CERTIFICATE_FLAG",
        "CONSENT_KIND",
        "PRESCRIPTION_ISSUE_SELECT",
        "REFERENCE_CLASSIFICATION",
    } <= set(TABLES)


def test_table_keys() -> None:
    assert list(QUALIFICATION_VALIDITY) == ["1", "2", "3", "4", "5", "6"]
    assert list(SEGMENT_OF_RESULT) == ["1", "2", "9"]
    assert list(INSURED_CARD_CLASSIFICATION) == ["01", "02", "03", "04", "05", "06", "07", "A1"]
    assert list(LIMIT_CERTIFICATE_FLAG) == [f"A0{i}" for i in range(1, 7)] + [
        f"B{i:02d}" for i in range(1, 11)
    ]
    assert set(codes.REFERENCE_CLASSIFICATION) == {"1", "2"}
    assert set(codes.SEX) == {"1", "2", "3"}
    assert set(CONSENT_KIND) == {"drug", "checkup", "diagnosis", "surgery"}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_label_has_both_languages(name: str) -> None:
    table = TABLES[name]
    assert table, name
    for code, entry in table.items():
        assert isinstance(entry, Label)
        assert entry.ja and entry.en, (name, code)
        assert _JAPANESE.search(entry.ja), (name, code)
        assert not _JAPANESE.search(entry.en), (name, code)


def test_known_labels() -> None:
    assert QUALIFICATION_VALIDITY["3"].ja == "無効（新しい資格あり）"
    assert LIMIT_CERTIFICATE_FLAG["A06"].ja == "オ（境）"
    assert LIMIT_CERTIFICATE_FLAG["B01"].ja == "現役並みⅢ"
    assert LIMIT_CERTIFICATE_FLAG["B10"].ja == "一般Ⅰ"
    assert codes.REFERENCE_CLASSIFICATION["1"].en == "My Number card"


def test_consent_flag_tags() -> None:
    assert CONSENT_FLAG_TAG == {
        "drug": "PharmacistsInfoConsFlg",
        "checkup": "SpecificHealthCheckupsInfoConsFlg",
        "diagnosis": "DiagnosisInfoConsFlg",
        "surgery": "OperationInfoConsFlg",
    }
    assert set(CONSENT_FLAG_TAG) == set(CONSENT_KIND)


@pytest.mark.parametrize(
    ("code", "lang", "expected"),
    [
        ("1", "ja", "有効"),
        ("1", "en", "valid"),
        ("4", "ja", "該当資格なし"),
        ("5", "en-US", "several matches"),
        ("7", "ja", "不明 (7)"),
        ("7", "en", "unknown (7)"),
        ("", "ja", "なし"),
        (None, "en", "none"),
    ],
)
def test_label(code: str | None, lang: str, expected: str) -> None:
    assert label(QUALIFICATION_VALIDITY, code, lang) == expected


def test_label_defaults_to_japanese() -> None:
    assert label(codes.SEX, "2") == "女"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("030", 30),
        ("010", 10),
        ("020", 20),
        ("000", 0),
        ("100", 100),
        ("30", 30),
        (None, None),
        ("", None),
        ("abc", None),
        ("03O", None),
        ("-10", None),
        ("200", None),
        ("３０", None),
        (" 30", None),
    ],
)
def test_ratio_percent(code: str | None, expected: int | None) -> None:
    assert ratio_percent(code) == expected


def _result(
    validity: str = "1",
    *,
    segment: str = "1",
    status: str = "1",
    count: int = 1,
) -> QualificationResult:
    return QualificationResult(
        process_time="20240401090000",
        confirmation_date="20240401",
        medical_institution_code="1312345678",
        file_id="1",
        reference_classification="2",
        segment_of_result=segment,
        processing_status=status,
        validity=validity,
        results=tuple(Qualification(number=str(i)) for i in range(count)),
    )


@pytest.mark.parametrize(
    ("validity", "expected"),
    [
        ("1", Badge.VALID),
        ("2", Badge.INVALID),
        ("3", Badge.INVALID_NEWER),
        ("4", Badge.NOT_FOUND),
        ("5", Badge.MULTIPLE),
        ("6", Badge.UNREGISTERED_AID),
        ("7", Badge.ERROR),
        ("", Badge.ERROR),
    ],
)
def test_badge_for_every_validity(validity: str, expected: Badge) -> None:
    result = _result(validity)
    assert badge(result) is expected
    assert is_insured(result) is (expected is Badge.VALID)


@pytest.mark.parametrize(
    "result",
    [
        _result(segment="9", status=""),
        _result(segment="2", status=""),
        _result(segment="9"),
        _result(status="2"),
        _result(status=""),
        _result(count=0),  # validity 1 but nothing to show
        _result(count=2),  # validity 1 with two results is inconsistent
    ],
)
def test_not_insured_is_error(result: QualificationResult) -> None:
    assert not is_insured(result)
    assert badge(result) is Badge.ERROR


def test_validity_with_error_status_is_error() -> None:
    assert badge(_result("4", status="2")) is Badge.ERROR
