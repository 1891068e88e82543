"""XmlMsg qualification documents (DOMAIN.md §3): the official tags ↔ typed messages.

One format runs from the central service through the appliance to the レセコン folders, so this
module is shared by the appliance and the simulator. Bytes, encodings and safe parsing are
sync/xmldoc.py; here, any document either becomes a typed message or a MessageError that names
the tag path at fault, never echoing field values (they are personal data and get logged).
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from sync.identifiers import check_digit
from sync.xmldoc import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES  # re-exported: callers size-check
from sync.xmldoc import (
    ROOT_TAG,
    Node,
    add_flag,
    add_leaf,
    missing_tag,
    parse_document,
    serialize,
)
from sync.xmldoc import MessageError as MessageError  # re-exported: the error of this API

VERIFICATION_METHODS = ("pin", "visual", "face")
# The card signs the nonce only after its PIN is verified (or the face matched); a visual
# check by staff proves nothing on the card, so such requests carry no Nonce or Signature.
SIGNED_METHODS = ("pin", "face")

# The …ConsFlg tag of each kind; …ConsTime and …AvailableTime share the prefix before "ConsFlg".
CONSENT_FLAG_TAG: dict[str, str] = {
    "drug": "PharmacistsInfoConsFlg",
    "checkup": "SpecificHealthCheckupsInfoConsFlg",
    "diagnosis": "DiagnosisInfoConsFlg",
    "surgery": "OperationInfoConsFlg",
}

_FILE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,99}")
_MONTH = re.compile(r"[0-9]{4}(0[1-9]|1[0-2])")
_CODE2 = re.compile(r"[0-9A-Za-z]{2}")
# The tags of one <MedicalTicketInfo> in wire order (DOMAIN §8), after TicketType … Name;
# InjuryName1..3 and Remarks1..3 are written from the tuples.
_TICKET_TEXT_TAGS = (
    ("prescriber_code", "PrescriptionIssuerMedicalInstitutionCode"),
    ("prescriber_name", "PrescriptionIssuerMedicalInstitutionName"),
)
_TICKET_TAIL_TAGS = (
    ("district_contact", "DistrictContactName"),
    ("handling_contact", "HandlingContactName"),
    ("single_or_combined", "SingleOrCombinedUse"),
    ("social_insurance", "StatusOfSocialInsurance"),
    ("consistency_flag", "ConsistencyFlag"),
    ("infection", "StatusOfInfecton"),
    ("elderly_care", "StatusOfElderlyMedicalCare"),
    ("prefectural", "StatusOfPrefecturalExpenses"),
)
MAX_TICKET_LINES = 3  # InjuryName1..3, Remarks1..3
_KIND_BY_FLAG_TAG = {tag: kind for kind, tag in CONSENT_FLAG_TAG.items()}


@dataclass(frozen=True)
class SearchInfo:  # <QualificationConfirmSearchInfo>
    insurer_number: str  # InsurerNumber (compare trimmed; kept as given)
    number: str  # InsuredIdentificationNumber
    birthdate: str  # Birthdate YYYYMMDD
    symbol: str = ""  # InsuredCardSymbol (omitted when empty)
    branch: str = ""  # InsuredBranchNumber (omitted when empty)
    limit_consent: bool = False  # LimitApplicationCertificateRelatedConsFlg 0/1


@dataclass(frozen=True)
class CardAuthentication:  # <CardAuthenticationInfo>
    certificate: bytes  # Certificate: base64 of DER
    nonce: bytes  # Nonce: base64
    signature: bytes  # Signature: base64
    method: str  # VerificationMethod: "pin" | "visual" | "face"


@dataclass(frozen=True)
class ConsentAnswer:  # inside <ConsentInfo> of a card request
    kind: str  # "drug" | "checkup" | "diagnosis" | "surgery"
    agreed: bool  # …ConsFlg 1/0
    time: str  # …ConsTime YYYYMMDDHHmmss


@dataclass(frozen=True)
class QualificationRequest:  # OQSsiquc01req
    medical_institution_code: str  # MessageHeader/MedicalInstitutionCode
    confirmation_date: str  # MessageHeader/QualificationConfirmationDate
    file_id: str  # MessageHeader/ArbitraryFileIdentifier (idempotency key)
    reference_classification: str  # MessageHeader/ReferenceClassification "1" card, "2" numbers
    search: SearchInfo | None = None  # required when "2"
    card: CardAuthentication | None = None  # required when "1"
    consents: tuple[ConsentAnswer, ...] = ()


@dataclass(frozen=True)
class ElderlyInfo:  # <ElderlyRecipientCertificateInfo>
    issue_date: str = ""  # ElderlyRecipientCertificateDate
    valid_start: str = ""  # ElderlyRecipientValidStartDate
    valid_end: str = ""  # ElderlyRecipientValidEndDate
    ratio: str = ""  # ElderlyRecipientContributionRatio


@dataclass(frozen=True)
class LimitInfo:  # <LimitApplicationCertificateRelatedInfo>
    classification: str = ""  # LimitApplicationCertificateClassification
    flag: str = ""  # LimitApplicationCertificateClassificationFlag
    issue_date: str = ""  # LimitApplicationCertificateDate
    valid_start: str = ""  # LimitApplicationCertificateValidStartDate
    valid_end: str = ""  # LimitApplicationCertificateValidEndDate


@dataclass(frozen=True)
class ConsentState:  # consent flags echoed in a result
    kind: str  # key of CONSENT_FLAG_TAG
    flag: str  # …ConsFlg (0 no, 1 yes; 2 expired, 3 impossible in other interfaces)
    time: str = ""  # …ConsTime
    available_time: str = ""  # …AvailableTime


@dataclass(frozen=True)
class PublicExpense:  # <PublicExpenseResultList>/<PublicExpenseInfo> (tag names best-known)
    number: str  # PublicExpenseNumber 公費負担者番号: 8 digits, insurer-number check digit
    recipient: str  # RecipientNumber 受給者番号: 7 digits, same check digit rule
    valid_start: str = ""  # PublicExpenseValidStartDate
    valid_end: str = ""  # PublicExpenseValidEndDate


@dataclass(frozen=True)
class MedicalTicket:  # <PublicExpenseResultList>/<MedicalTicketInfo>: 医療扶助 医療券・調剤券
    ticket_type: str = ""  # TicketType 01 医療券, 02 調剤券
    valid_date: str = ""  # MedicalTicketValidDate (first day)
    expiration_date: str = ""  # MedicalTicketExpirationDate (last day)
    issue_number: str = ""  # IssueNumber 交付番号
    treatment_month: str = ""  # MedicalTreatmentMonth YYYYMM
    institution_code: str = ""  # DesignatedMedicalInstitutionCode
    institution_flag: str = ""  # DesignatedMedicalInstitutionFlag 0 一致, 1 不一致
    institution_name: str = ""  # DesignatedMedicalInstitutionName
    prescriber_code: str = ""  # PrescriptionIssuerMedicalInstitutionCode (調剤券)
    prescriber_name: str = ""  # PrescriptionIssuerMedicalInstitutionName
    injury_names: tuple[str, ...] = ()  # InjuryName1..3
    treatment_type: str = ""  # MedicalTreatmentType 01 入院 … 05 訪問看護
    self_pay_amount: str = ""  # SelfPayAmount 本人支払額 (yen, digits)
    district_contact: str = ""  # DistrictContactName
    handling_contact: str = ""  # HandlingContactName
    single_or_combined: str = ""  # SingleOrCombinedUse 1 単独, 2 併用 (best-known)
    social_insurance: str = ""  # StatusOfSocialInsurance (shown as sent)
    consistency_flag: str = ""  # ConsistencyFlag
    infection: str = ""  # StatusOfInfecton (sic, as the wire spells it)
    elderly_care: str = ""  # StatusOfElderlyMedicalCare
    prefectural: str = ""  # StatusOfPrefecturalExpenses
    remarks: tuple[str, ...] = ()  # Remarks1..3


@dataclass(frozen=True)
class Qualification:  # <ResultOfQualificationConfirmation>
    card_classification: str = ""  # InsuredCardClassification
    insurer_number: str = ""  # InsurerNumber
    symbol: str = ""  # InsuredCardSymbol
    number: str = ""  # InsuredIdentificationNumber
    branch: str = ""  # InsuredBranchNumber
    personal_family: str = ""  # PersonalFamilyClassification
    insured_name: str = ""  # InsuredName
    name: str = ""  # Name
    name_of_other: str = ""  # NameOfOther
    name_kana: str = ""  # NameKana
    name_of_other_kana: str = ""  # NameOfOtherKana
    sex: str = ""  # Sex1
    birthdate: str = ""  # Birthdate
    address: str = ""  # Address
    post_number: str = ""  # PostNumber
    qualification_date: str = ""  # QualificationDate
    disqualification_date: str = ""  # DisqualificationDate
    reason_of_loss: str = ""  # ReasonOfLoss
    certificate_issuance_date: str = ""  # InsuredCertificateIssuanceDate
    card_valid_date: str = ""  # InsuredCardValidDate
    card_expiration_date: str = ""  # InsuredCardExpirationDate
    contribution_ratio: str = ""  # InsuredPartialContributionRatio
    preschool: bool = False  # PreschoolClassification (1 preschool)
    insurer_name: str = ""  # InsurerName
    elderly: ElderlyInfo | None = None  # ElderlyRecipientCertificateInfo
    limit: LimitInfo | None = None  # LimitApplicationCertificateRelatedInfo
    specific_diseases: tuple[str, ...] = ()  # SpecificDiseasesCertificateList/…/DiseaseCategory
    consents: tuple[ConsentState, ...] = ()  # PharmacistsInfoConsFlg, …
    reference_number: str = ""  # ReferenceNumber
    # PublicExpenseResultList: 公費 beside the insurance (難病, 乳幼児医療 …) and, for 医療扶助
    # (card classification A1, whose InsurerNumber/InsuredIdentificationNumber are the
    # 公費負担者番号/受給者番号), the month's 医療券・調剤券.
    public_expenses: tuple[PublicExpense, ...] = ()
    medical_tickets: tuple[MedicalTicket, ...] = ()


@dataclass(frozen=True)
class QualificationResult:  # OQSsiquc01res / face result
    process_time: str  # ProcessExecutionTime
    confirmation_date: str  # QualificationConfirmationDate
    medical_institution_code: str  # MedicalInstitutionCode
    file_id: str  # ArbitraryFileIdentifier
    reference_classification: str  # ReferenceClassification
    segment_of_result: str  # SegmentOfResult "1" normal, "2" in progress, "9" abnormal
    processing_status: str = ""  # ProcessingResultStatus "1"/"2" (body absent when segment 9)
    processing_code: str = ""  # ProcessingResultCode
    processing_message: str = ""  # ProcessingResultMessage: shown to staff verbatim
    validity: str = ""  # QualificationValidity
    prescription_issue_select: str = ""  # PrescriptionIssueSelect
    error_code: str = ""  # ErrorCode
    error_message: str = ""  # ErrorMessage
    character_code: str = ""  # CharacterCodeIdentifier
    search: SearchInfo | None = None  # QualificationConfirmSearchInfo echo
    results: tuple[Qualification, ...] = ()  # ResultList/ResultOfQualificationConfirmation


# ---------------------------------------------------------------------------- file names


def checked_file_id(file_id: str) -> str:
    """The id itself when it is safe inside a file name (also used by sync/medinfo.py)."""
    if not _FILE_ID.fullmatch(file_id):
        raise MessageError(
            "ファイル識別子には英数字と _ - . のみ使えます (100文字まで) / "
            "file identifier may hold only letters, digits, '_', '-', '.' (up to 100)"
        )
    return file_id


def request_file_name(file_id: str) -> str:
    return f"OQSsiquc01req_{checked_file_id(file_id)}.xml"


def result_file_name(file_id: str, face: bool = False) -> str:
    infix = "face_" if face else ""
    return f"OQSsiquc01res_{infix}{checked_file_id(file_id)}.xml"


# ---------------------------------------------------------------------------- building


def add_required(parent: ET.Element, tag: str, *leaves: tuple[str, str]) -> ET.Element:
    """A new <tag> under `parent` holding each (tag, value) leaf, written even when empty
    (also used by sync/bulkmsg.py)."""
    node = ET.SubElement(parent, tag)
    for name, value in leaves:
        add_leaf(node, name, value, always=True)
    return node


def add_search(
    parent: ET.Element,
    search: SearchInfo,
    *,
    tag: str = "QualificationConfirmSearchInfo",
    key: tuple[str, str] | None = None,
) -> None:
    """A search block: <QualificationConfirmSearchInfo>, or (sync/bulkmsg.py) another `tag`
    laid out the same, `key` its first leaf (an ArbitraryIdentifier, a ReferenceNumber); the
    consent flag belongs to QualificationConfirmSearchInfo only."""
    node = add_required(parent, tag, *(() if key is None else (key,)))
    add_leaf(node, "InsurerNumber", search.insurer_number, always=True)
    add_leaf(node, "InsuredCardSymbol", search.symbol)
    add_leaf(node, "InsuredIdentificationNumber", search.number, always=True)
    add_leaf(node, "InsuredBranchNumber", search.branch)
    add_leaf(node, "Birthdate", search.birthdate, always=True)
    if tag == "QualificationConfirmSearchInfo":
        add_flag(node, "LimitApplicationCertificateRelatedConsFlg", search.limit_consent)


def _flag_tag(kind: str, seen: set[str]) -> str:
    tag = CONSENT_FLAG_TAG.get(kind)
    if tag is None:
        raise MessageError(
            f"同意の種類が不明です ({kind[:20]}) / unknown consent kind ({kind[:20]})"
        )
    if kind in seen:
        raise MessageError(f"同意の種類 {kind} が重複しています / consent kind {kind} repeated")
    seen.add(kind)
    return tag


def _tag_prefix(flag_tag: str) -> str:
    return flag_tag.removesuffix("ConsFlg")


def _check_card(card: CardAuthentication) -> None:
    """A document the other side would refuse is never built (see parse_request)."""
    if card.method not in VERIFICATION_METHODS:
        raise MessageError(
            "VerificationMethod は pin・visual・face のいずれかです / "
            "VerificationMethod must be pin, visual or face"
        )
    if not card.certificate:
        raise MessageError("Certificate が空です / Certificate is empty")
    if card.method in SIGNED_METHODS and not (card.nonce and card.signature):
        raise MessageError(
            f"{card.method} には Nonce と Signature が必要です / "
            f"{card.method} needs Nonce and Signature"
        )


def build_request(req: QualificationRequest, encoding: str = "utf-8") -> bytes:
    """Request document in UTF-8 or Shift_JIS ("shift_jis", as the official terminal's files
    are written), with its XML declaration naming the encoding."""
    if req.reference_classification == "2" and req.search is None:
        raise MessageError(
            "照会区分2には QualificationConfirmSearchInfo が必要です / "
            "reference classification 2 needs QualificationConfirmSearchInfo"
        )
    if req.reference_classification == "1" and req.card is None:
        raise MessageError(
            "照会区分1には CardAuthenticationInfo が必要です / "
            "reference classification 1 needs CardAuthenticationInfo"
        )
    if req.reference_classification not in ("1", "2"):
        raise MessageError(
            "ReferenceClassification は 1 か 2 です / ReferenceClassification must be 1 or 2"
        )
    root = ET.Element(ROOT_TAG)
    header = ET.SubElement(root, "MessageHeader")
    add_leaf(header, "QualificationConfirmationDate", req.confirmation_date, always=True)
    add_leaf(header, "MedicalInstitutionCode", req.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", req.file_id, always=True)
    add_leaf(header, "ReferenceClassification", req.reference_classification, always=True)
    body = ET.SubElement(root, "MessageBody")
    if req.search is not None:
        add_search(body, req.search)
    if req.card is not None:
        _check_card(req.card)
        card = ET.SubElement(body, "CardAuthenticationInfo")
        add_leaf(card, "Certificate", base64.b64encode(req.card.certificate).decode("ascii"))
        add_leaf(card, "Nonce", base64.b64encode(req.card.nonce).decode("ascii"))
        add_leaf(card, "Signature", base64.b64encode(req.card.signature).decode("ascii"))
        add_leaf(card, "VerificationMethod", req.card.method, always=True)
    if req.consents:
        info = ET.SubElement(body, "ConsentInfo")
        seen: set[str] = set()
        for answer in req.consents:
            prefix = _tag_prefix(_flag_tag(answer.kind, seen))
            add_flag(info, f"{prefix}ConsFlg", answer.agreed)
            add_leaf(info, f"{prefix}ConsTime", answer.time)
    return serialize(root, encoding)


def _add_qualification(parent: ET.Element, q: Qualification) -> None:
    node = ET.SubElement(parent, "ResultOfQualificationConfirmation")
    for tag, value in (
        ("InsuredCardClassification", q.card_classification),
        ("InsurerNumber", q.insurer_number),
        ("InsuredCardSymbol", q.symbol),
        ("InsuredIdentificationNumber", q.number),
        ("InsuredBranchNumber", q.branch),
        ("PersonalFamilyClassification", q.personal_family),
        ("InsuredName", q.insured_name),
        ("Name", q.name),
        ("NameOfOther", q.name_of_other),
        ("NameKana", q.name_kana),
        ("NameOfOtherKana", q.name_of_other_kana),
        ("Sex1", q.sex),
        ("Birthdate", q.birthdate),
        ("Address", q.address),
        ("PostNumber", q.post_number),
        ("QualificationDate", q.qualification_date),
        ("DisqualificationDate", q.disqualification_date),
        ("InsuredCertificateIssuanceDate", q.certificate_issuance_date),
        ("InsuredCardValidDate", q.card_valid_date),
        ("InsuredCardExpirationDate", q.card_expiration_date),
        ("InsuredPartialContributionRatio", q.contribution_ratio),
        ("PreschoolClassification", "1" if q.preschool else ""),
        ("ReasonOfLoss", q.reason_of_loss),
        ("InsurerName", q.insurer_name),
    ):
        add_leaf(node, tag, value)
    if q.elderly is not None:
        elderly = ET.SubElement(node, "ElderlyRecipientCertificateInfo")
        add_leaf(elderly, "ElderlyRecipientCertificateDate", q.elderly.issue_date)
        add_leaf(elderly, "ElderlyRecipientValidStartDate", q.elderly.valid_start)
        add_leaf(elderly, "ElderlyRecipientValidEndDate", q.elderly.valid_end)
        add_leaf(elderly, "ElderlyRecipientContributionRatio", q.elderly.ratio)
    if q.limit is not None:
        limit = ET.SubElement(node, "LimitApplicationCertificateRelatedInfo")
        add_leaf(limit, "LimitApplicationCertificateClassification", q.limit.classification)
        add_leaf(limit, "LimitApplicationCertificateClassificationFlag", q.limit.flag)
        add_leaf(limit, "LimitApplicationCertificateDate", q.limit.issue_date)
        add_leaf(limit, "LimitApplicationCertificateValidStartDate", q.limit.valid_start)
        add_leaf(limit, "LimitApplicationCertificateValidEndDate", q.limit.valid_end)
    if q.specific_diseases:
        diseases = ET.SubElement(node, "SpecificDiseasesCertificateList")
        for category in q.specific_diseases:
            info = ET.SubElement(diseases, "SpecificDiseasesCertificateInfo")
            add_leaf(info, "SpecificDiseasesDiseaseCategory", category)
    if q.public_expenses or q.medical_tickets:
        _add_public_expenses(node, q)
    seen: set[str] = set()
    for consent in q.consents:
        prefix = _tag_prefix(_flag_tag(consent.kind, seen))
        # the flag is written even when empty: it marks that this kind was reported
        add_leaf(node, f"{prefix}ConsFlg", consent.flag, always=True)
        add_leaf(node, f"{prefix}ConsTime", consent.time)
        add_leaf(node, f"{prefix}AvailableTime", consent.available_time)
    add_leaf(node, "ReferenceNumber", q.reference_number)


def public_number_problem(value: str, length: int) -> str | None:
    """Why a 公費負担者番号 (8) or 受給者番号 (7) is not one: "length" (not that many ASCII
    digits) or "check_digit" (the last digit is not the insurer-number check digit); None
    when it is well formed. Documents are refused for "length" only; the pages flag a bad
    check digit."""
    if len(value) != length or not value.isascii() or not value.isdigit():
        return "length"
    if check_digit(value[:-1]) != int(value[-1]):
        return "check_digit"
    return None


def _check_public_number(tag: str, value: str, length: int) -> None:
    """Shape only, as parse_result reads it: a wrong check digit read from the central is kept
    (the pages flag it), so a stored answer can always be written again (the face files)."""
    if public_number_problem(value, length) == "length":
        raise MessageError(f"{tag} は{length}桁の数字です / {tag} must be {length} digits", tag)


def _check_ticket(t: MedicalTicket) -> None:
    """A ticket the other side would refuse is never built (see _parse_ticket)."""
    for tag, value, pattern in (
        ("TicketType", t.ticket_type, _CODE2),
        ("MedicalTreatmentType", t.treatment_type, _CODE2),
        ("MedicalTreatmentMonth", t.treatment_month, _MONTH),
    ):
        if value and not pattern.fullmatch(value):
            raise MessageError(f"{tag} の形式が違います / {tag} is malformed", tag)
    if t.institution_flag not in ("", "0", "1"):
        raise MessageError(
            "DesignatedMedicalInstitutionFlag は 0 か 1 です / "
            "DesignatedMedicalInstitutionFlag must be 0 or 1",
            "DesignatedMedicalInstitutionFlag",
        )
    if t.self_pay_amount and not _AMOUNT.fullmatch(t.self_pay_amount):
        raise MessageError(
            "SelfPayAmount は9桁までの数字です / SelfPayAmount must be up to 9 digits",
            "SelfPayAmount",
        )
    if t.institution_code and not _TEN.fullmatch(t.institution_code):
        raise MessageError(
            "DesignatedMedicalInstitutionCode は10桁の数字です / "
            "DesignatedMedicalInstitutionCode must be 10 digits",
            "DesignatedMedicalInstitutionCode",
        )
    if len(t.injury_names) > MAX_TICKET_LINES or len(t.remarks) > MAX_TICKET_LINES:
        raise MessageError("傷病名・備考は3つまでです / at most 3 injury names and 3 remarks")


def _add_public_expenses(parent: ET.Element, q: Qualification) -> None:
    node = ET.SubElement(parent, "PublicExpenseResultList")
    for expense in q.public_expenses:
        _check_public_number("PublicExpenseNumber", expense.number, 8)
        _check_public_number("RecipientNumber", expense.recipient, 7)
        info = ET.SubElement(node, "PublicExpenseInfo")
        add_leaf(info, "PublicExpenseNumber", expense.number, always=True)
        add_leaf(info, "RecipientNumber", expense.recipient, always=True)
        add_leaf(info, "PublicExpenseValidStartDate", expense.valid_start)
        add_leaf(info, "PublicExpenseValidEndDate", expense.valid_end)
    for t in q.medical_tickets:
        _check_ticket(t)
        info = ET.SubElement(node, "MedicalTicketInfo")
        for tag, value in (
            ("TicketType", t.ticket_type),
            ("MedicalTicketValidDate", t.valid_date),
            ("MedicalTicketExpirationDate", t.expiration_date),
            ("IssueNumber", t.issue_number),
            ("MedicalTreatmentMonth", t.treatment_month),
            ("DesignatedMedicalInstitutionCode", t.institution_code),
            ("DesignatedMedicalInstitutionFlag", t.institution_flag),
            ("DesignatedMedicalInstitutionName", t.institution_name),
            *((tag, getattr(t, name)) for name, tag in _TICKET_TEXT_TAGS),
            *((f"InjuryName{n}", v) for n, v in enumerate(t.injury_names, start=1)),
            ("MedicalTreatmentType", t.treatment_type),
            ("SelfPayAmount", t.self_pay_amount),
            *((tag, getattr(t, name)) for name, tag in _TICKET_TAIL_TAGS),
            *((f"Remarks{n}", v) for n, v in enumerate(t.remarks, start=1)),
        ):
            add_leaf(info, tag, value)


def build_result(res: QualificationResult, encoding: str = "utf-8") -> bytes:
    """Result document in UTF-8 or Shift_JIS ("shift_jis"), with its XML declaration."""
    return serialize(result_root(res), encoding)


def result_root(res: QualificationResult) -> ET.Element:
    """The result document's tree, as build_result writes it (sync/bulkmsg.py builds a bulk
    answer's units from it)."""
    root = ET.Element(ROOT_TAG)
    header = ET.SubElement(root, "MessageHeader")
    add_leaf(header, "ProcessExecutionTime", res.process_time, always=True)
    add_leaf(header, "QualificationConfirmationDate", res.confirmation_date, always=True)
    add_leaf(header, "MedicalInstitutionCode", res.medical_institution_code, always=True)
    add_leaf(header, "ArbitraryFileIdentifier", res.file_id, always=True)
    add_leaf(header, "ReferenceClassification", res.reference_classification, always=True)
    add_leaf(header, "SegmentOfResult", res.segment_of_result, always=True)
    add_leaf(header, "ErrorCode", res.error_code)
    add_leaf(header, "ErrorMessage", res.error_message)
    add_leaf(header, "CharacterCodeIdentifier", res.character_code)
    has_body = any(
        (
            res.processing_status,
            res.processing_code,
            res.processing_message,
            res.validity,
            res.prescription_issue_select,
            res.search is not None,
            res.results,
        )
    )
    if has_body:
        body = ET.SubElement(root, "MessageBody")
        add_leaf(body, "ProcessingResultStatus", res.processing_status)
        add_leaf(body, "ProcessingResultCode", res.processing_code)
        add_leaf(body, "ProcessingResultMessage", res.processing_message)
        add_leaf(body, "QualificationValidity", res.validity)
        add_leaf(body, "PrescriptionIssueSelect", res.prescription_issue_select)
        if res.search is not None:
            add_search(body, res.search)
        if res.results:
            result_list = ET.SubElement(body, "ResultList")
            for qualification in res.results:
                _add_qualification(result_list, qualification)
    return root


