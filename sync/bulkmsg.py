"""Bulk qualification inquiry (一括照会, DOMAIN.md §3 "Bulk inquiry") and 照会番号 registration:
the typed messages, and building and parsing the official documents (through sync/xmldoc.py, as
sync/xmlmsg.py does: a MessageError names the tag path at fault and never echoes a value).

A bulk inquiry is asynchronous in four files: `OQSmuquc01req` (many search entries, each with
its own `ArbitraryIdentifier`) → `OQSmuquc01res` (a `ReceptionNumber`) → `OQSmuquc02req` (that
number) → `OQSmuquc02res` (SegmentOfResult 2 "not ready, ask again", or the counts and one unit
per entry). The reception number is what survives a restart in the middle of a run.

Layouts (docs/central-api.md, "Bulk inquiry"):
- OQSmuquc01req: header QualificationConfirmationDate, MedicalInstitutionCode,
  ArbitraryFileIdentifier; body one `QualificationConfirmSearchInfo` per entry, its
  `ArbitraryIdentifier` first, then the single request's search tags.
- OQSmuquc01res: header ProcessExecutionTime, MedicalInstitutionCode, ArbitraryFileIdentifier,
  ReceptionNumber, SegmentOfResult, ErrorCode/ErrorMessage (abnormal), CharacterCodeIdentifier.
- OQSmuquc02req: header MedicalInstitutionCode, ArbitraryFileIdentifier, ReceptionNumber.
- OQSmuquc02res: header ProcessExecutionTime, QualificationConfirmationDate,
  MedicalInstitutionCode, ArbitraryFileIdentifier, ReceptionNumber, SegmentOfResult, ErrorCode,
  ErrorMessage, CharacterCodeIdentifier; body NumberOfProcessingResult,
  NumberOfNormalProcessing, NumberOfError and `BulkResultList/BulkResult` per entry: its
  `ArbitraryIdentifier`, then a body laid out as a single answer's (ProcessingResultStatus …
  QualificationValidity, the search echo, ResultList/ResultOfQualificationConfirmation …).
- OQSsiimm01req (one) / OQSmuimm01req (many): header MedicalInstitutionCode,
  ArbitraryFileIdentifier; body one `ReferenceNumberRegistrationInfo` per registration
  (ReferenceNumber, InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber,
  InsuredBranchNumber, Birthdate).
- OQSsiimm01res / OQSmuimm01res: header as OQSmuquc01res without ReceptionNumber; body one
  `ReferenceNumberRegistrationResult` per registration (ReferenceNumber,
  ProcessingResultStatus 1 registered / 2 not, ProcessingResultCode, ProcessingResultMessage).

Each unit of a bulk answer is read on its own: `BulkUnit.raw` is the unit rebuilt as a
standalone OQSsiquc01res document in UTF-8 (ReferenceClassification 2, its
ArbitraryFileIdentifier the unit's ArbitraryIdentifier, the bulk header's times and codes),
parsed by sync.xmlmsg like any single answer, so the store and the receipt computer see the
usual layout. A unit whose body cannot be read does not lose the others: it becomes a unit with
SegmentOfResult 9,
ProcessingResultStatus 2 and ErrorCode UNREADABLE_UNIT_CODE (its message names the tag path),
which the desk treats as "confirm again". A unit without a usable ArbitraryIdentifier (missing,
unsafe, or repeated) cannot be tied to an entry: it is dropped and counted in
`BulkAnswer.dropped` (its entry simply has no unit: not checked). A header that cannot be read
makes the whole document unreadable (MessageError).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from sync.xmldoc import (
    MAX_MESSAGE_BYTES,
    ROOT_TAG,
    MessageError,
    Node,
    add_flag,
    add_leaf,
    missing_tag,
    parse_document,
    serialize,
)
from sync.xmlmsg import (
    QualificationResult,
    SearchInfo,
    build_result,
    checked_file_id,
    parse_result,
)

# How many entries one OQSmuquc01req carries at most; a longer list is split into batches.
MAX_BULK_ENTRIES = 1000
# The size cap of a bulk document, as sent or once decompressed (a thousand units are larger
# than a single message's sync.xmldoc.MAX_MESSAGE_BYTES); both transports and the simulators.
MAX_BULK_BYTES = 16_000_000
MAX_REFERENCE_NUMBER = 50  # characters of a 照会番号

BULK_UPLOAD_REQUEST, BULK_UPLOAD_RESULT = "OQSmuquc01req", "OQSmuquc01res"
BULK_QUERY_REQUEST, BULK_QUERY_RESULT = "OQSmuquc02req", "OQSmuquc02res"
REFERENCE_REQUEST, REFERENCE_RESULT = "OQSsiimm01req", "OQSsiimm01res"  # one registration
REFERENCES_REQUEST, REFERENCES_RESULT = "OQSmuimm01req", "OQSmuimm01res"  # many
# The monthly 医療扶助 bulk (医療券 download, DOMAIN §8 `tic`): keyed by MedicalTreatmentMonth.
AID_UPLOAD_REQUEST, AID_UPLOAD_RESULT = "OQSmutic01req", "OQSmutic01res"
AID_QUERY_REQUEST, AID_QUERY_RESULT = "OQSmutic02req", "OQSmutic02res"
# ErrorCode of a unit whose body could not be read (made here, never sent by the central)
UNREADABLE_UNIT_CODE = "UNREADABLE"


@dataclass(frozen=True)
class BulkEntry:  # one <QualificationConfirmSearchInfo> of OQSmuquc01req
    identifier: str  # ArbitraryIdentifier: ties the unit of the answer back to the entry
    search: SearchInfo


@dataclass(frozen=True)
class BulkUpload:  # OQSmuquc01req
    medical_institution_code: str
    confirmation_date: str  # QualificationConfirmationDate YYYYMMDD: the day checked (tomorrow)
    file_id: str  # ArbitraryFileIdentifier (idempotency key: the same upload twice → same number)
    entries: tuple[BulkEntry, ...]


@dataclass(frozen=True)
class BulkReceipt:  # OQSmuquc01res
    file_id: str
    reception_number: str  # ReceptionNumber: what the download asks for
    process_time: str  # ProcessExecutionTime (the central's clock)
    segment_of_result: str = "1"  # "9": refused (ErrorCode, ErrorMessage), no number
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class BulkQuery:  # OQSmuquc02req
    medical_institution_code: str
    file_id: str  # ArbitraryFileIdentifier of this download request
    reception_number: str


@dataclass(frozen=True)
class BulkUnit:  # one person's answer inside OQSmuquc02res
    identifier: str  # the entry's ArbitraryIdentifier
    result: QualificationResult  # as a single answer would carry it (ReferenceClassification 2)
    raw: bytes  # that unit as a single result document (OQSsiquc01res layout), for the store


@dataclass(frozen=True)
class BulkAnswer:  # OQSmuquc02res
    file_id: str
    reception_number: str
    process_time: str
    segment_of_result: str  # "1" done, "2" in progress (ask again), "9" abnormal
    processed: int = 0  # NumberOfProcessingResult
    normal: int = 0  # NumberOfNormalProcessing
    errors: int = 0  # NumberOfError
    units: tuple[BulkUnit, ...] = ()
    error_code: str = ""
    error_message: str = ""
    confirmation_date: str = ""  # QualificationConfirmationDate of the upload
    dropped: int = 0  # units read without a usable ArbitraryIdentifier (see the module doc)
    treatment_month: str = ""  # MedicalTreatmentMonth YYYYMM: an OQSmutic02res (医療扶助)

    @property
    def ready(self) -> bool:
        return self.segment_of_result == "1"


@dataclass(frozen=True)
class ReferenceRegistration:  # one <ReferenceNumberRegistrationInfo>
    reference_number: str  # 照会番号: the clinic's patient number (≤ 50)
    search: SearchInfo  # whose: insurer / symbol / number / branch / birth date


@dataclass(frozen=True)
class ReferenceRequest:  # OQSsiimm01req (one) or OQSmuimm01req (many)
    medical_institution_code: str
    file_id: str
    registrations: tuple[ReferenceRegistration, ...]


@dataclass(frozen=True)
class ReferenceOutcome:  # the answer for one registration
    reference_number: str
    registered: bool
    code: str = ""  # ProcessingResultCode when not registered
    message: str = ""  # ProcessingResultMessage, shown to staff verbatim


@dataclass(frozen=True)
class ReferenceAnswer:  # OQSsiimm01res / OQSmuimm01res
    file_id: str
    process_time: str
    outcomes: tuple[ReferenceOutcome, ...]
    segment_of_result: str = "1"  # "9": the whole request refused (ErrorCode, ErrorMessage)
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class AidEntry:  # one <MedicalTicketSearchInfo> of OQSmutic01req (tag names best-known)
    identifier: str  # ArbitraryIdentifier, as in OQSmuquc01req
    public_number: str  # PublicExpenseNumber 公費負担者番号 (8 digits, 法別 12 for 生活保護)
    recipient: str  # RecipientNumber 受給者番号 (7 digits)
    birthdate: str  # Birthdate YYYYMMDD


@dataclass(frozen=True)
class AidUpload:  # OQSmutic01req: the month's 医療扶助 recipients, for their 医療券
    medical_institution_code: str
    treatment_month: str  # MedicalTreatmentMonth YYYYMM
    file_id: str  # ArbitraryFileIdentifier (idempotency key, as for OQSmuquc01req)
    entries: tuple[AidEntry, ...]


# ---------------------------------------------------------------------------- file names

_PREFIXES = frozenset(
    {
        BULK_UPLOAD_REQUEST,
        BULK_UPLOAD_RESULT,
        BULK_QUERY_REQUEST,
        BULK_QUERY_RESULT,
        REFERENCE_REQUEST,
        REFERENCE_RESULT,
        REFERENCES_REQUEST,
        REFERENCES_RESULT,
        AID_UPLOAD_REQUEST,
        AID_UPLOAD_RESULT,
        AID_QUERY_REQUEST,
        AID_QUERY_RESULT,
    }
)


def file_name(prefix: str, file_id: str, extension: str = "xml") -> str:
    """`<prefix>_<file id>.<extension>`, e.g. `OQSmuquc01req_<id>.xml`; the id checked safe."""
    if prefix not in _PREFIXES or extension not in ("xml", "zip"):
        raise ValueError(f"not a bulk or registration file: {prefix}.{extension}")
    return f"{prefix}_{checked_file_id(file_id)}.{extension}"


def answer_name(request_name: str) -> str:
    """The answer's file name for a request's: `req` → `res` (DOMAIN §8)."""
    return request_name.replace("req_", "res_", 1)


def reference_prefixes(request: ReferenceRequest) -> tuple[str, str]:
    """(request, answer) prefix: OQSsiimm01 for one registration, OQSmuimm01 for more."""
    if len(request.registrations) == 1:
        return REFERENCE_REQUEST, REFERENCE_RESULT
    return REFERENCES_REQUEST, REFERENCES_RESULT


# ---------------------------------------------------------------------------- common parts


def _header(root: ET.Element) -> ET.Element:
    return ET.SubElement(root, "MessageHeader")


def _add_search(parent: ET.Element, tag: str, search: SearchInfo, first: tuple[str, str]) -> None:
    node = ET.SubElement(parent, tag)
    add_leaf(node, first[0], first[1], always=True)
    add_leaf(node, "InsurerNumber", search.insurer_number, always=True)
    add_leaf(node, "InsuredCardSymbol", search.symbol)
    add_leaf(node, "InsuredIdentificationNumber", search.number, always=True)
    add_leaf(node, "InsuredBranchNumber", search.branch)
    add_leaf(node, "Birthdate", search.birthdate, always=True)
    if tag == "QualificationConfirmSearchInfo":
        add_flag(node, "LimitApplicationCertificateRelatedConsFlg", search.limit_consent)


def _parse_search(node: Node) -> SearchInfo:
    return SearchInfo(
        insurer_number=node.text("InsurerNumber", required=True),
        number=node.text("InsuredIdentificationNumber", required=True),
        birthdate=node.date("Birthdate", 8, required=True),
        symbol=node.text("InsuredCardSymbol"),
        branch=node.text("InsuredBranchNumber"),
        limit_consent=node.flag("LimitApplicationCertificateRelatedConsFlg"),
    )


def _count(node: Node, tag: str) -> int | None:
    value = node.text(tag)
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        path = node.sub(tag)
        raise MessageError(f"{path} は数字です / {path} must be a number", path)
    return int(value)


def _answer_header(
    root: ET.Element,
    *,
    process_time: str,
    institution: str,
    file_id: str,
    segment: str,
    error_code: str,
    error_message: str,
    character_code: str,
    reception_number: str | None = None,
    confirmation_date: str | None = None,
    treatment_month: str = "",
) -> None:
    header = _header(root)
    add_leaf(header, "ProcessExecutionTime", process_time, always=True)
    if treatment_month:
        add_leaf(header, "MedicalTreatmentMonth", treatment_month, always=True)
    elif confirmation_date is not None:
        add_leaf(header, "QualificationConfirmationDate", confirmation_date, always=True)
    add_leaf(header, "MedicalInstitutionCode", institution, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", file_id, always=True)
    if reception_number is not None:
        add_leaf(header, "ReceptionNumber", reception_number)
    add_leaf(header, "SegmentOfResult", segment, always=True)
    add_leaf(header, "ErrorCode", error_code)
    add_leaf(header, "ErrorMessage", error_message)
    add_leaf(header, "CharacterCodeIdentifier", character_code)


def _segment(header: Node) -> str:
    segment = header.text("SegmentOfResult", required=True)
    if segment not in ("1", "2", "9"):
        path = header.sub("SegmentOfResult")
        raise MessageError(f"{path} は 1・2・9 のいずれかです / {path} must be 1, 2 or 9", path)
    return segment


def _unique_identifiers(identifiers: list[str], what: str) -> None:
    seen: set[str] = set()
    for identifier in identifiers:
        checked_file_id(identifier)
        if identifier in seen:
            raise MessageError(f"{what} が重複しています / {what} repeated")
        seen.add(identifier)


def _entry_count(count: int, what: str) -> None:
    if not 1 <= count <= MAX_BULK_ENTRIES:
        raise MessageError(
            f"{what}は 1〜{MAX_BULK_ENTRIES} 件です ({count} 件) / "
            f"1 to {MAX_BULK_ENTRIES} {what} per document ({count} given)"
        )


# ---------------------------------------------------------------------------- OQSmuquc01


def build_bulk_upload(request: BulkUpload, encoding: str = "utf-8") -> bytes:
    """OQSmuquc01req. Refused (MessageError) when empty, over MAX_BULK_ENTRIES, or when an
    ArbitraryIdentifier is repeated or unsafe in a file id (letters, digits, `_-.`)."""
    _entry_count(len(request.entries), "照会")
    _unique_identifiers([e.identifier for e in request.entries], "ArbitraryIdentifier")
    root = ET.Element(ROOT_TAG)
    header = _header(root)
    add_leaf(header, "QualificationConfirmationDate", request.confirmation_date, always=True)
    add_leaf(header, "MedicalInstitutionCode", request.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", request.file_id, always=True)
    body = ET.SubElement(root, "MessageBody")
    for entry in request.entries:
        _add_search(
            body,
            "QualificationConfirmSearchInfo",
            entry.search,
            ("ArbitraryIdentifier", entry.identifier),
        )
    return serialize(root, encoding)


def parse_bulk_upload(data: bytes) -> BulkUpload:
    root = parse_document(data, limit=MAX_BULK_BYTES)
    header = root.require("MessageHeader")
    confirmation_date = header.date("QualificationConfirmationDate", 8, required=True)
    institution = header.text("MedicalInstitutionCode", required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    body = root.require("MessageBody")
    entries = tuple(
        BulkEntry(node.text("ArbitraryIdentifier", required=True), _parse_search(node))
        for node in body.children("QualificationConfirmSearchInfo")
    )
    if not entries:
        raise missing_tag(body.sub("QualificationConfirmSearchInfo"))
    _entry_count(len(entries), "照会")
    _unique_identifiers([e.identifier for e in entries], "ArbitraryIdentifier")
    return BulkUpload(institution, confirmation_date, file_id, entries)


def build_bulk_receipt(
    receipt: BulkReceipt,
    *,
    medical_institution_code: str,
    character_code: str = "",
    encoding: str = "utf-8",
) -> bytes:
    """OQSmuquc01res."""
    root = ET.Element(ROOT_TAG)
    _answer_header(
        root,
        process_time=receipt.process_time,
        institution=medical_institution_code,
        file_id=receipt.file_id,
        reception_number=receipt.reception_number,
        segment=receipt.segment_of_result,
        error_code=receipt.error_code,
        error_message=receipt.error_message,
        character_code=character_code,
    )
    return serialize(root, encoding)


def parse_bulk_receipt(data: bytes) -> BulkReceipt:
    """OQSmuquc01res; a ReceptionNumber is required unless the segment is 9 (refused)."""
    root = parse_document(data)
    header = root.require("MessageHeader")
    process_time = header.date("ProcessExecutionTime", 14, required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    segment = _segment(header)
    reception = header.text("ReceptionNumber", required=segment != "9")
    return BulkReceipt(
        file_id=file_id,
        reception_number=reception,
        process_time=process_time,
        segment_of_result=segment,
        error_code=header.text("ErrorCode"),
        error_message=header.text("ErrorMessage"),
    )


# ---------------------------------------------------------------------------- OQSmuquc02


def build_bulk_query(query: BulkQuery, encoding: str = "utf-8") -> bytes:
    """OQSmuquc02req."""
    if not query.reception_number:
        raise MessageError("ReceptionNumber が空です / ReceptionNumber is empty")
    root = ET.Element(ROOT_TAG)
    header = _header(root)
    add_leaf(header, "MedicalInstitutionCode", query.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", query.file_id, always=True)
    add_leaf(header, "ReceptionNumber", query.reception_number, always=True)
    return serialize(root, encoding)


def parse_bulk_query(data: bytes) -> BulkQuery:
    header = parse_document(data).require("MessageHeader")
    return BulkQuery(
        medical_institution_code=header.text("MedicalInstitutionCode", required=True),
        file_id=header.text("ArbitraryFileIdentifier", required=True),
        reception_number=header.text("ReceptionNumber", required=True),
    )


def build_bulk_answer(
    answer: BulkAnswer,
    *,
    medical_institution_code: str,
    character_code: str = "",
    encoding: str = "utf-8",
) -> bytes:
    """OQSmuquc02res: each unit's body is its `result`'s body as build_result writes it (so
    whatever a single answer carries, a unit carries too)."""
    root = ET.Element(ROOT_TAG)
    _answer_header(
        root,
        process_time=answer.process_time,
        confirmation_date=answer.confirmation_date,
        treatment_month=answer.treatment_month,
        institution=medical_institution_code,
        file_id=answer.file_id,
        reception_number=answer.reception_number,
        segment=answer.segment_of_result,
        error_code=answer.error_code,
        error_message=answer.error_message,
        character_code=character_code,
    )
    if answer.segment_of_result == "1":
        body = ET.SubElement(root, "MessageBody")
        add_leaf(body, "NumberOfProcessingResult", str(answer.processed), always=True)
        add_leaf(body, "NumberOfNormalProcessing", str(answer.normal), always=True)
        add_leaf(body, "NumberOfError", str(answer.errors), always=True)
        units = ET.SubElement(body, "BulkResultList")
        for unit in answer.units:
            node = ET.SubElement(units, "BulkResult")
            add_leaf(node, "ArbitraryIdentifier", unit.identifier, always=True)
            single = parse_document(build_result(unit.result)).child("MessageBody")
            if single is not None:
                node.extend(list(single.element))
    return serialize(root, encoding)


def parse_bulk_answer(data: bytes) -> BulkAnswer:
    """OQSmuquc02res (or OQSmutic02res, whose header carries MedicalTreatmentMonth instead of
    QualificationConfirmationDate: its units are dated the month's first day), up to
    MAX_BULK_BYTES; units read one by one (see the module doc)."""
    root = parse_document(data, limit=MAX_BULK_BYTES)
    header = root.require("MessageHeader")
    process_time = header.date("ProcessExecutionTime", 14, required=True)
    institution = header.text("MedicalInstitutionCode", required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    segment = _segment(header)
    month = header.date("MedicalTreatmentMonth", 6)
    confirmation_date = header.date(
        "QualificationConfirmationDate", 8, required=segment == "1" and not month
    ) or (f"{month}01" if month else "")
    reception = header.text("ReceptionNumber")
    error_code = header.text("ErrorCode")
    error_message = header.text("ErrorMessage")
    character_code = header.text("CharacterCodeIdentifier")
    answer = BulkAnswer(
        file_id=file_id,
        reception_number=reception,
        process_time=process_time,
        segment_of_result=segment,
        error_code=error_code,
        error_message=error_message,
        confirmation_date=confirmation_date,
        treatment_month=month,
    )
    body = root.child("MessageBody")
    if segment != "1" or body is None:
        return answer
    units: list[BulkUnit] = []
    seen: set[str] = set()
    dropped = 0
    unit_list = body.child("BulkResultList")
    for node in () if unit_list is None else unit_list.children("BulkResult"):
        identifier = node.text("ArbitraryIdentifier")
        try:
            checked_file_id(identifier)
        except MessageError:
            dropped += 1
            continue
        if identifier in seen:
            dropped += 1
            continue
        seen.add(identifier)
        stamp = _UnitStamp(process_time, confirmation_date, institution, identifier, character_code)
        units.append(_unit(node, stamp))
    processed = _count(body, "NumberOfProcessingResult")
    normal = _count(body, "NumberOfNormalProcessing")
    errors = _count(body, "NumberOfError")
    found_normal = sum(1 for u in units if u.result.processing_status == "1")
    return BulkAnswer(
        file_id=file_id,
        reception_number=reception,
        process_time=process_time,
        segment_of_result=segment,
        processed=len(units) + dropped if processed is None else processed,
        normal=found_normal if normal is None else normal,
        errors=len(units) + dropped - found_normal if errors is None else errors,
        units=tuple(units),
        error_code=error_code,
        error_message=error_message,
        confirmation_date=confirmation_date,
        dropped=dropped,
        treatment_month=month,
    )


# ---------------------------------------------------------------------------- OQSmutic01
# The receipt (OQSmutic01res) is laid out as OQSmuquc01res, the download request (OQSmutic02req)
# as OQSmuquc02req and the answer (OQSmutic02res) as OQSmuquc02res with MedicalTreatmentMonth in
# its header: build_bulk_receipt / build_bulk_query / build_bulk_answer and their parsers serve.
# Each unit is a single answer for the recipient: QualificationValidity 1 with the month's
# PublicExpenseResultList/MedicalTicketInfo, 6 有効（未登録: no ticket online for this clinic), or
# 4 (no such recipient).


def build_aid_upload(request: AidUpload, encoding: str = "utf-8") -> bytes:
    """OQSmutic01req. Refused (MessageError) when empty, over MAX_BULK_ENTRIES, with a month
    that is not YYYYMM, or an ArbitraryIdentifier repeated or unsafe in a file id."""
    _entry_count(len(request.entries), "医療扶助の照会")
    _unique_identifiers([e.identifier for e in request.entries], "ArbitraryIdentifier")
    _check_month(request.treatment_month)
    root = ET.Element(ROOT_TAG)
    header = _header(root)
    add_leaf(header, "MedicalTreatmentMonth", request.treatment_month, always=True)
    add_leaf(header, "MedicalInstitutionCode", request.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", request.file_id, always=True)
    body = ET.SubElement(root, "MessageBody")
    for entry in request.entries:
        node = ET.SubElement(body, "MedicalTicketSearchInfo")
        add_leaf(node, "ArbitraryIdentifier", entry.identifier, always=True)
        add_leaf(node, "PublicExpenseNumber", entry.public_number, always=True)
        add_leaf(node, "RecipientNumber", entry.recipient, always=True)
        add_leaf(node, "Birthdate", entry.birthdate, always=True)
    return serialize(root, encoding)


def parse_aid_upload(data: bytes) -> AidUpload:
    root = parse_document(data, limit=MAX_BULK_BYTES)
    header = root.require("MessageHeader")
    month = header.date("MedicalTreatmentMonth", 6, required=True)
    _check_month(month)
    institution = header.text("MedicalInstitutionCode", required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    body = root.require("MessageBody")
    entries = tuple(
        AidEntry(
            identifier=node.text("ArbitraryIdentifier", required=True),
            public_number=node.text("PublicExpenseNumber", required=True),
            recipient=node.text("RecipientNumber", required=True),
            birthdate=node.date("Birthdate", 8, required=True),
        )
        for node in body.children("MedicalTicketSearchInfo")
    )
    if not entries:
        raise missing_tag(body.sub("MedicalTicketSearchInfo"))
    _entry_count(len(entries), "医療扶助の照会")
    _unique_identifiers([e.identifier for e in entries], "ArbitraryIdentifier")
    return AidUpload(institution, month, file_id, entries)


def _check_month(month: str) -> None:
    if not (len(month) == 6 and month.isascii() and month.isdigit() and 1 <= int(month[4:]) <= 12):
        raise MessageError(
            "MedicalTreatmentMonth は YYYYMM です / MedicalTreatmentMonth must be YYYYMM",
            "MessageHeader/MedicalTreatmentMonth",
        )


@dataclass(frozen=True)
class _UnitStamp:  # the bulk header's values a unit's standalone document carries
    process_time: str
    confirmation_date: str
    institution: str
    identifier: str
    character_code: str


def _unit(node: Node, stamp: _UnitStamp) -> BulkUnit:
    """One unit as a standalone OQSsiquc01res document, parsed as a single answer; one that
    cannot be read becomes an abnormal unit (SegmentOfResult 9) naming where it failed."""
    root = ET.Element(ROOT_TAG)
    header = _header(root)
    add_leaf(header, "ProcessExecutionTime", stamp.process_time, always=True)
    add_leaf(header, "QualificationConfirmationDate", stamp.confirmation_date, always=True)
    add_leaf(header, "MedicalInstitutionCode", stamp.institution, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", stamp.identifier, always=True)
    add_leaf(header, "ReferenceClassification", "2", always=True)
    add_leaf(header, "SegmentOfResult", "1", always=True)
    add_leaf(header, "CharacterCodeIdentifier", stamp.character_code)
    body = ET.SubElement(root, "MessageBody")
    for child in node.element:
        if child.tag != "ArbitraryIdentifier":
            body.append(copy.deepcopy(child))
    try:
        raw = serialize(root, "utf-8")
        return BulkUnit(stamp.identifier, parse_result(raw), raw)
    except MessageError as exc:
        where = _unit_path(exc.path, node.path)
        failed = QualificationResult(
            process_time=stamp.process_time,
            confirmation_date=stamp.confirmation_date,
            medical_institution_code=stamp.institution,
            file_id=stamp.identifier,
            reference_classification="2",
            segment_of_result="9",
            processing_status="2",
            error_code=UNREADABLE_UNIT_CODE,
            error_message=(
                f"一括照会のこの結果を読めません ({where})。窓口で確認してください / this unit of "
                f"the bulk answer cannot be read ({where}); confirm at the desk"
            ),
            character_code=stamp.character_code,
        )
        raw = build_result(failed)
        return BulkUnit(stamp.identifier, failed, raw)


def _unit_path(path: str | None, unit_path: str) -> str:
    """The failing tag's path inside the bulk document (MessageBody/… of the unit's own)."""
    if not path:
        return unit_path
    return f"{unit_path}/{path.removeprefix('MessageBody/')}"


# ---------------------------------------------------------------------------- OQS…imm01


def _check_reference(number: str) -> None:
    if not number or len(number) > MAX_REFERENCE_NUMBER or not number.isprintable():
        raise MessageError(
            f"ReferenceNumber は 1〜{MAX_REFERENCE_NUMBER} 文字の印字可能な文字です / "
            f"ReferenceNumber must be 1 to {MAX_REFERENCE_NUMBER} printable characters"
        )


def build_reference_request(request: ReferenceRequest, encoding: str = "utf-8") -> bytes:
    """OQSsiimm01req (one registration) or OQSmuimm01req (more): the same layout."""
    _entry_count(len(request.registrations), "登録")
    numbers = [r.reference_number for r in request.registrations]
    for number in numbers:
        _check_reference(number)
    if len(set(numbers)) != len(numbers):
        raise MessageError("ReferenceNumber が重複しています / ReferenceNumber repeated")
    root = ET.Element(ROOT_TAG)
    header = _header(root)
    add_leaf(header, "MedicalInstitutionCode", request.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", request.file_id, always=True)
    body = ET.SubElement(root, "MessageBody")
    for registration in request.registrations:
        _add_search(
            body,
            "ReferenceNumberRegistrationInfo",
            registration.search,
            ("ReferenceNumber", registration.reference_number),
        )
    return serialize(root, encoding)


def parse_reference_request(data: bytes) -> ReferenceRequest:
    root = parse_document(data, limit=MAX_BULK_BYTES)
    header = root.require("MessageHeader")
    institution = header.text("MedicalInstitutionCode", required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    body = root.require("MessageBody")
    registrations: list[ReferenceRegistration] = []
    for node in body.children("ReferenceNumberRegistrationInfo"):
        number = node.text("ReferenceNumber", required=True)
        if len(number) > MAX_REFERENCE_NUMBER:
            path = node.sub("ReferenceNumber")
            raise MessageError(
                f"{path} は {MAX_REFERENCE_NUMBER} 文字までです / "
                f"{path} is longer than {MAX_REFERENCE_NUMBER}",
                path,
            )
        registrations.append(ReferenceRegistration(number, _parse_search(node)))
    if not registrations:
        raise missing_tag(body.sub("ReferenceNumberRegistrationInfo"))
    _entry_count(len(registrations), "登録")
    return ReferenceRequest(institution, file_id, tuple(registrations))


def build_reference_answer(
    answer: ReferenceAnswer,
    *,
    medical_institution_code: str,
    character_code: str = "",
    encoding: str = "utf-8",
) -> bytes:
    root = ET.Element(ROOT_TAG)
    _answer_header(
        root,
        process_time=answer.process_time,
        institution=medical_institution_code,
        file_id=answer.file_id,
        segment=answer.segment_of_result,
        error_code=answer.error_code,
        error_message=answer.error_message,
        character_code=character_code,
    )
    if answer.outcomes:
        body = ET.SubElement(root, "MessageBody")
        for outcome in answer.outcomes:
            node = ET.SubElement(body, "ReferenceNumberRegistrationResult")
            add_leaf(node, "ReferenceNumber", outcome.reference_number, always=True)
            add_leaf(node, "ProcessingResultStatus", "1" if outcome.registered else "2")
            add_leaf(node, "ProcessingResultCode", outcome.code)
            add_leaf(node, "ProcessingResultMessage", outcome.message)
    return serialize(root, encoding)


def parse_reference_answer(data: bytes) -> ReferenceAnswer:
    root = parse_document(data, limit=MAX_BULK_BYTES)
    header = root.require("MessageHeader")
    process_time = header.date("ProcessExecutionTime", 14, required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    segment = _segment(header)
    outcomes: list[ReferenceOutcome] = []
    body = root.child("MessageBody")
    for node in () if body is None else body.children("ReferenceNumberRegistrationResult"):
        status = node.text("ProcessingResultStatus", required=True)
        if status not in ("1", "2"):
            path = node.sub("ProcessingResultStatus")
            raise MessageError(f"{path} は 1 か 2 です / {path} must be 1 or 2", path)
        outcomes.append(
            ReferenceOutcome(
                reference_number=node.text("ReferenceNumber", required=True),
                registered=status == "1",
                code=node.text("ProcessingResultCode"),
                message=node.text("ProcessingResultMessage"),
            )
        )
    return ReferenceAnswer(
        file_id=file_id,
        process_time=process_time,
        outcomes=tuple(outcomes),
        segment_of_result=segment,
        error_code=header.text("ErrorCode"),
        error_message=header.text("ErrorMessage"),
    )


__all__ = [
    "BULK_QUERY_REQUEST",
    "BULK_QUERY_RESULT",
    "BULK_UPLOAD_REQUEST",
    "BULK_UPLOAD_RESULT",
    "MAX_BULK_BYTES",
    "MAX_BULK_ENTRIES",
    "MAX_MESSAGE_BYTES",
    "REFERENCES_REQUEST",
    "REFERENCES_RESULT",
    "REFERENCE_REQUEST",
    "REFERENCE_RESULT",
    "UNREADABLE_UNIT_CODE",
    "BulkAnswer",
    "BulkEntry",
    "BulkQuery",
    "BulkReceipt",
    "BulkUnit",
    "BulkUpload",
    "MessageError",
    "ReferenceAnswer",
    "ReferenceOutcome",
    "ReferenceRegistration",
    "ReferenceRequest",
    "answer_name",
    "build_bulk_answer",
    "build_bulk_query",
    "build_bulk_receipt",
    "build_bulk_upload",
    "build_reference_answer",
    "build_reference_request",
    "file_name",
    "parse_bulk_answer",
    "parse_bulk_query",
    "parse_bulk_receipt",
    "parse_bulk_upload",
    "parse_reference_answer",
    "parse_reference_request",
    "reference_prefixes",
]
