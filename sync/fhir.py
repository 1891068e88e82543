"""Stored answers as HL7 FHIR R4 `CoverageEligibilityResponse` resources (DOMAIN §7).

Plain dicts ready for JSON: the read API (web/api.py) serves them in a `searchset` Bundle, the
tests validate them with a FHIR model library. The mapping, field by field, is in docs/api.md.
Identifier systems for Japanese insurance numbers are JP Core's (the MHLW OIDs); what has no
public system (the ArbitraryFileIdentifier, the central's error codes) has an `urn:onshi-edge:`
one. Nothing here is worded for people: the only texts are the answer's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date
from typing import Any

from sync.codes import Verdict, is_medical_aid, period_over, ratio_percent
from sync.store import Confirmation
from sync.xmlmsg import PublicExpense, Qualification

FHIR_JSON = "application/fhir+json"

# JP Core identifier systems (保険者番号, 被保険者証記号, 番号, 枝番).
INSURER_NUMBER_SYSTEM = "urn:oid:1.2.392.100495.20.3.61"
INSURED_SYMBOL_SYSTEM = "urn:oid:1.2.392.100495.20.3.62"
INSURED_NUMBER_SYSTEM = "urn:oid:1.2.392.100495.20.3.63"
INSURED_BRANCH_SYSTEM = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsuredPersonSubnumber"
PUBLIC_PAYER_SYSTEM = "urn:oid:1.2.392.100495.20.3.71"  # 公費負担者番号
PUBLIC_RECIPIENT_SYSTEM = "urn:oid:1.2.392.100495.20.3.72"  # 公費受給者番号
# onshi-edge's own systems.
FILE_ID_SYSTEM = "urn:onshi-edge:arbitrary-file-identifier"
REQUEST_SYSTEM = "urn:onshi-edge:request-file"
ERROR_SYSTEM = "urn:onshi-edge:oqs-error-code"
EARLIER_EXTENSION = "urn:onshi-edge:fhir:earlier-response"
# HL7 code systems and extensions.
BENEFIT_TYPE = "http://terminology.hl7.org/CodeSystem/benefit-type"
BENEFIT_CATEGORY = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory"
BENEFIT_UNIT = "http://terminology.hl7.org/CodeSystem/benefit-unit"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
NAME_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"

_GENDER = {"1": "male", "2": "female"}  # Sex1; 3 (not set) and anything else: unknown
_RELATIONSHIP = {"1": "self", "2": "other"}  # PersonalFamilyClassification 本人 / 家族


def coverage_eligibility_response(row: Confirmation) -> dict[str, Any]:
    """One stored answer (or offline visit) as a CoverageEligibilityResponse."""
    result = row.result
    first = result.results[0] if result.results else None
    insurer_number = first.insurer_number if first else ""
    if not insurer_number and result.search is not None:
        insurer_number = result.search.insurer_number  # a numbers check's own numbers
    resource: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "id": str(row.id),
        "identifier": [{"system": FILE_ID_SYSTEM, "value": row.file_id}],
        "status": "active",
        "purpose": ["validation" if row.kind == "numbers" else "discovery"],
        "patient": {"reference": "#patient"} if first else _absent("temp-unknown"),
        "created": row.created_at.astimezone(UTC).isoformat(timespec="seconds"),
        "request": {
            "type": "CoverageEligibilityRequest",
            "identifier": {"system": REQUEST_SYSTEM, "value": row.file_id},
        },
        "outcome": outcome(row),
        "insurer": _insurer(insurer_number, first.insurer_name if first else ""),
    }
    serviced = _date(result.confirmation_date)
    if serviced:
        resource["servicedDate"] = serviced
    message = result.processing_message or result.error_message
    if message:
        resource["disposition"] = message  # shown to staff verbatim, so here too
    if row.earlier_id is not None:
        resource["extension"] = [
            {
                "url": EARLIER_EXTENSION,
                "valueReference": {"reference": f"CoverageEligibilityResponse/{row.earlier_id}"},
            }
        ]
    if first is not None:
        if is_medical_aid(first):  # its numbers are the 公費負担者番号 and 受給者番号
            resource["insurer"] = _insurer(insurer_number, first.insurer_name, PUBLIC_PAYER_SYSTEM)
        resource["contained"] = [_patient(first), _coverage(first, result.validity)]
        resource["insurance"] = [_insurance(first, result.validity)]
        on = _day(result.confirmation_date)
        for n, expense in enumerate(first.public_expenses, start=1):
            coverage, insurance = _public_expense(expense, n, on)
            resource["contained"].append(coverage)
            resource["insurance"].append(insurance)
    if resource["outcome"] == "error":
        code = result.error_code or result.processing_code
        error: dict[str, Any] = {"code": {}}
        if code:
            error["code"]["coding"] = [{"system": ERROR_SYSTEM, "code": code}]
        error["code"]["text"] = message or row.badge
        resource["error"] = [error]
    return resource


def outcome(row: Confirmation) -> str:
    """queued: no answer yet (an offline visit, or the central's "in progress"); error: an
    abnormal answer; complete: every other answer, found or not."""
    if row.offline or row.result.segment_of_result == "2":
        return "queued"
    if row.badge == Verdict.ERROR.name:
        return "error"
    return "complete"


def searchset(
    rows: Sequence[Confirmation], *, base_url: str, self_url: str, next_url: str | None
) -> dict[str, Any]:
    """A `searchset` Bundle of the rows' responses, with `next` when more may follow."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}/CoverageEligibilityResponse/{row.id}",
                "resource": coverage_eligibility_response(row),
                "search": {"mode": "match"},
            }
            for row in rows
        ],
    }


