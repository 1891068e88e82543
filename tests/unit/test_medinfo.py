"""Drug information and checkup messages (sync/medinfo.py): round trips and refusals."""

from __future__ import annotations

import dataclasses

import pytest

from sync.medinfo import (
    CheckupExam,
    CheckupItem,
    Dispensing,
    Drug,
    DrugMonth,
    MedicalInfoRequest,
    MedicalInfoResult,
    MessageError,
    build_medinfo_request,
    build_medinfo_result,
    parse_medinfo_request,
    parse_medinfo_result,
    request_file_name,
    result_file_name,
)
from sync.xmldoc import MAX_MESSAGE_BYTES

ENCODINGS = ["utf-8", "shift_jis"]

DRUG_REQUEST = MedicalInfoRequest(
    kind="drug",
    medical_institution_code="1312345670",
    file_id="20261122101500001",
    insurer_number="01130012",
    number="15",
    birthdate="19860512",
    start_month="202311",
    end_month="202611",
    symbol="４０１０２０３０",
    branch="00",
)
CHECKUP_REQUEST = dataclasses.replace(
    DRUG_REQUEST, kind="checkup", file_id="c-2", symbol="", branch="", file_category="1"
)

AMLODIPINE = Drug(
    "2171022F1093", "アムロジピン錠5mg", "アムロジピンベシル酸塩", "1", "錠", "1日1回朝食後", "28"
)
DRUG_RESULT = MedicalInfoResult(
    kind="drug",
    process_time="20261122101501",
    medical_institution_code="1312345670",
    file_id="20261122101500001",
    segment_of_result="1",
    start_month="202311",
    end_month="202611",
    months=(
        DrugMonth(
            "202609",
            (
                Dispensing(
                    "20260903", "さくら薬局 駅前店", "たけのこ内科クリニック", (AMLODIPINE,)
                ),
                Dispensing(
                    "20260920",
                    "𠮷野薬局～本店",  # outside JIS X 0208, and a CP932 one-way character
                    "",
                    (
                        Drug("", "カルボシステイン錠500mg", "", "3", "錠", "1日3回毎食後", "5"),
                        Drug("", "アセトアミノフェン錠200mg", "", "", "", "", ""),
                    ),
                ),
            ),
        ),
        DrugMonth("202610", ()),
    ),
)
CHECKUP_RESULT = MedicalInfoResult(
    kind="checkup",
    process_time="20261122101501",
    medical_institution_code="1312345670",
    file_id="c-2",
    segment_of_result="1",
    start_month="202201",
    end_month="202611",
    exams=(
        CheckupExam(
            "20250906",
            "桜丘健診クリニック",
            (
                CheckupItem("3D046000001906202", "HbA1c", "7.3", "%", "-5.5"),
                CheckupItem("1A020000000191111", "尿糖", "(±)", "", "(-)"),
                CheckupItem("", "γ-GT", "35", "U/L"),
            ),
        ),
        CheckupExam("20260910", "", ()),
    ),
)
REFUSAL = MedicalInfoResult(
    kind="checkup",
    process_time="20261122101501",
    medical_institution_code="1312345670",
    file_id="c-3",
    segment_of_result="9",
    error_code="EK01",
    error_message="同意がありません / no consent",
)


def _error(data: bytes, parse: object) -> MessageError:
    assert callable(parse)
    with pytest.raises(MessageError) as caught:
        parse(data)
    return caught.value


def _replace(doc: bytes, old: str, new: str) -> bytes:
    text = doc.decode("utf-8")
    assert old in text
    return text.replace(old, new, 1).encode("utf-8")


def _without(doc: bytes, tag: str) -> bytes:
    text = doc.decode("utf-8")
    start = text.index(f"<{tag}>")
    end = text.index(f"</{tag}>") + len(f"</{tag}>")
    return (text[:start] + text[end:]).encode("utf-8")


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("request_", [DRUG_REQUEST, CHECKUP_REQUEST], ids=["drug", "checkup"])
def test_request_round_trip(request_: MedicalInfoRequest) -> None:
    data = build_medinfo_request(request_)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert parse_medinfo_request(data) == request_


def test_request_uses_the_medical_information_tag_names() -> None:
    data = build_medinfo_request(DRUG_REQUEST).decode()
    for tag in (
        "<MessageKind>YZK<",
        "<InsuranceCardSymbol>",
        "<InsuredPersonIdentificationNumber>15<",
        "<BranchNumber>00<",
        "<StartDate>202311<",
        "<EndDate>202611<",
        "<FileCategory>2<",
    ):
        assert tag in data
    checkup = build_medinfo_request(CHECKUP_REQUEST).decode()
    assert "<MessageKind>TKK<" in checkup
    assert "InsuranceCardSymbol" not in checkup and "BranchNumber" not in checkup


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("result", [DRUG_RESULT, CHECKUP_RESULT, REFUSAL], ids=lambda r: r.file_id)
def test_result_round_trip(result: MedicalInfoResult, encoding: str) -> None:
    data = build_medinfo_result(result, encoding)
    declared = b"UTF-8" if encoding == "utf-8" else b"Shift_JIS"
    assert data.startswith(b'<?xml version="1.0" encoding="' + declared + b'"?>')
    assert parse_medinfo_result(data) == result