# ---------------------------------------------------------------------------- parsing


def parse_search(node: Node, *, strict: bool = True) -> SearchInfo:
    """A search block (also a bulk entry's or a registration's: sync/bulkmsg.py)."""
    return SearchInfo(
        insurer_number=node.text("InsurerNumber", required=strict),
        number=node.text("InsuredIdentificationNumber", required=strict),
        birthdate=node.date("Birthdate", 8, required=strict),
        symbol=node.text("InsuredCardSymbol"),
        branch=node.text("InsuredBranchNumber"),
        limit_consent=node.flag("LimitApplicationCertificateRelatedConsFlg"),
    )


def _consent_nodes(node: Node) -> Iterator[tuple[str, str]]:
    """(kind, tag prefix) for each consent flag present, in document order, first one wins."""
    seen: set[str] = set()
    for element in node.element:
        kind = _KIND_BY_FLAG_TAG.get(str(element.tag))
        if kind is not None and kind not in seen:
            seen.add(kind)
            yield kind, _tag_prefix(CONSENT_FLAG_TAG[kind])


def _optional_base64(node: Node, tag: str, *, required: bool) -> bytes:
    if not required and not node.text(tag):
        return b""
    return node.base64(tag)


def parse_request(data: bytes) -> QualificationRequest:
    root = parse_document(data)
    header = root.require("MessageHeader")
    reference = header.text("ReferenceClassification", required=True)
    if reference not in ("1", "2"):
        path = header.sub("ReferenceClassification")
        raise MessageError(f"{path} は 1 か 2 です / {path} must be 1 or 2", path)
    medical_institution_code = header.text("MedicalInstitutionCode", required=True)
    confirmation_date = header.date("QualificationConfirmationDate", 8, required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=True)
    body = root.child("MessageBody")
    search_node = body.child("QualificationConfirmSearchInfo") if body is not None else None
    card_node = body.child("CardAuthenticationInfo") if body is not None else None
    consent_node = body.child("ConsentInfo") if body is not None else None
    if reference == "2" and search_node is None:
        raise missing_tag("MessageBody/QualificationConfirmSearchInfo")
    if reference == "1" and card_node is None:
        raise missing_tag("MessageBody/CardAuthenticationInfo")
    card = None
    if card_node is not None:
        method = card_node.text("VerificationMethod", required=True)
        if method not in VERIFICATION_METHODS:
            path = card_node.sub("VerificationMethod")
            raise MessageError(
                f"{path} は pin・visual・face のいずれかです / {path} must be pin, visual or face",
                path,
            )
        signed = method in SIGNED_METHODS
        card = CardAuthentication(
            certificate=card_node.base64("Certificate"),
            nonce=_optional_base64(card_node, "Nonce", required=signed),
            signature=_optional_base64(card_node, "Signature", required=signed),
            method=method,
        )
    consents: list[ConsentAnswer] = []
    if consent_node is not None:
        for kind, prefix in _consent_nodes(consent_node):
            consents.append(
                ConsentAnswer(
                    kind=kind,
                    agreed=consent_node.flag(f"{prefix}ConsFlg"),
                    time=consent_node.date(f"{prefix}ConsTime", 14),
                )
            )
    return QualificationRequest(
        medical_institution_code=medical_institution_code,
        confirmation_date=confirmation_date,
        file_id=file_id,
        reference_classification=reference,
        search=None if search_node is None else parse_search(search_node),
        card=card,
        consents=tuple(consents),
    )


