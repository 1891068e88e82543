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
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from sync.xmldoc import (
    MAX_MESSAGE_BYTES,
    ROOT_TAG,
    MessageError,
    Node,
    add_leaf,
    missing_tag,
    parse_document,
    serialize,
)
from sync.xmlmsg import (
    QualificationResult,
    SearchInfo,
    add_required,
    add_search,
    build_result,
    checked_file_id,
    parse_result,
    parse_search,
    result_root,
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

_E = TypeVar("_E")


@dataclass(frozen=True)
class _Listing(Generic[_E]):
    """A request laid out as a list (OQSmuquc01req, OQSmutic01req, OQS…imm01req): a header
    (`dated`: its date tag and digits, if any; then MedicalInstitutionCode and
    ArbitraryFileIdentifier, all required) and 1 to MAX_BULK_ENTRIES `tag` entries (`what`,
    named in the refusal), each `identifier` safe in a file id and unique, when it has one."""

    dated: tuple[str, int] | None
    tag: str
    what: str
    write: Callable[[ET.Element, _E], object]
    read: Callable[[Node], _E]
    identifier: Callable[[_E], str] | None = None

    def check(self, entries: tuple[_E, ...]) -> None:
        if not 1 <= len(entries) <= MAX_BULK_ENTRIES:
            raise MessageError(
                f"{self.what}は 1〜{MAX_BULK_ENTRIES} 件です ({len(entries)} 件) / "
                f"1 to {MAX_BULK_ENTRIES} {self.what} per document ({len(entries)} given)"
            )
        seen: set[str] = set()
        for identifier in map(self.identifier, entries) if self.identifier else ():
            checked_file_id(identifier)
            if identifier in seen:
                raise MessageError(
                    "ArbitraryIdentifier が重複しています / ArbitraryIdentifier repeated"
                )
            seen.add(identifier)

    def build(self, head: tuple[str, ...], entries: tuple[_E, ...], encoding: str) -> bytes:
        """`head`: the header's values, (date,) institution, file id."""
        self.check(entries)
        tags = ((self.dated[0],) if self.dated else ()) + _LISTING_TAGS
        root = ET.Element(ROOT_TAG)
        add_required(root, "MessageHeader", *zip(tags, head, strict=True))
        body = ET.SubElement(root, "MessageBody")
        for entry in entries:
            self.write(body, entry)
        return serialize(root, encoding)

    def parse(self, data: bytes) -> tuple[str, str, str, tuple[_E, ...]]:
        """(date or "", institution, file id, entries), up to MAX_BULK_BYTES."""
        root = parse_document(data, limit=MAX_BULK_BYTES)
        header = root.require("MessageHeader")
        date = "" if self.dated is None else header.date(*self.dated, required=True)
        institution = header.text("MedicalInstitutionCode", required=True)
        file_id = header.text("ArbitraryFileIdentifier", required=True)
        body = root.require("MessageBody")
        entries = tuple(self.read(node) for node in body.children(self.tag))
        if not entries:
            raise missing_tag(body.sub(self.tag))
        self.check(entries)
        return date, institution, file_id, entries


_LISTING_TAGS = ("MedicalInstitutionCode", "ArbitraryFileIdentifier")


def _count(node: Node, tag: str) -> int | None:
    value = node.text(tag)
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        path = node.sub(tag)
        raise MessageError(f"{path} は数字です / {path} must be a number", path)
    return int(value)


def _answer_root(
    answer: BulkReceipt | BulkAnswer | ReferenceAnswer, institution: str, character_code: str
) -> ET.Element:
    """An answer's document with its header: OQSmuquc01res / OQSmutic01res (a receipt),
    OQSmuquc02res / OQSmutic02res (dated by the day or, 医療扶助, the month), OQS…imm01res."""
    root = ET.Element(ROOT_TAG)
    header = add_required(root, "MessageHeader", ("ProcessExecutionTime", answer.process_time))
    if isinstance(answer, BulkAnswer) and answer.treatment_month:
        add_leaf(header, "MedicalTreatmentMonth", answer.treatment_month, always=True)
    elif isinstance(answer, BulkAnswer):
        add_leaf(header, "QualificationConfirmationDate", answer.confirmation_date, always=True)
    add_leaf(header, "MedicalInstitutionCode", institution, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", answer.file_id, always=True)
    if not isinstance(answer, ReferenceAnswer):
        add_leaf(header, "ReceptionNumber", answer.reception_number)
    add_leaf(header, "SegmentOfResult", answer.segment_of_result, always=True)
    add_leaf(header, "ErrorCode", answer.error_code)
    add_leaf(header, "ErrorMessage", answer.error_message)
    add_leaf(header, "CharacterCodeIdentifier", character_code)
    return root


@dataclass(frozen=True)
class _Head:  # what every answer's header carries
    node: Node
    process_time: str
    file_id: str
    segment: str
    error_code: str
    error_message: str


def _read_answer(data: bytes, limit: int) -> tuple[Node, _Head]:
    """An answer document and its header: SegmentOfResult 1, 2 or 9."""
    root = parse_document(data, limit=limit)
    header = root.require("MessageHeader")
    process_time = header.date("ProcessExecutionTime", 14, required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    segment = header.text("SegmentOfResult", required=True)
    if segment not in ("1", "2", "9"):
        path = header.sub("SegmentOfResult")
        raise MessageError(f"{path} は 1・2・9 のいずれかです / {path} must be 1, 2 or 9", path)
    error = (header.text("ErrorCode"), header.text("ErrorMessage"))
    return root, _Head(header, process_time, file_id, segment, *error)


# ---------------------------------------------------------------------------- OQSmuquc01


_BULK: _Listing[BulkEntry] = _Listing(
    ("QualificationConfirmationDate", 8),
    "QualificationConfirmSearchInfo",
    "照会",
    write=lambda body, e: add_search(body, e.search, key=("ArbitraryIdentifier", e.identifier)),
    read=lambda node: BulkEntry(
        node.text("ArbitraryIdentifier", required=True), parse_search(node)
    ),
    identifier=lambda e: e.identifier,
)


def build_bulk_upload(request: BulkUpload, encoding: str = "utf-8") -> bytes:
    """OQSmuquc01req. Refused (MessageError) when empty, over MAX_BULK_ENTRIES, or when an
    ArbitraryIdentifier is repeated or unsafe in a file id (letters, digits, `_-.`)."""
    head = (request.confirmation_date, request.medical_institution_code, request.file_id)
    return _BULK.build(head, request.entries, encoding)


def parse_bulk_upload(data: bytes) -> BulkUpload:
    date, institution, file_id, entries = _BULK.parse(data)
    return BulkUpload(institution, date, file_id, entries)


def build_bulk_receipt(
    receipt: BulkReceipt,
    *,
    medical_institution_code: str,
    character_code: str = "",
    encoding: str = "utf-8",
) -> bytes:
    """OQSmuquc01res."""
    return serialize(_answer_root(receipt, medical_institution_code, character_code), encoding)


def parse_bulk_receipt(data: bytes) -> BulkReceipt:
    """OQSmuquc01res; a ReceptionNumber is required unless the segment is 9 (refused)."""
    _, head = _read_answer(data, MAX_MESSAGE_BYTES)
    return BulkReceipt(
        file_id=head.file_id,
        reception_number=head.node.text("ReceptionNumber", required=head.segment != "9"),
        process_time=head.process_time,
        segment_of_result=head.segment,
        error_code=head.error_code,
        error_message=head.error_message,
    )


# ---------------------------------------------------------------------------- OQSmuquc02


def build_bulk_query(query: BulkQuery, encoding: str = "utf-8") -> bytes:
    """OQSmuquc02req."""
    if not query.reception_number:
        raise MessageError("ReceptionNumber が空です / ReceptionNumber is empty")
    root = ET.Element(ROOT_TAG)
    add_required(
        root,
        "MessageHeader",
        ("MedicalInstitutionCode", query.medical_institution_code),
        ("ArbitraryFileIdentifier", query.file_id),
        ("ReceptionNumber", query.reception_number),
    )
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
    root = _answer_root(answer, medical_institution_code, character_code)
    if answer.segment_of_result == "1":
        body = ET.SubElement(root, "MessageBody")
        add_leaf(body, "NumberOfProcessingResult", str(answer.processed), always=True)
        add_leaf(body, "NumberOfNormalProcessing", str(answer.normal), always=True)
        add_leaf(body, "NumberOfError", str(answer.errors), always=True)
        units = ET.SubElement(body, "BulkResultList")
        for unit in answer.units:
            node = add_required(units, "BulkResult", ("ArbitraryIdentifier", unit.identifier))
            single = result_root(unit.result).find("MessageBody")
            if single is not None:
                node.extend(list(single))
    return serialize(root, encoding)


def parse_bulk_answer(data: bytes) -> BulkAnswer:
    """OQSmuquc02res (or OQSmutic02res, whose header carries MedicalTreatmentMonth instead of
    QualificationConfirmationDate: its units are dated the month's first day), up to
    MAX_BULK_BYTES; units read one by one (see the module doc)."""
    root, head = _read_answer(data, MAX_BULK_BYTES)
    header = head.node
    month = header.date("MedicalTreatmentMonth", 6)
    answer = BulkAnswer(
        file_id=head.file_id,
        reception_number=header.text("ReceptionNumber"),
        process_time=head.process_time,
        segment_of_result=head.segment,
        error_code=head.error_code,
        error_message=head.error_message,
        confirmation_date=header.date(
            "QualificationConfirmationDate", 8, required=head.segment == "1" and not month
        )
        or (f"{month}01" if month else ""),
        treatment_month=month,
    )
    body = root.child("MessageBody")
    if head.segment != "1" or body is None:
        return answer
    stamp = QualificationResult(
        process_time=head.process_time,
        confirmation_date=answer.confirmation_date,
        medical_institution_code=header.text("MedicalInstitutionCode", required=True),
        file_id="",
        reference_classification="2",
        segment_of_result="1",
        character_code=header.text("CharacterCodeIdentifier"),
    )
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
        units.append(_unit(node, replace(stamp, file_id=identifier)))
    processed = _count(body, "NumberOfProcessingResult")
    normal = _count(body, "NumberOfNormalProcessing")
    errors = _count(body, "NumberOfError")
    found_normal = sum(1 for u in units if u.result.processing_status == "1")
    return replace(
        answer,
        processed=len(units) + dropped if processed is None else processed,
        normal=found_normal if normal is None else normal,
        errors=len(units) + dropped - found_normal if errors is None else errors,
        units=tuple(units),
        dropped=dropped,
    )


# ---------------------------------------------------------------------------- OQSmutic01
# The receipt (OQSmutic01res) is laid out as OQSmuquc01res, the download request (OQSmutic02req)
# as OQSmuquc02req and the answer (OQSmutic02res) as OQSmuquc02res with MedicalTreatmentMonth in
# its header: build_bulk_receipt / build_bulk_query / build_bulk_answer and their parsers serve.
# Each unit is a single answer for the recipient: QualificationValidity 1 with the month's
# PublicExpenseResultList/MedicalTicketInfo, 6 有効（未登録: no ticket online for this clinic), or
# 4 (no such recipient).

_AID_TAGS = ("ArbitraryIdentifier", "PublicExpenseNumber", "RecipientNumber", "Birthdate")
_AID: _Listing[AidEntry] = _Listing(
    ("MedicalTreatmentMonth", 6),
    "MedicalTicketSearchInfo",
    "医療扶助の照会",
    write=lambda body, e: add_required(
        body,
        "MedicalTicketSearchInfo",
        *zip(_AID_TAGS, (e.identifier, e.public_number, e.recipient, e.birthdate), strict=True),
    ),
    read=lambda node: AidEntry(
        identifier=node.text("ArbitraryIdentifier", required=True),
        public_number=node.text("PublicExpenseNumber", required=True),
        recipient=node.text("RecipientNumber", required=True),
        birthdate=node.date("Birthdate", 8, required=True),
    ),
    identifier=lambda e: e.identifier,
)


def build_aid_upload(request: AidUpload, encoding: str = "utf-8") -> bytes:
    """OQSmutic01req. Refused (MessageError) when empty, over MAX_BULK_ENTRIES, with a month
    that is not YYYYMM, or an ArbitraryIdentifier repeated or unsafe in a file id."""
    _check_month(request.treatment_month)
    head = (request.treatment_month, request.medical_institution_code, request.file_id)
    return _AID.build(head, request.entries, encoding)


def parse_aid_upload(data: bytes) -> AidUpload:
    month, institution, file_id, entries = _AID.parse(data)
    _check_month(month)
    return AidUpload(institution, month, file_id, entries)


def _check_month(month: str) -> None:
    if not (len(month) == 6 and month.isascii() and month.isdigit() and 1 <= int(month[4:]) <= 12):
        raise MessageError(
            "MedicalTreatmentMonth は YYYYMM です / MedicalTreatmentMonth must be YYYYMM",
            "MessageHeader/MedicalTreatmentMonth",
        )


def _unit(node: Node, stamp: QualificationResult) -> BulkUnit:
    """One unit as a standalone OQSsiquc01res document (`stamp`: the bulk header's values and
    the unit's ArbitraryIdentifier as its file id), parsed as a single answer; one that cannot
    be read becomes an abnormal unit (SegmentOfResult 9) naming where it failed."""
    root = result_root(stamp)
    body = ET.SubElement(root, "MessageBody")
    for child in node.element:
        if child.tag != "ArbitraryIdentifier":
            body.append(copy.deepcopy(child))
    try:
        raw = serialize(root, "utf-8")
        return BulkUnit(stamp.file_id, parse_result(raw), raw)
    except MessageError as exc:
        where = _unit_path(exc.path, node.path)
        failed = replace(
            stamp,
            segment_of_result="9",
            processing_status="2",
            error_code=UNREADABLE_UNIT_CODE,
            error_message=(
                f"一括照会のこの結果を読めません ({where})。窓口で確認してください / this unit of "
                f"the bulk answer cannot be read ({where}); confirm at the desk"
            ),
        )
        return BulkUnit(stamp.file_id, failed, build_result(failed))


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


def _read_registration(node: Node) -> ReferenceRegistration:
    number = node.text("ReferenceNumber", required=True)
    if len(number) > MAX_REFERENCE_NUMBER:
        path = node.sub("ReferenceNumber")
        raise MessageError(
            f"{path} は {MAX_REFERENCE_NUMBER} 文字までです / "
            f"{path} is longer than {MAX_REFERENCE_NUMBER}",
            path,
        )
    return ReferenceRegistration(number, parse_search(node))


_REFERENCES: _Listing[ReferenceRegistration] = _Listing(
    None,
    "ReferenceNumberRegistrationInfo",
    "登録",
    write=lambda body, r: add_search(
        body,
        r.search,
        tag="ReferenceNumberRegistrationInfo",
        key=("ReferenceNumber", r.reference_number),
    ),
    read=_read_registration,
)


def build_reference_request(request: ReferenceRequest, encoding: str = "utf-8") -> bytes:
    """OQSsiimm01req (one registration) or OQSmuimm01req (more): the same layout."""
    numbers = [r.reference_number for r in request.registrations]
    for number in numbers:
        _check_reference(number)
    if len(set(numbers)) != len(numbers):
        raise MessageError("ReferenceNumber が重複しています / ReferenceNumber repeated")
    head = (request.medical_institution_code, request.file_id)
    return _REFERENCES.build(head, request.registrations, encoding)


def parse_reference_request(data: bytes) -> ReferenceRequest:
    _, institution, file_id, registrations = _REFERENCES.parse(data)
    return ReferenceRequest(institution, file_id, registrations)


def build_reference_answer(
    answer: ReferenceAnswer,
    *,
    medical_institution_code: str,
    character_code: str = "",
    encoding: str = "utf-8",
) -> bytes:
    root = _answer_root(answer, medical_institution_code, character_code)
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
    root, head = _read_answer(data, MAX_BULK_BYTES)
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
        file_id=head.file_id,
        process_time=head.process_time,
        outcomes=tuple(outcomes),
        segment_of_result=head.segment,
        error_code=head.error_code,
        error_message=head.error_message,
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