def test_refusal_has_no_body_and_an_answer_always_has_its_list() -> None:
    assert b"MessageBody" not in build_medinfo_result(REFUSAL)
    empty = dataclasses.replace(DRUG_RESULT, months=())
    data = build_medinfo_result(empty)
    assert b"<DrugInformationList" in data and b"CheckupList" not in data
    assert parse_medinfo_result(data) == empty


def test_shift_jis_result_bytes() -> None:
    data = build_medinfo_result(DRUG_RESULT, "shift_jis")
    assert "アムロジピン錠5mg".encode("cp932") in data
    assert b"&#134071;" in data  # 𠮷 as a character reference


def test_file_names() -> None:
    assert request_file_name(DRUG_REQUEST) == "YZKsiquc01req_20261122101500001.xml"
    assert request_file_name(CHECKUP_REQUEST) == "TKKsiquc01req_c-2.xml"
    assert result_file_name("drug", "x1") == "YZKsiquc01res_x1.xml"
    assert result_file_name("checkup", "x1") == "TKKsiquc01res_x1.xml"


@pytest.mark.parametrize(("kind", "file_id"), [("drug", "../x"), ("drug", ""), ("surgery", "x1")])
def test_file_names_refuse(kind: str, file_id: str) -> None:
    with pytest.raises(MessageError):
        result_file_name(kind, file_id)
    with pytest.raises(MessageError):
        request_file_name(dataclasses.replace(DRUG_REQUEST, kind=kind, file_id=file_id))


# ---------------------------------------------------------------- build refusals


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "diagnosis"},
        {"start_month": "2023-11"},
        {"start_month": "202313"},
        {"end_month": "202600"},
        {"start_month": "202612"},  # after EndDate
        {"file_category": "3"},
    ],
    ids=["kind", "month-shape", "month-13", "month-00", "start-after-end", "category"],
)
def test_build_request_refuses(changes: dict[str, str]) -> None:
    with pytest.raises(MessageError):
        build_medinfo_request(dataclasses.replace(DRUG_REQUEST, **changes))


def test_build_result_refuses_mixed_or_unanchored_content() -> None:
    with pytest.raises(MessageError):
        build_medinfo_result(dataclasses.replace(DRUG_RESULT, exams=CHECKUP_RESULT.exams))
    with pytest.raises(MessageError):
        build_medinfo_result(dataclasses.replace(CHECKUP_RESULT, start_month="", end_month=""))
    with pytest.raises(MessageError):
        build_medinfo_result(dataclasses.replace(REFUSAL, kind="x"))
    with pytest.raises(MessageError):
        build_medinfo_result(REFUSAL, "euc-jp")


def test_build_result_refuses_oversized_documents() -> None:
    dispensing = Dispensing("20260101", "薬局", "医院", (AMLODIPINE,) * 40)
    huge = dataclasses.replace(DRUG_RESULT, months=(DrugMonth("202601", (dispensing,) * 200),))
    with pytest.raises(MessageError, match="too large"):
        build_medinfo_result(huge)


# ---------------------------------------------------------------- malformed documents


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("<MessageKind>YZK<", "<MessageKind>OQS<", "MessageHeader/MessageKind"),
        ("<MessageKind>YZK<", "<MessageKind><", "MessageHeader/MessageKind"),
        ("<Birthdate>19860512<", "<Birthdate>1986-05-12<", "MessageHeader/Birthdate"),
        ("<StartDate>202311<", "<StartDate>20231101<", "MessageBody/StartDate"),
        ("<EndDate>202611<", "<EndDate>202613<", "MessageBody/EndDate"),
        ("<StartDate>202311<", "<StartDate>202612<", "MessageBody/StartDate"),
        ("<FileCategory>2<", "<FileCategory>9<", "MessageBody/FileCategory"),
        ("<InsurerNumber>01130012<", "<InsurerNumber><", "MessageHeader/InsurerNumber"),
    ],
)
def test_request_bad_fields_name_their_path(old: str, new: str, path: str) -> None:
    error = _error(_replace(build_medinfo_request(DRUG_REQUEST), old, new), parse_medinfo_request)
    assert error.path == path
    assert path in str(error)
    value = new.split(">")[1].rstrip("<")
    assert len(value) < 3 or value not in str(error)  # the value itself is never echoed


