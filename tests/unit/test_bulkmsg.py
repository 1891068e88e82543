"""Bulk inquiry and 照会番号 documents (sync/bulkmsg.py): round trips in both encodings, the
size cap, malformed documents, and units that cannot be read without losing the others."""

from __future__ import annotations

import dataclasses

import pytest

from sync.bulkmsg import (
    MAX_BULK_BYTES,
    MAX_BULK_ENTRIES,
    UNREADABLE_UNIT_CODE,
    BulkAnswer,
    BulkEntry,
    BulkQuery,
    BulkReceipt,
    BulkUnit,
    BulkUpload,
    MessageError,
    ReferenceAnswer,
    ReferenceOutcome,
    ReferenceRegistration,
    ReferenceRequest,
    answer_name,
    build_bulk_answer,
    build_bulk_query,
    build_bulk_receipt,
    build_bulk_upload,
    build_reference_answer,
    build_reference_request,
    file_name,
    parse_bulk_answer,
    parse_bulk_query,
    parse_bulk_receipt,
    parse_bulk_upload,
    parse_reference_answer,
    parse_reference_request,
    reference_prefixes,
)
from sync.xmldoc import MAX_MESSAGE_BYTES
from sync.xmlmsg import (
    LimitInfo,
    Qualification,
    QualificationResult,
    SearchInfo,
    parse_result,
)

MIC = "1312345670"
ENCODINGS = ["utf-8", "shift_jis"]
SECRET_NAME = "秘密　太郎"  # personal data: never in an error message


def search(i: int) -> SearchInfo:
    return SearchInfo("06139015", str(1000 + i), "19800401", symbol="𠮷記号", branch="01")


def upload(count: int = 3) -> BulkUpload:
    entries = tuple(BulkEntry(f"a{i}", search(i)) for i in range(count))
    return BulkUpload(MIC, "20261130", "up-1", entries)


def result(identifier: str, i: int, validity: str = "1") -> QualificationResult:
    return QualificationResult(
        process_time="20261129220000",
        confirmation_date="20261130",
        medical_institution_code=MIC,
        file_id=identifier,
        reference_classification="2",
        segment_of_result="1",
        processing_status="1",
        processing_code="" if validity == "1" else "Q004",
        processing_message="" if validity == "1" else "該当する資格がありません。",
        validity=validity,
        search=search(i),
        results=()
        if validity == "4"
        else (
            Qualification(
                insurer_number="06139015",
                number=str(1000 + i),
                branch="01",
                name=SECRET_NAME,
                birthdate="19800401",
                limit=LimitInfo("01", "A01", "20250801", "20250801", "20260731"),
                reference_number=f"PN{i}",
            ),
        ),
    )


def answer(count: int = 3) -> BulkAnswer:
    units = tuple(
        BulkUnit(f"a{i}", result(f"a{i}", i, "1" if i % 2 == 0 else "4"), b"") for i in range(count)
    )
    return BulkAnswer(
        file_id="q-1",
        reception_number="2026112900000001",
        process_time="20261129220000",
        segment_of_result="1",
        processed=count,
        normal=count,
        errors=0,
        units=units,
        confirmation_date="20261130",
    )


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_upload_round_trip(encoding: str) -> None:
    sent = upload(5)
    data = build_bulk_upload(sent, encoding)
    assert parse_bulk_upload(data) == sent
    declared = b'encoding="Shift_JIS"' if encoding == "shift_jis" else b'encoding="UTF-8"'
    assert declared in data.splitlines()[0]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_receipt_query_and_in_progress_round_trip(encoding: str) -> None:
    receipt = BulkReceipt("up-1", "2026112900000001", "20261129220000")
    built = build_bulk_receipt(receipt, medical_institution_code=MIC, encoding=encoding)
    assert parse_bulk_receipt(built) == receipt
    query = BulkQuery(MIC, "q-1", "2026112900000001")
    assert parse_bulk_query(build_bulk_query(query, encoding)) == query
    waiting = BulkAnswer("q-1", "2026112900000001", "20261129220001", "2")
    read = parse_bulk_answer(
        build_bulk_answer(waiting, medical_institution_code=MIC, encoding=encoding)
    )
    assert read == waiting and not read.ready and read.units == ()


