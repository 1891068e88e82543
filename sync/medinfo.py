"""Drug information (YZKsiquc01) and specific health checkup (TKKsiquc01) messages.

These are the clinical views a patient's consent opens for 24 hours (DOMAIN.md §3, §4). The
request header carries the patient's insurance numbers under their own tag names
(InsuranceCardSymbol, InsuredPersonIdentificationNumber, BranchNumber); the body the period
in months. Shared by the appliance and the simulator, like sync/xmlmsg.py; malformed input
raises MessageError naming the tag path, never echoing values.
"""

from __future__ import annotations

from dataclasses import dataclass

MEDICAL_INFO_KINDS = ("drug", "checkup")  # keys of sync.codes.CONSENT_KIND served here


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
    file_category: str = "2"  # MessageBody/FileCategory: 1 PDF, 2 XML (only 2 is used)


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