@pytest.mark.parametrize(
    "tag",
    [
        "MessageKind",
        "MedicalInstitutionCode",
        "ArbitraryFileIdentifier",
        "InsurerNumber",
        "InsuredPersonIdentificationNumber",
        "Birthdate",
        "StartDate",
        "EndDate",
        "MessageBody",
    ],
)
def test_request_missing_tags(tag: str) -> None:
    error = _error(_without(build_medinfo_request(DRUG_REQUEST), tag), parse_medinfo_request)
    assert error.path is not None and error.path.endswith(tag)
    assert "がありません" in str(error)


def test_request_without_file_category_means_xml() -> None:
    data = _without(build_medinfo_request(DRUG_REQUEST), "FileCategory")
    assert parse_medinfo_request(data).file_category == "2"


@pytest.mark.parametrize(
    ("result", "old", "new", "path"),
    [
        (
            DRUG_RESULT,
            "<DispensingDate>20260920<",
            "<DispensingDate>2026092<",
            "MessageBody/DrugInformationList/MonthlyInfo[1]/DispensingInfo[2]/DispensingDate",
        ),
        (
            DRUG_RESULT,
            "<DrugName>カルボシステイン錠500mg<",
            "<DrugName><",
            "MessageBody/DrugInformationList/MonthlyInfo[1]/DispensingInfo[2]/DrugInfo[1]/DrugName",
        ),
        (
            DRUG_RESULT,
            "<DispensingMonth>202610<",
            "<DispensingMonth>2026-10<",
            "MessageBody/DrugInformationList/MonthlyInfo[2]/DispensingMonth",
        ),
        (
            CHECKUP_RESULT,
            "<ExaminationDate>20260910<",
            "<ExaminationDate>x<",
            "MessageBody/CheckupList/CheckupInfo[2]/ExaminationDate",
        ),
        (
            CHECKUP_RESULT,
            "<ItemName>γ-GT<",
            "<ItemName><",
            "MessageBody/CheckupList/CheckupInfo[1]/CheckupItemInfo[3]/ItemName",
        ),
        (REFUSAL, "<SegmentOfResult>9<", "<SegmentOfResult>5<", "MessageHeader/SegmentOfResult"),
        (REFUSAL, "<MessageKind>TKK<", "<MessageKind>tkk<", "MessageHeader/MessageKind"),
        (
            REFUSAL,
            "<ProcessExecutionTime>20261122101501<",
            "<ProcessExecutionTime>202611221015<",
            "MessageHeader/ProcessExecutionTime",
        ),
        (DRUG_RESULT, "<EndDate>202611<", "<EndDate>202301<", "MessageBody/StartDate"),
    ],
)
def test_result_bad_fields_name_their_path(
    result: MedicalInfoResult, old: str, new: str, path: str
) -> None:
    error = _error(_replace(build_medinfo_result(result), old, new), parse_medinfo_result)
    assert error.path == path
    assert path in str(error)


def test_result_of_one_kind_cannot_hold_the_other_list() -> None:
    data = build_medinfo_result(DRUG_RESULT).decode()
    data = data.replace("</MessageBody>", "<CheckupList/></MessageBody>")
    error = _error(data.encode(), parse_medinfo_result)
    assert error.path == "MessageBody/CheckupList"


@pytest.mark.parametrize(
    "tag", ["MessageKind", "ProcessExecutionTime", "ArbitraryFileIdentifier", "SegmentOfResult"]
)
def test_result_missing_header_tags(tag: str) -> None:
    error = _error(_without(build_medinfo_result(REFUSAL), tag), parse_medinfo_result)
    assert error.path == f"MessageHeader/{tag}"


def test_qualification_documents_are_not_medical_information() -> None:
    from sync.xmlmsg import QualificationRequest, SearchInfo, build_request

    data = build_request(
        QualificationRequest(
            "1312345670", "20261122", "q1", "2", search=SearchInfo("01130012", "15", "19860512")
        )
    )
    assert _error(data, parse_medinfo_request).path == "MessageHeader/MessageKind"
    assert _error(data, parse_medinfo_result).path == "MessageHeader/MessageKind"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml",
        b"<XmlMsg>",
        b"<Other/>",
        b'<!DOCTYPE x [<!ENTITY a "b">]><XmlMsg/>',
        b"<XmlMsg/>" + b" " * MAX_MESSAGE_BYTES,
    ],
)
def test_not_a_document(data: bytes) -> None:
    for parse in (parse_medinfo_request, parse_medinfo_result):
        assert isinstance(_error(data, parse), ValueError)


def test_declared_shift_jis_request_is_read() -> None:
    text = build_medinfo_request(DRUG_REQUEST).decode()
    data = text.replace('encoding="UTF-8"', 'encoding="Shift_JIS"').encode("cp932")
    assert parse_medinfo_request(data) == DRUG_REQUEST
