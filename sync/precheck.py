"""What a pre-check (the night-before bulk inquiry) found for one appointment: its class.

The morning desk acts on the class; the words and colours are web/'s. The rules that give a
unit its class are `classify` below.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from sync.xmlmsg import Qualification, QualificationResult, SearchInfo


class PrecheckClass(StrEnum):
    VALID = "valid"  # 確認済・有効
    INVALID = "invalid"  # 資格無効 (QualificationValidity 2 or 3)
    NOT_FOUND = "not_found"  # 該当なし (4)
    MULTIPLE = "multiple"  # 複数該当 (5)
    NUMBERS_DIFFER = "numbers_differ"  # 記号番号の相違: valid, but not the numbers the list holds
    LIMIT_CHANGED = "limit_changed"  # 限度額区分の変更あり: valid, limit class differs from before
    FAILED = "failed"  # the central answered this entry with an error (or not at all)

    @property
    def needs_attention(self) -> bool:
        return self is not PrecheckClass.VALID


# QualificationValidity → class, for the answers that are not "insured" (DOMAIN §3).
# 6 有効（未登録） exists for public medical aid (医療扶助) only: the person's aid is valid but no
# 医療券 is registered online for this clinic, so nothing the desk can rely on tomorrow says
# what is covered. The desk does what it does for 該当なし — ask for the paper 医療券 (or call
# the welfare office) and confirm again at arrival — so it is NOT_FOUND, not a class of its own.
_CLASS_BY_VALIDITY = {
    "2": PrecheckClass.INVALID,
    "3": PrecheckClass.INVALID,  # invalid, a newer qualification exists: still not this card
    "4": PrecheckClass.NOT_FOUND,
    "5": PrecheckClass.MULTIPLE,
    "6": PrecheckClass.NOT_FOUND,
}


def same_numbers(listed: SearchInfo, found: Qualification) -> bool:
    """Whether the card found is the one the appointment list holds: insurer (leading zeros
    aside), symbol and number, compared after NFKC and trimming (a receipt computer may export
    full-width digits). The branch number is not compared: the lists often leave it out."""
    return (
        _plain(listed.insurer_number).lstrip("0") == _plain(found.insurer_number).lstrip("0")
        and _plain(listed.symbol) == _plain(found.symbol)
        and _plain(listed.number) == _plain(found.number)
    )


def limit_flag(result: QualificationResult) -> str:
    """The 限度額適用認定証 classification flag (A01…B10) of an insured answer, or ""."""
    if len(result.results) != 1:
        return ""
    limit = result.results[0].limit
    return limit.flag.strip() if limit is not None else ""


def classify(
    result: QualificationResult, *, listed: SearchInfo, previous_limit: str = ""
) -> PrecheckClass:
    """The class of one unit of a bulk answer.

    `listed`: the numbers the appointment list holds for the patient; `previous_limit`: the
    limit classification flag of the patient's previous stored answer ("" when there is none,
    or it carried none). Rules, in order:
    - an abnormal answer (SegmentOfResult ≠ 1) or an error (ProcessingResultStatus ≠ 1) → FAILED;
    - not valid: validity 2, 3 → INVALID; 4 → NOT_FOUND; 5 → MULTIPLE; 6 (医療扶助 not
      registered) → NOT_FOUND (see _CLASS_BY_VALIDITY); anything else → FAILED;
    - valid (validity 1) but not exactly one result: an inconsistent answer → FAILED, as
      sync.codes.verdict treats it;
    - valid, but the card found has other insurer / symbol / number → NUMBERS_DIFFER;
    - valid, and both this answer and the previous one carry a limit flag, and they differ →
      LIMIT_CHANGED (no flag on either side says nothing about a change);
    - otherwise VALID ("insured": all four of DOMAIN §3 hold, and the numbers are the list's).
    """
    if result.segment_of_result != "1" or result.processing_status != "1":
        return PrecheckClass.FAILED
    if result.validity != "1":
        return _CLASS_BY_VALIDITY.get(result.validity, PrecheckClass.FAILED)
    if len(result.results) != 1:
        return PrecheckClass.FAILED
    if not same_numbers(listed, result.results[0]):
        return PrecheckClass.NUMBERS_DIFFER
    now = limit_flag(result)
    before = previous_limit.strip()
    if now and before and now != before:
        return PrecheckClass.LIMIT_CHANGED
    return PrecheckClass.VALID


def _plain(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()
