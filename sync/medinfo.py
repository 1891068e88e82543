"""Drug information (YZKsiquc01) and specific health checkup (TKKsiquc01) messages.

These are the clinical views a patient's consent opens for 24 hours (DOMAIN.md §3, §4). The
request header carries the patient's insurance numbers under their own tag names
(InsuranceCardSymbol, InsuredPersonIdentificationNumber, BranchNumber); the body the period
in months. Shared by the appliance and the simulator, like sync/xmlmsg.py; malformed input
raises MessageError naming the tag path, never echoing values.

FileCategory 1 asks for the history as a PDF instead (DOMAIN.md §3, §8): the answer is then the
document itself (a refusal stays an XML answer with SegmentOfResult 9). `document_answer` checks
that such bytes are one whole PDF within MAX_DOCUMENT_BYTES before anyone keeps or shows them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from typing import Literal

from sync.xmldoc import MAX_MESSAGE_BYTES, ROOT_TAG, Node, add_leaf, parse_document, serialize
from sync.xmldoc import MessageError as MessageError  # re-exported: the error of this API
from sync.xmlmsg import checked_file_id

MEDICAL_INFO_KINDS = ("drug", "checkup")  # of sync.codes.CONSENT_KINDS, served here


@dataclass(frozen=True)
class MedicalInfoRequest:  # YZKsiquc01req (drug) / TKKsiquc01req (checkup)
    kind: str  # "drug" | "checkup"
    medical_institution_code: str  # MessageHeader/MedicalInstitutionCode
    file_id: str  # MessageHeader/ArbitraryFileIdentifier
    insurer_number: str  # MessageHeader/InsurerNumber
    number: str  # MessageHeader/InsuredPersonIdentificationNumber
    birthdate: str  # MessageHeader/Birthdate YYYYMMDD
    start_month: str  # MessageBody/StartDate YYYYMM
    end_month: str  # MessageBody/EndDate YYYYMM
    symbol: str = ""  # MessageHeader/InsuranceCardSymbol (omitted when empty)
    branch: str = ""  # MessageHeader/BranchNumber (omitted when empty)
    file_category: str = "2"  # MessageBody/FileCategory: 1 PDF, 2 XML


@dataclass(frozen=True)
class Drug:  # one line of a dispensing
    code: str  # DrugCode (YJ code style, 12 characters)
    name: str  # DrugName
    ingredient: str  # IngredientName
    quantity: str  # Quantity per day, as written ("1", "0.5")
    unit: str  # Unit ("錠", "カプセル", "g", "mL")
    usage: str  # Usage ("1日1回朝食後")
    days: str  # DosageDays (days, or times for as-needed drugs)


@dataclass(frozen=True)
class Dispensing:  # one dispensing (or in-house prescription) on one day at one place
    date: str  # DispensingDate YYYYMMDD
    institution: str  # DispensingInstitutionName (pharmacy, or clinic for in-house)
    prescriber: str  # PrescribingInstitutionName
    drugs: tuple[Drug, ...]


@dataclass(frozen=True)
class DrugMonth:  # MonthlyInfo
    month: str  # DispensingMonth YYYYMM
    dispensings: tuple[Dispensing, ...]


@dataclass(frozen=True)
class CheckupItem:
    code: str  # ItemCode
    name: str  # ItemName
    value: str  # Value, as reported ("5.8", "(-)")
    unit: str  # Unit ("%", "mg/dL", "mmHg"; empty for qualitative items)
    reference: str = ""  # ReferenceRange ("4.6-6.2"; empty when none)


@dataclass(frozen=True)
class CheckupExam:  # one checkup day
    date: str  # ExaminationDate YYYYMMDD
    institution: str  # ExaminationInstitutionName
    items: tuple[CheckupItem, ...]


@dataclass(frozen=True)
class MedicalInfoResult:  # YZKsiquc01res / TKKsiquc01res
    kind: str  # "drug" | "checkup" (from the root's message kind)
    process_time: str  # MessageHeader/ProcessExecutionTime YYYYMMDDHHmmss
    medical_institution_code: str  # MessageHeader/MedicalInstitutionCode
    file_id: str  # MessageHeader/ArbitraryFileIdentifier
    segment_of_result: str  # MessageHeader/SegmentOfResult "1" normal, "9" refused/failed
    error_code: str = ""  # MessageHeader/ErrorCode
    error_message: str = ""  # MessageHeader/ErrorMessage (Japanese / English)
    start_month: str = ""  # MessageBody/StartDate
    end_month: str = ""  # MessageBody/EndDate
    months: tuple[DrugMonth, ...] = ()  # drug: MessageBody/DrugInformationList/MonthlyInfo
    exams: tuple[CheckupExam, ...] = ()  # checkup: MessageBody/CheckupList/CheckupInfo


MediaType = Literal["application/xml", "application/pdf"]
XML_MEDIA_TYPE: MediaType = "application/xml"
PDF_MEDIA_TYPE: MediaType = "application/pdf"
PDF_MAGIC = b"%PDF-"
PDF_END = b"%%EOF"
PDF_TAIL_BYTES = 1024  # "%%EOF" is within the last kilobyte of a whole PDF (ISO 32000 §7.5.5)
MAX_DOCUMENT_BYTES = 4_000_000  # a drug PDF of 3 years is text: far below this


@dataclass(frozen=True)
class MedicalInfoAnswer:
    """What the central (or the terminal) answered to a MedicalInfoRequest.

    `media_type` XML: `raw` is the YZK/TKK answer document and `result` its reading; a refusal
    (no consent, expired) is SegmentOfResult 9 + ErrorCode. PDF (asked with FileCategory 1):
    `raw` is the checked PDF and `result` only the request's own header read as a normal
    answer (SegmentOfResult 1, no lists), since the document carries no XML header."""

    result: MedicalInfoResult
    raw: bytes  # exactly as received
    round_trip_s: float
    media_type: MediaType = "application/xml"

    @property
    def is_document(self) -> bool:
        return self.media_type == PDF_MEDIA_TYPE


def check_pdf(data: bytes) -> bytes:
    """`data` when it is one whole PDF within MAX_DOCUMENT_BYTES; MessageError otherwise (not
    a PDF, cut short, too large)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MessageError(
            f"PDF が大きすぎます ({len(data)} バイト、上限 {MAX_DOCUMENT_BYTES}) / "
            f"PDF too large ({len(data)} bytes, limit {MAX_DOCUMENT_BYTES})"
        )
    if not data.startswith(PDF_MAGIC):
        raise MessageError(
            "PDF ではありません (%PDF- で始まりません) / not a PDF (no %PDF- header)"
        )
    if PDF_END not in data[-PDF_TAIL_BYTES:]:
        raise MessageError(
            "PDF が途中で切れています (%%EOF がありません) / PDF cut short (no %%EOF at its end)"
        )
    return data