def _digits(node: Node, tag: str, pattern: re.Pattern[str], shape: str, *, required: bool) -> str:
    value = node.text(tag, required=required)
    if value and not pattern.fullmatch(value):
        path = node.sub(tag)
        raise MessageError(f"{path} の形式が違います ({shape}) / {path} must be {shape}", path)
    return value


_EIGHT = re.compile(r"[0-9]{8}")
_SEVEN = re.compile(r"[0-9]{7}")
_TEN = re.compile(r"[0-9]{10}")
_AMOUNT = re.compile(r"[0-9]{1,9}")
_FLAG = re.compile(r"[01]")


def _parse_public_expense(node: Node) -> PublicExpense:
    # Shape only: a wrong check digit is the central's to answer for, and the pages flag it
    # (public_number_problem) rather than losing the whole answer over it.
    return PublicExpense(
        number=_digits(node, "PublicExpenseNumber", _EIGHT, "8 digits", required=True),
        recipient=_digits(node, "RecipientNumber", _SEVEN, "7 digits", required=True),
        valid_start=node.date("PublicExpenseValidStartDate", 8),
        valid_end=node.date("PublicExpenseValidEndDate", 8),
    )


def _lines(node: Node, prefix: str) -> tuple[str, ...]:
    """InjuryName1..3 / Remarks1..3 as a tuple without trailing empties (positions kept)."""
    values = [node.text(f"{prefix}{n}") for n in range(1, MAX_TICKET_LINES + 1)]
    while values and not values[-1]:
        values.pop()
    return tuple(values)


