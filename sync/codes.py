"""What the appliance reads out of the XmlMsg codes (DOMAIN.md §3/§4): the kinds of information
a patient may agree to share, the co-payment ratio, and the one rule that turns a result into a
verdict. The words for every code and verdict are the pages' (web/labels.py).
"""

from __future__ import annotations

import enum
from datetime import date

from sync.xmlmsg import CONSENT_FLAG_TAG, MedicalTicket, Qualification, QualificationResult

# The kinds of information a patient may agree to share (the setting consent_kinds), in the
# spec's order: one per …ConsFlg tag of the wire format.
CONSENT_KINDS: tuple[str, ...] = tuple(CONSENT_FLAG_TAG)


def ratio_percent(code: str | None) -> int | None:
    """InsuredPartialContributionRatio "030" → 30; anything else that is not 0–100 → None."""
    if not code or not code.isascii() or not code.isdigit():
        return None
    value = int(code)
    return value if 0 <= value <= 100 else None


class Verdict(enum.Enum):
    """What an answer means for reception. The store keeps the member's name (column `badge`),
    so a name, once written, never changes; the value is the same string."""

    VALID = "VALID"
    INVALID = "INVALID"
    INVALID_NEWER = "INVALID_NEWER"  # invalid, a newer qualification exists
    NOT_FOUND = "NOT_FOUND"
    MULTIPLE = "MULTIPLE"
    UNREGISTERED_AID = "UNREGISTERED_AID"  # valid, public medical aid not registered
    ERROR = "ERROR"  # no usable answer, or an inconsistent one
    # A card visit in an outage: card and holder proven on the box, no online answer yet.
    # Never computed from an answer (verdict() does not return it): the store sets it.
    OFFLINE = "OFFLINE"


_VERDICT_BY_VALIDITY = {
    "2": Verdict.INVALID,
    "3": Verdict.INVALID_NEWER,
    "4": Verdict.NOT_FOUND,
    "5": Verdict.MULTIPLE,
    "6": Verdict.UNREGISTERED_AID,
}


def is_insured(result: QualificationResult) -> bool:
    """DOMAIN §3: all four must hold; anything else needs staff attention."""
    return (
        result.segment_of_result == "1"
        and result.processing_status == "1"
        and result.validity == "1"
        and len(result.results) == 1
    )


def verdict(result: QualificationResult) -> Verdict:
    if is_insured(result):
        return Verdict.VALID
    if result.segment_of_result != "1" or result.processing_status != "1":
        return Verdict.ERROR
    # validity 1 with zero or several results is an inconsistent answer, not a valid one
    return _VERDICT_BY_VALIDITY.get(result.validity, Verdict.ERROR)


# The store's name for it (it persists badge(result).name in confirmations.badge).
badge = verdict


# -- 公費 and 医療扶助 (DOMAIN §3, §8) ------------------------------------------------------------
MEDICAL_AID_CLASSIFICATION = "A1"  # InsuredCardClassification of 医療扶助 (生活保護)
TICKET_ELSEWHERE = "1"  # DesignatedMedicalInstitutionFlag: the ticket names another institution


class PublicExpenseKind(enum.Enum):
    """Which public expense a 公費負担者番号 is, by its 法別番号 (first two digits)."""

    MEDICAL_AID = "MEDICAL_AID"  # 12 生活保護法 医療扶助
    INTRACTABLE_DISEASE = "INTRACTABLE_DISEASE"  # 54 難病法 特定医療費
    CHILD_CHRONIC = "CHILD_CHRONIC"  # 52 小児慢性特定疾病医療費
    MENTAL_OUTPATIENT = "MENTAL_OUTPATIENT"  # 21 精神通院医療
    # 80–99: programmes of prefectures and cities (乳幼児・子ども医療, ひとり親, 障害者 …);
    # the numbers are each prefecture's own, so only "local" is known for sure.
    LOCAL = "LOCAL"
    OTHER = "OTHER"


_KIND_BY_LAW = {
    "12": PublicExpenseKind.MEDICAL_AID,
    "54": PublicExpenseKind.INTRACTABLE_DISEASE,
    "52": PublicExpenseKind.CHILD_CHRONIC,
    "21": PublicExpenseKind.MENTAL_OUTPATIENT,
}


def public_expense_kind(number: str) -> PublicExpenseKind:
    law = number.strip()[:2]
    if law in _KIND_BY_LAW:
        return _KIND_BY_LAW[law]
    if len(law) == 2 and law.isascii() and law.isdigit() and int(law) >= 80:
        return PublicExpenseKind.LOCAL
    return PublicExpenseKind.OTHER


def is_medical_aid(q: Qualification) -> bool:
    """A 医療扶助 record: its insurer number and number are the 公費負担者番号 and 受給者番号."""
    return q.card_classification == MEDICAL_AID_CLASSIFICATION or bool(q.medical_tickets)


def _day(value: str) -> date | None:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def period_over(valid_end: str, today: date | None) -> bool:
    """Whether a period whose last day is `valid_end` (YYYYMMDD) is over by `today`; an
    unknown end or day is never called over."""
    end = _day(valid_end)
    return today is not None and end is not None and end < today


def ticket_current(ticket: MedicalTicket, today: date | None) -> bool:
    """A 医療券 valid on `today` (an unknown day or open dates count as valid)."""
    start = _day(ticket.valid_date)
    if today is not None and start is not None and today < start:
        return False
    return not period_over(ticket.expiration_date, today)


def ticket_elsewhere(ticket: MedicalTicket) -> bool:
    """The ticket designates another medical institution (指定医療機関 不一致)."""
    return ticket.institution_flag == TICKET_ELSEWHERE