def document_answer(req: MedicalInfoRequest, data: bytes, round_trip_s: float) -> MedicalInfoAnswer:
    """The answer to a FileCategory 1 request that came back as a PDF (MessageError when the
    bytes are not one)."""
    if req.file_category != "1":
        raise MessageError("XML を求めた要求に PDF が返りました / a PDF answered a request for XML")
    header = MedicalInfoResult(
        kind=req.kind,
        process_time="",
        medical_institution_code=req.medical_institution_code,
        file_id=req.file_id,
        segment_of_result="1",
        start_month=req.start_month,
        end_month=req.end_month,
    )
    return MedicalInfoAnswer(header, check_pdf(data), round_trip_s, PDF_MEDIA_TYPE)


# ---------------------------------------------------------------------------- wire format
#
# Both kinds share one XmlMsg layout; MessageHeader/MessageKind says which one a document is
# (YZK drug information, TKK specific health checkups, after the file-name prefixes), so a
# document sent to the wrong endpoint or read as the wrong kind is refused by name.

MESSAGE_KIND = {"drug": "YZK", "checkup": "TKK"}
_KIND_BY_MARKER = {marker: kind for kind, marker in MESSAGE_KIND.items()}
FILE_CATEGORIES = ("1", "2")  # 1 PDF, 2 XML
SEGMENTS = ("1", "2", "9")  # codes.SEGMENT_OF_RESULT
_MONTH = re.compile(r"[0-9]{4}(0[1-9]|1[0-2])")
_LIST_TAG = {"drug": "DrugInformationList", "checkup": "CheckupList"}