def _parse_ticket(node: Node) -> MedicalTicket:
    return MedicalTicket(
        ticket_type=_digits(node, "TicketType", _CODE2, "2 characters", required=False),
        valid_date=node.date("MedicalTicketValidDate", 8),
        expiration_date=node.date("MedicalTicketExpirationDate", 8),
        issue_number=node.text("IssueNumber"),
        treatment_month=_digits(node, "MedicalTreatmentMonth", _MONTH, "YYYYMM", required=False),
        institution_code=_digits(
            node, "DesignatedMedicalInstitutionCode", _TEN, "10 digits", required=False
        ),
        institution_flag=_digits(
            node, "DesignatedMedicalInstitutionFlag", _FLAG, "0 or 1", required=False
        ),
        institution_name=node.text("DesignatedMedicalInstitutionName"),
        prescriber_code=node.text("PrescriptionIssuerMedicalInstitutionCode"),
        prescriber_name=node.text("PrescriptionIssuerMedicalInstitutionName"),
        injury_names=_lines(node, "InjuryName"),
        treatment_type=_digits(
            node, "MedicalTreatmentType", _CODE2, "2 characters", required=False
        ),
        self_pay_amount=_digits(node, "SelfPayAmount", _AMOUNT, "yen in digits", required=False),
        district_contact=node.text("DistrictContactName"),
        handling_contact=node.text("HandlingContactName"),
        single_or_combined=node.text("SingleOrCombinedUse"),
        social_insurance=node.text("StatusOfSocialInsurance"),
        consistency_flag=node.text("ConsistencyFlag"),
        infection=node.text("StatusOfInfecton"),
        elderly_care=node.text("StatusOfElderlyMedicalCare"),
        prefectural=node.text("StatusOfPrefecturalExpenses"),
        remarks=_lines(node, "Remarks"),
    )


