"""What the appliance reads out of the XmlMsg codes (DOMAIN.md §3/§4): the kinds of information
a patient may agree to share, the co-payment ratio, and the one rule that turns a result into a
verdict. The words for every code and verdict are the pages' (web/labels.py).
"""

from __future__ import annotations

import enum

from sync.xmlmsg import CONSENT_FLAG_TAG, QualificationResult

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