def test_a_refused_upload_has_no_reception_number() -> None:
    refused = BulkReceipt("up-1", "", "20261129220000", "9", "E404", "受付できません / refused")
    assert parse_bulk_receipt(build_bulk_receipt(refused, medical_institution_code=MIC)) == refused


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_unit_is_a_single_answer_of_its_own(encoding: str) -> None:
    sent = answer(4)
    data = build_bulk_answer(sent, medical_institution_code=MIC, encoding=encoding)
    read = parse_bulk_answer(data)
    assert read.ready and (read.processed, read.normal, read.errors) == (4, 4, 0)
    assert [u.identifier for u in read.units] == ["a0", "a1", "a2", "a3"]
    for unit, original in zip(read.units, sent.units, strict=True):
        assert unit.result == original.result
        alone = parse_result(unit.raw)  # the standalone OQSsiquc01res layout
        assert alone == unit.result
        assert (alone.file_id, alone.reference_classification) == (unit.identifier, "2")
    assert read.units[0].result.results[0].reference_number == "PN0"
    assert read.units[0].result.results[0].name == SECRET_NAME  # 秘 and 　 through Shift_JIS


def test_a_thousand_units_pass_the_bulk_cap_not_the_single_one() -> None:
    big = answer(MAX_BULK_ENTRIES)
    data = build_bulk_answer(big, medical_institution_code=MIC, encoding="shift_jis")
    assert MAX_MESSAGE_BYTES < len(data) < MAX_BULK_BYTES
    assert len(parse_bulk_answer(data).units) == MAX_BULK_ENTRIES
    with pytest.raises(MessageError, match="too large"):
        parse_bulk_answer(data + b" " * (MAX_BULK_BYTES - len(data) + 1))


def test_entries_are_checked_before_anything_is_built() -> None:
    with pytest.raises(MessageError, match="1 to 1000"):
        build_bulk_upload(dataclasses.replace(upload(), entries=()))
    too_many = upload(1)
    entries = too_many.entries * (MAX_BULK_ENTRIES + 1)
    with pytest.raises(MessageError, match="1 to 1000"):
        build_bulk_upload(dataclasses.replace(too_many, entries=entries))
    twice = upload(2)
    repeated = (twice.entries[0], dataclasses.replace(twice.entries[1], identifier="a0"))
    with pytest.raises(MessageError, match="repeated"):
        build_bulk_upload(dataclasses.replace(twice, entries=repeated))
    unsafe = (dataclasses.replace(twice.entries[0], identifier="../a"),)
    with pytest.raises(MessageError, match="file identifier"):
        build_bulk_upload(dataclasses.replace(twice, entries=unsafe))


def test_a_malformed_upload_names_the_tag_path_not_the_value() -> None:
    data = build_bulk_upload(upload(3)).replace(
        b"<ArbitraryIdentifier>a1</ArbitraryIdentifier>", b""
    )
    with pytest.raises(MessageError) as missing:
        parse_bulk_upload(data)
    assert missing.value.path == "MessageBody/QualificationConfirmSearchInfo[2]/ArbitraryIdentifier"
    bad_date = build_bulk_upload(upload(2)).replace(b"19800401", b"1980-4-1", 1)
    with pytest.raises(MessageError) as shaped:
        parse_bulk_upload(bad_date)
    assert shaped.value.path == "MessageBody/QualificationConfirmSearchInfo[1]/Birthdate"
    assert "1980-4-1" not in str(shaped.value)