def _parse_qualification(node: Node) -> Qualification:
    expense_node = node.child("PublicExpenseResultList")
    elderly_node = node.child("ElderlyRecipientCertificateInfo")
    limit_node = node.child("LimitApplicationCertificateRelatedInfo")
    diseases_node = node.child("SpecificDiseasesCertificateList")
    return Qualification(
        card_classification=node.text("InsuredCardClassification"),
        insurer_number=node.text("InsurerNumber"),
        symbol=node.text("InsuredCardSymbol"),
        number=node.text("InsuredIdentificationNumber"),
        branch=node.text("InsuredBranchNumber"),
        personal_family=node.text("PersonalFamilyClassification"),
        insured_name=node.text("InsuredName"),
        name=node.text("Name"),
        name_of_other=node.text("NameOfOther"),
        name_kana=node.text("NameKana"),
        name_of_other_kana=node.text("NameOfOtherKana"),
        sex=node.text("Sex1"),
        birthdate=node.date("Birthdate", 8),
        address=node.text("Address"),
        post_number=node.text("PostNumber"),
        qualification_date=node.date("QualificationDate", 8),
        disqualification_date=node.date("DisqualificationDate", 8),
        reason_of_loss=node.text("ReasonOfLoss"),
        certificate_issuance_date=node.date("InsuredCertificateIssuanceDate", 8),
        card_valid_date=node.date("InsuredCardValidDate", 8),
        card_expiration_date=node.date("InsuredCardExpirationDate", 8),
        contribution_ratio=node.text("InsuredPartialContributionRatio"),
        # 1 is preschool; other interfaces send 2 (in school), so anything else means no
        preschool=node.text("PreschoolClassification") == "1",
        insurer_name=node.text("InsurerName"),
        elderly=None
        if elderly_node is None
        else ElderlyInfo(
            issue_date=elderly_node.date("ElderlyRecipientCertificateDate", 8),
            valid_start=elderly_node.date("ElderlyRecipientValidStartDate", 8),
            valid_end=elderly_node.date("ElderlyRecipientValidEndDate", 8),
            ratio=elderly_node.text("ElderlyRecipientContributionRatio"),
        ),
        limit=None
        if limit_node is None
        else LimitInfo(
            classification=limit_node.text("LimitApplicationCertificateClassification"),
            flag=limit_node.text("LimitApplicationCertificateClassificationFlag"),
            issue_date=limit_node.date("LimitApplicationCertificateDate", 8),
            valid_start=limit_node.date("LimitApplicationCertificateValidStartDate", 8),
            valid_end=limit_node.date("LimitApplicationCertificateValidEndDate", 8),
        ),
        specific_diseases=()
        if diseases_node is None
        else tuple(
            info.text("SpecificDiseasesDiseaseCategory")
            for info in diseases_node.children("SpecificDiseasesCertificateInfo")
        ),
        consents=tuple(
            ConsentState(
                kind=kind,
                flag=node.text(f"{prefix}ConsFlg"),
                time=node.date(f"{prefix}ConsTime", 14),
                available_time=node.date(f"{prefix}AvailableTime", 14),
            )
            for kind, prefix in _consent_nodes(node)
        ),
        reference_number=node.text("ReferenceNumber"),
        public_expenses=()
        if expense_node is None
        else tuple(
            _parse_public_expense(info) for info in expense_node.children("PublicExpenseInfo")
        ),
        medical_tickets=()
        if expense_node is None
        else tuple(_parse_ticket(info) for info in expense_node.children("MedicalTicketInfo")),
    )