def _marker(kind: str) -> str:
    marker = MESSAGE_KIND.get(kind)
    if marker is None:
        raise MessageError(
            f"医療情報の種類が不明です ({kind[:20]}、drug か checkup) / "
            f"unknown medical information kind ({kind[:20]}; drug or checkup)"
        )
    return marker


def request_file_name(req: MedicalInfoRequest) -> str:
    return f"{_marker(req.kind)}siquc01req_{checked_file_id(req.file_id)}.xml"


def result_file_name(kind: str, file_id: str) -> str:
    return f"{_marker(kind)}siquc01res_{checked_file_id(file_id)}.xml"


def result_document_name(kind: str, file_id: str) -> str:
    """The PDF answer to a FileCategory 1 request: the answer's base name with `.pdf`."""
    return f"{_marker(kind)}siquc01res_{checked_file_id(file_id)}.pdf"


def _check_period(start: str, end: str, start_path: str, end_path: str) -> None:
    """StartDate/EndDate are YYYYMM months, start not after end."""
    for value, path in ((start, start_path), (end, end_path)):
        if not _MONTH.fullmatch(value):
            raise MessageError(
                f"{path} は年月 (YYYYMM の6桁) です / {path} must be a month (6 digits, YYYYMM)",
                path,
            )
    if start > end:
        raise MessageError(
            f"{start_path} が {end_path} より後です / {start_path} is after {end_path}",
            start_path,
        )


def _check_size(data: bytes) -> bytes:
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError(
            f"メッセージが大きすぎます ({len(data)} バイト、上限 {MAX_MESSAGE_BYTES}) / "
            f"message too large ({len(data)} bytes, limit {MAX_MESSAGE_BYTES})"
        )
    return data


# ---------------------------------------------------------------------------- building


