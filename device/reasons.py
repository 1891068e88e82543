"""Why a visit, or a check typed at reception, ended without an answer: a meaning, which the
pages turn into words for the patient and for staff (web/strings_reasons.py)."""

from __future__ import annotations

from enum import StrEnum


class EndReason(StrEnum):
    """Why a visit (or a check typed at reception) ended without an answer: a meaning, which
    the pages turn into words for the patient and for staff (web/strings_reasons.py)."""

    CARD_REMOVED = "card_removed"
    TIMEOUT = "timeout"
    PIN_BLOCKED = "pin_blocked"
    STAFF_TIMEOUT = "staff_timeout"
    NOT_JPKI = "not_jpki"
    BAD_CERTIFICATE = "bad_certificate"
    CARD_ERROR = "card_error"
    FORBIDDEN = "forbidden"
    SIGNATURE_MISMATCH = "signature_mismatch"
    # The central was unreachable and the card's certificate did not pass the box's own check
    # (JPKI root, validity): the card cannot stand in for the online check.
    CARD_UNTRUSTED = "card_untrusted"
    # The card's certificate expired and its grace (sync.cardexpiry) is over: not an insurance
    # card any more; the patient's 資格確認書 is checked by numbers at the desk.
    CARD_GRACE_OVER = "card_grace_over"
    READER_RESTARTED = "reader_restarted"  # pcscd went away: not the patient's doing
    CENTRAL_UNAVAILABLE = "central_unavailable"  # not reached, or no answer in time
    CENTRAL_REFUSED = "central_refused"  # the service said no
    CENTRAL_UNREADABLE = "central_unreadable"  # it answered something unreadable
    CENTRAL_UNTRUSTED = "central_untrusted"  # certificates do not match: configuration
    STOPPED = "stopped"
    DISK_FULL = "disk_full"  # the answer could not be saved: an admin must free space
    INTERNAL = "internal"