def parse_result(data: bytes, *, face: bool = False) -> QualificationResult:
    """A qualification result. `face`: a result the official terminal wrote into its face/
    folder, which answers no request, so its ArbitraryFileIdentifier may be empty or absent
    (DOMAIN §8): "" then."""
    root = parse_document(data)
    header = root.require("MessageHeader")
    process_time = header.date("ProcessExecutionTime", 14, required=True)
    confirmation_date = header.date("QualificationConfirmationDate", 8, required=True)
    medical_institution_code = header.text("MedicalInstitutionCode", required=True)
    file_id = header.text("ArbitraryFileIdentifier", required=not face)
    reference = header.text("ReferenceClassification", required=True)
    segment = header.text("SegmentOfResult", required=True)
    error_code = header.text("ErrorCode")
    error_message = header.text("ErrorMessage")
    character_code = header.text("CharacterCodeIdentifier")
    body = root.child("MessageBody")
    if body is None:
        return QualificationResult(
            process_time=process_time,
            confirmation_date=confirmation_date,
            medical_institution_code=medical_institution_code,
            file_id=file_id,
            reference_classification=reference,
            segment_of_result=segment,
            error_code=error_code,
            error_message=error_message,
            character_code=character_code,
        )
    search_node = body.child("QualificationConfirmSearchInfo")
    list_node = body.child("ResultList")
    return QualificationResult(
        process_time=process_time,
        confirmation_date=confirmation_date,
        medical_institution_code=medical_institution_code,
        file_id=file_id,
        reference_classification=reference,
        segment_of_result=segment,
        processing_status=body.text("ProcessingResultStatus"),
        processing_code=body.text("ProcessingResultCode"),
        processing_message=body.text("ProcessingResultMessage"),
        validity=body.text("QualificationValidity"),
        prescription_issue_select=body.text("PrescriptionIssueSelect"),
        error_code=error_code,
        error_message=error_message,
        character_code=character_code,
        search=None if search_node is None else parse_search(search_node, strict=False),
        results=()
        if list_node is None
        else tuple(
            _parse_qualification(item)
            for item in list_node.children("ResultOfQualificationConfirmation")
        ),
    )