def build_medinfo_request(req: MedicalInfoRequest, encoding: str = "utf-8") -> bytes:
    """YZKsiquc01req / TKKsiquc01req document in UTF-8 or Shift_JIS ("shift_jis"), with its
    XML declaration."""
    marker = _marker(req.kind)
    _check_period(req.start_month, req.end_month, "StartDate", "EndDate")
    if req.file_category not in FILE_CATEGORIES:
        raise MessageError("FileCategory は 1 か 2 です / FileCategory must be 1 or 2")
    root = ET.Element(ROOT_TAG)
    header = ET.SubElement(root, "MessageHeader")
    add_leaf(header, "MessageKind", marker, always=True)
    add_leaf(header, "MedicalInstitutionCode", req.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", req.file_id, always=True)
    add_leaf(header, "InsurerNumber", req.insurer_number, always=True)
    add_leaf(header, "InsuranceCardSymbol", req.symbol)
    add_leaf(header, "InsuredPersonIdentificationNumber", req.number, always=True)
    add_leaf(header, "BranchNumber", req.branch)
    add_leaf(header, "Birthdate", req.birthdate, always=True)
    body = ET.SubElement(root, "MessageBody")
    add_leaf(body, "StartDate", req.start_month, always=True)
    add_leaf(body, "EndDate", req.end_month, always=True)
    add_leaf(body, "FileCategory", req.file_category, always=True)
    return _check_size(serialize(root, encoding))


def _add_drug_months(body: ET.Element, months: tuple[DrugMonth, ...]) -> None:
    drug_list = ET.SubElement(body, "DrugInformationList")
    for month in months:
        monthly = ET.SubElement(drug_list, "MonthlyInfo")
        add_leaf(monthly, "DispensingMonth", month.month, always=True)
        for dispensing in month.dispensings:
            info = ET.SubElement(monthly, "DispensingInfo")
            add_leaf(info, "DispensingDate", dispensing.date, always=True)
            add_leaf(info, "DispensingInstitutionName", dispensing.institution)
            add_leaf(info, "PrescribingInstitutionName", dispensing.prescriber)
            for drug in dispensing.drugs:
                line = ET.SubElement(info, "DrugInfo")
                add_leaf(line, "DrugCode", drug.code)
                add_leaf(line, "DrugName", drug.name, always=True)
                add_leaf(line, "IngredientName", drug.ingredient)
                add_leaf(line, "Quantity", drug.quantity)
                add_leaf(line, "Unit", drug.unit)
                add_leaf(line, "Usage", drug.usage)
                add_leaf(line, "DosageDays", drug.days)


def _add_exams(body: ET.Element, exams: tuple[CheckupExam, ...]) -> None:
    checkup_list = ET.SubElement(body, "CheckupList")
    for exam in exams:
        info = ET.SubElement(checkup_list, "CheckupInfo")
        add_leaf(info, "ExaminationDate", exam.date, always=True)
        add_leaf(info, "ExaminationInstitutionName", exam.institution)
        for item in exam.items:
            line = ET.SubElement(info, "CheckupItemInfo")
            add_leaf(line, "ItemCode", item.code)
            add_leaf(line, "ItemName", item.name, always=True)
            add_leaf(line, "Value", item.value)
            add_leaf(line, "Unit", item.unit)
            add_leaf(line, "ReferenceRange", item.reference)


def build_medinfo_result(res: MedicalInfoResult, encoding: str = "utf-8") -> bytes:
    """YZKsiquc01res / TKKsiquc01res in UTF-8 or Shift_JIS ("shift_jis").

    A refusal (SegmentOfResult 9) has only the header; an answer has the period and the list
    of its kind, even when the list is empty (no data in the period).
    """
    marker = _marker(res.kind)
    if res.kind == "drug" and res.exams or res.kind == "checkup" and res.months:
        raise MessageError(
            f"{res.kind} の応答に別の種類の情報があります / "
            f"a {res.kind} answer holds information of the other kind"
        )
    root = ET.Element(ROOT_TAG)
    header = ET.SubElement(root, "MessageHeader")
    add_leaf(header, "MessageKind", marker, always=True)
    add_leaf(header, "ProcessExecutionTime", res.process_time, always=True)
    add_leaf(header, "MedicalInstitutionCode", res.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", res.file_id, always=True)
    add_leaf(header, "SegmentOfResult", res.segment_of_result, always=True)
    add_leaf(header, "ErrorCode", res.error_code)
    add_leaf(header, "ErrorMessage", res.error_message)
    if res.start_month or res.end_month:
        _check_period(res.start_month, res.end_month, "StartDate", "EndDate")
        body = ET.SubElement(root, "MessageBody")
        add_leaf(body, "StartDate", res.start_month, always=True)
        add_leaf(body, "EndDate", res.end_month, always=True)
        if res.kind == "drug":
            _add_drug_months(body, res.months)
        else:
            _add_exams(body, res.exams)
    elif res.months or res.exams:
        raise MessageError(
            "StartDate と EndDate のない応答に情報があります / "
            "an answer with information needs StartDate and EndDate"
        )
    return _check_size(serialize(root, encoding))


# ---------------------------------------------------------------------------- parsing


def _kind(header: Node) -> str:
    marker = header.text("MessageKind", required=True)
    kind = _KIND_BY_MARKER.get(marker)
    if kind is None:
        path = header.sub("MessageKind")
        raise MessageError(f"{path} は YZK か TKK です / {path} must be YZK or TKK", path)
    return kind


def _period(body: Node) -> tuple[str, str]:
    start = body.text("StartDate", required=True)
    end = body.text("EndDate", required=True)
    _check_period(start, end, body.sub("StartDate"), body.sub("EndDate"))
    return start, end


def parse_medinfo_request(data: bytes) -> MedicalInfoRequest:
    root = parse_document(data)
    header = root.require("MessageHeader")
    kind = _kind(header)
    medical_institution_code = header.text("MedicalInstitutionCode", required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    insurer_number = header.text("InsurerNumber", required=True)
    number = header.text("InsuredPersonIdentificationNumber", required=True)
    birthdate = header.date("Birthdate", 8, required=True)
    body = root.require("MessageBody")
    start, end = _period(body)
    file_category = body.text("FileCategory") or "2"
    if file_category not in FILE_CATEGORIES:
        path = body.sub("FileCategory")
        raise MessageError(f"{path} は 1 か 2 です / {path} must be 1 or 2", path)
    return MedicalInfoRequest(
        kind=kind,
        medical_institution_code=medical_institution_code,
        file_id=file_id,
        insurer_number=insurer_number,
        number=number,
        birthdate=birthdate,
        start_month=start,
        end_month=end,
        symbol=header.text("InsuranceCardSymbol"),
        branch=header.text("BranchNumber"),
        file_category=file_category,
    )


def _month(node: Node, tag: str) -> str:
    value = node.text(tag, required=True)
    if not _MONTH.fullmatch(value):
        path = node.sub(tag)
        raise MessageError(
            f"{path} は年月 (YYYYMM の6桁) です / {path} must be a month (6 digits, YYYYMM)", path
        )
    return value


def _parse_months(list_node: Node) -> tuple[DrugMonth, ...]:
    return tuple(
        DrugMonth(
            month=_month(monthly, "DispensingMonth"),
            dispensings=tuple(
                Dispensing(
                    date=info.date("DispensingDate", 8, required=True),
                    institution=info.text("DispensingInstitutionName"),
                    prescriber=info.text("PrescribingInstitutionName"),
                    drugs=tuple(
                        Drug(
                            code=line.text("DrugCode"),
                            name=line.text("DrugName", required=True),
                            ingredient=line.text("IngredientName"),
                            quantity=line.text("Quantity"),
                            unit=line.text("Unit"),
                            usage=line.text("Usage"),
                            days=line.text("DosageDays"),
                        )
                        for line in info.children("DrugInfo")
                    ),
                )
                for info in monthly.children("DispensingInfo")
            ),
        )
        for monthly in list_node.children("MonthlyInfo")
    )


def _parse_exams(list_node: Node) -> tuple[CheckupExam, ...]:
    return tuple(
        CheckupExam(
            date=info.date("ExaminationDate", 8, required=True),
            institution=info.text("ExaminationInstitutionName"),
            items=tuple(
                CheckupItem(
                    code=line.text("ItemCode"),
                    name=line.text("ItemName", required=True),
                    value=line.text("Value"),
                    unit=line.text("Unit"),
                    reference=line.text("ReferenceRange"),
                )
                for line in info.children("CheckupItemInfo")
            ),
        )
        for info in list_node.children("CheckupInfo")
    )


def parse_medinfo_result(data: bytes) -> MedicalInfoResult:
    root = parse_document(data)
    header = root.require("MessageHeader")
    kind = _kind(header)
    process_time = header.date("ProcessExecutionTime", 14, required=True)
    medical_institution_code = header.text("MedicalInstitutionCode", required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    segment = header.text("SegmentOfResult", required=True)
    if segment not in SEGMENTS:
        path = header.sub("SegmentOfResult")
        raise MessageError(f"{path} は 1・2・9 のいずれかです / {path} must be 1, 2 or 9", path)
    result = MedicalInfoResult(
        kind=kind,
        process_time=process_time,
        medical_institution_code=medical_institution_code,
        file_id=file_id,
        segment_of_result=segment,
        error_code=header.text("ErrorCode"),
        error_message=header.text("ErrorMessage"),
    )
    body = root.child("MessageBody")
    if body is None:
        return result
    other = "checkup" if kind == "drug" else "drug"
    if body.child(_LIST_TAG[other]) is not None:
        path = body.sub(_LIST_TAG[other])
        raise MessageError(
            f"{path} は {MESSAGE_KIND[kind]} の応答にはありえません / "
            f"{path} does not belong in a {MESSAGE_KIND[kind]} answer",
            path,
        )
    start, end = _period(body)
    list_node = body.child(_LIST_TAG[kind])
    months: tuple[DrugMonth, ...] = ()
    exams: tuple[CheckupExam, ...] = ()
    if list_node is not None and kind == "drug":
        months = _parse_months(list_node)
    elif list_node is not None:
        exams = _parse_exams(list_node)
    return replace(result, start_month=start, end_month=end, months=months, exams=exams)