def test_a_unit_that_cannot_be_read_does_not_lose_the_others() -> None:
    data = build_bulk_answer(answer(3), medical_institution_code=MIC).decode("utf-8")
    # the first unit's echoed birth date is not a date; nobody's name or value may leak
    broken = data.replace("<Birthdate>19800401</Birthdate>", "<Birthdate>bad-date</Birthdate>", 1)
    first = broken.index("bad-date")
    assert first > data.index("<ArbitraryIdentifier>a0") and first < data.index(
        "<ArbitraryIdentifier>a1"
    ), "the replacement hits the first unit"
    read = parse_bulk_answer(broken.encode("utf-8"))
    assert [u.identifier for u in read.units] == ["a0", "a1", "a2"]
    bad = read.units[0]
    assert (bad.result.segment_of_result, bad.result.processing_status) == ("9", "2")
    assert bad.result.error_code == UNREADABLE_UNIT_CODE
    where = "MessageBody/BulkResultList/BulkResult[1]/QualificationConfirmSearchInfo/Birthdate"
    assert where in bad.result.error_message
    assert "bad-date" not in bad.result.error_message and SECRET_NAME not in bad.raw.decode()
    assert parse_result(bad.raw) == bad.result  # still stored in the usual layout
    assert read.units[1].result.validity == "4" and read.units[2].result.validity == "1"


def test_units_without_a_usable_identifier_are_dropped_and_counted() -> None:
    data = build_bulk_answer(answer(4), medical_institution_code=MIC)
    data = data.replace(b"<ArbitraryIdentifier>a1<", b"<ArbitraryIdentifier><")
    data = data.replace(b"<ArbitraryIdentifier>a3<", b"<ArbitraryIdentifier>a0<")
    read = parse_bulk_answer(data)
    assert [u.identifier for u in read.units] == ["a0", "a2"] and read.dropped == 2


def test_counts_must_be_numbers() -> None:
    data = build_bulk_answer(answer(1), medical_institution_code=MIC)
    data = data.replace(b"<NumberOfError>0<", b"<NumberOfError>x<")
    with pytest.raises(MessageError) as wrong:
        parse_bulk_answer(data)
    assert wrong.value.path == "MessageBody/NumberOfError"


def test_an_unreadable_header_is_the_whole_document() -> None:
    data = build_bulk_answer(answer(1), medical_institution_code=MIC)
    with pytest.raises(MessageError) as wrong:
        parse_bulk_answer(data.replace(b"<SegmentOfResult>1<", b"<SegmentOfResult>7<"))
    assert wrong.value.path == "MessageHeader/SegmentOfResult"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_reference_registration_round_trip(encoding: str) -> None:
    one = ReferenceRequest(MIC, "r-1", (ReferenceRegistration("PN-0001", search(1)),))
    many = dataclasses.replace(
        one, registrations=one.registrations + (ReferenceRegistration("PN-0002", search(2)),)
    )
    for request in (one, many):
        read = parse_reference_request(build_reference_request(request, encoding))
        # a registration's search has no limit-consent flag
        assert read == request
    assert reference_prefixes(one) == ("OQSsiimm01req", "OQSsiimm01res")
    assert reference_prefixes(many) == ("OQSmuimm01req", "OQSmuimm01res")
    outcomes = (
        ReferenceOutcome("PN-0001", True),
        ReferenceOutcome("PN-0002", False, "R004", "該当する資格がありません。"),
    )
    sent = ReferenceAnswer("r-1", "20261129220000", outcomes)
    built = build_reference_answer(sent, medical_institution_code=MIC, encoding=encoding)
    assert parse_reference_answer(built) == sent


def test_reference_numbers_are_checked() -> None:
    long = ReferenceRequest(MIC, "r-1", (ReferenceRegistration("9" * 51, search(1)),))
    with pytest.raises(MessageError, match="1 to 50"):
        build_reference_request(long)
    twice = ReferenceRequest(
        MIC, "r-1", (ReferenceRegistration("A", search(1)), ReferenceRegistration("A", search(2)))
    )
    with pytest.raises(MessageError, match="repeated"):
        build_reference_request(twice)


def test_file_names() -> None:
    assert file_name("OQSmuquc01req", "20261129-001") == "OQSmuquc01req_20261129-001.xml"
    assert file_name("OQSmuquc02res", "q1", "zip") == "OQSmuquc02res_q1.zip"
    assert answer_name("OQSmuimm01req_x.xml") == "OQSmuimm01res_x.xml"
    with pytest.raises(MessageError):
        file_name("OQSmuquc01req", "../etc")
    with pytest.raises(ValueError):
        file_name("OQSsiquc01req", "x")