def _insurer(number: str, name: str, system: str = INSURER_NUMBER_SYSTEM) -> dict[str, Any]:
    if not number and not name:
        return _absent("unknown")
    insurer: dict[str, Any] = {}
    if number:
        insurer["identifier"] = {"system": system, "value": number}
    if name:
        insurer["display"] = name
    return insurer


def _patient(q: Qualification) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "patient"}
    names = []
    if q.name:
        names.append(_human_name(q.name, "IDE"))  # ideographic: the name as written
    if q.name_kana:
        names.append(_human_name(q.name_kana, "SYL"))  # syllabic: katakana
    if names:
        patient["name"] = names
    patient["gender"] = _GENDER.get(q.sex, "unknown")
    birth = _date(q.birthdate)
    if birth:
        patient["birthDate"] = birth
    return patient


def _human_name(text: str, representation: str) -> dict[str, Any]:
    name: dict[str, Any] = {
        "extension": [{"url": NAME_REPRESENTATION, "valueCode": representation}],
        "use": "official",
        "text": text,
    }
    parts = text.replace("\u3000", " ").split()
    if len(parts) >= 2:  # family name first, as written in Japan
        name["family"] = parts[0]
        name["given"] = parts[1:]
    return name


def _coverage(q: Qualification, validity: str) -> dict[str, Any]:
    identifiers = [
        {"system": system, "value": value}
        for system, value in (
            (INSURED_SYMBOL_SYSTEM, q.symbol),
            (INSURED_NUMBER_SYSTEM, q.number),
            (INSURED_BRANCH_SYSTEM, q.branch),
        )
        if value
    ]
    aid = is_medical_aid(q)
    if aid:  # 受給者番号, not an insurance card's 番号
        identifiers = [{"system": PUBLIC_RECIPIENT_SYSTEM, "value": q.number}] if q.number else []
    payor_system = PUBLIC_PAYER_SYSTEM if aid else INSURER_NUMBER_SYSTEM
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": "coverage",
        "status": "active" if validity == "1" else "cancelled",
        "beneficiary": {"reference": "#patient"},
        "payor": [_insurer(q.insurer_number, q.insurer_name, payor_system)],
    }
    if identifiers:
        coverage["identifier"] = identifiers
    if q.number:
        coverage["subscriberId"] = q.number
    if q.branch:
        coverage["dependent"] = q.branch
    relationship = _RELATIONSHIP.get(q.personal_family)
    if relationship:
        coverage["relationship"] = {
            "coding": [{"system": SUBSCRIBER_RELATIONSHIP, "code": relationship}]
        }
    period = _period(q.qualification_date, q.disqualification_date)
    if period:
        coverage["period"] = period
    return coverage


def _insurance(q: Qualification, validity: str) -> dict[str, Any]:
    insurance: dict[str, Any] = {
        "coverage": {"reference": "#coverage"},
        "inforce": validity == "1",
    }
    period = _period(q.qualification_date, q.disqualification_date)
    if period:
        insurance["benefitPeriod"] = period
    items = []
    ratio = ratio_percent(q.contribution_ratio)
    if ratio is not None:
        items.append(_copay_percent("InsuredPartialContributionRatio", ratio))
    elderly = ratio_percent(q.elderly.ratio) if q.elderly is not None else None
    if elderly is not None:
        items.append(_copay_percent("ElderlyRecipientContributionRatio", elderly))
    if q.limit is not None and q.limit.flag:
        items.append(
            _item(
                "LimitApplicationCertificateClassificationFlag",
                {"type": _benefit_type("copay-maximum"), "allowedString": q.limit.flag},
            )
        )
    if items:
        insurance["item"] = items
    return insurance


def _public_expense(
    e: PublicExpense, n: int, on: date | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A 公費 beside the insurance: a second contained Coverage (payor the 公費負担者番号,
    identifier the 受給者番号) and its own insurance entry, in force unless its period ended
    before the confirmation date."""
    ref = f"public-expense-{n}"
    ended = period_over(e.valid_end, on)
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": ref,
        "status": "cancelled" if ended else "active",
        "identifier": [{"system": PUBLIC_RECIPIENT_SYSTEM, "value": e.recipient}],
        "subscriberId": e.recipient,
        "beneficiary": {"reference": "#patient"},
        "payor": [{"identifier": {"system": PUBLIC_PAYER_SYSTEM, "value": e.number}}],
    }
    insurance: dict[str, Any] = {"coverage": {"reference": f"#{ref}"}, "inforce": not ended}
    period = _period(e.valid_start, e.valid_end)
    if period:
        coverage["period"] = period
        insurance["benefitPeriod"] = period
    return coverage, insurance


def _day(yyyymmdd: str) -> date | None:
    text = iso_date(yyyymmdd)
    return date.fromisoformat(text) if text else None


def _copay_percent(description: str, percent: int) -> dict[str, Any]:
    return _item(
        description, {"type": _benefit_type("copay-percent"), "allowedUnsignedInt": percent}
    )


def _item(description: str, benefit: dict[str, Any]) -> dict[str, Any]:
    return {
        "category": {"coding": [{"system": BENEFIT_CATEGORY, "code": "1"}]},  # Medical Care
        "description": description,
        "unit": {"coding": [{"system": BENEFIT_UNIT, "code": "individual"}]},
        "benefit": [benefit],
    }


def _benefit_type(code: str) -> dict[str, Any]:
    return {"coding": [{"system": BENEFIT_TYPE, "code": code}]}


def _period(start: str, end: str) -> dict[str, str]:
    period = {}
    if _date(start):
        period["start"] = _date(start)
    if _date(end):
        period["end"] = _date(end)
    return period


def _date(yyyymmdd: str) -> str:
    """YYYYMMDD as a FHIR date, or '' when it is not a date."""
    return iso_date(yyyymmdd)


def iso_date(yyyymmdd: str) -> str:
    """YYYYMMDD (the messages' form) as YYYY-MM-DD, or '' when it is not a date."""
    if len(yyyymmdd) != 8 or not yyyymmdd.isascii() or not yyyymmdd.isdigit():
        return ""
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])).isoformat()
    except ValueError:
        return ""


def _absent(reason: str) -> dict[str, Any]:
    """A required reference with nothing to say (an offline visit has no answer yet)."""
    return {"extension": [{"url": DATA_ABSENT, "valueCode": reason}]}
