"""The card certificate's expiry rules in force since 2025 (DOMAIN.md §10), as pure date rules.

The JPKI user-authentication certificate expires at its notAfter. From three months before that
day the patient is told to renew at the city office (the card works normally). After expiry,
until the end of the third month after the month containing the expiry date, the card still
confirms qualification but shares nothing (no consent is taken). After that grace the card is
not an insurance card: the patient uses the 資格確認書 the insurer mails.

One rule for both sides of the wire: the appliance (device/flow.py) and the simulated central
(sim/central) read it here, so they cannot disagree. Days are Japanese calendar days (JST): the
expiry date is the day notAfter falls on in Japan. Every function takes the time it is asked
about; nothing here reads a clock.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date, datetime

from sync.clock import JST

RENEW_NOTICE_MONTHS = 3  # told to renew from this many months before the expiry date
GRACE_MONTHS = 3  # months after the month of expiry during which qualification still works


class CardStanding(enum.StrEnum):
    """What the certificate's validity allows today."""

    VALID = "valid"  # more than three months left
    RENEW_SOON = "renew_soon"  # valid; within three months of expiry: renew at the city office
    GRACE = "grace"  # expired, within grace: qualification only, nothing shared, no consent
    GRACE_OVER = "grace_over"  # past grace: not an insurance card; use the 資格確認書


@dataclass(frozen=True)
class CardExpiry:
    standing: CardStanding
    expires_on: date  # the expiry date (JST)
    renew_from: date  # first day the patient is told to renew
    grace_until: date  # last day (JST) qualification can still be confirmed

    @property
    def shares_information(self) -> bool:
        """Whether consent may be asked (and drug/checkup information shared)."""
        return self.standing in (CardStanding.VALID, CardStanding.RENEW_SOON)

    @property
    def confirms_qualification(self) -> bool:
        return self.standing is not CardStanding.GRACE_OVER


def _add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the end of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def grace_until(expires_on: date) -> date:
    """The last day of the third month after the month containing the expiry date:
    2026-01-31 → 2026-04-30; 2026-11-15 → 2027-02-28."""
    first = date(expires_on.year, expires_on.month, 1)
    after = _add_months(first, GRACE_MONTHS)
    return date(after.year, after.month, calendar.monthrange(after.year, after.month)[1])


def renew_from(expires_on: date) -> date:
    """The first day of the renewal notice: three calendar months before the expiry date
    (2026-05-31 → 2026-02-28)."""
    return _add_months(expires_on, -RENEW_NOTICE_MONTHS)


def expiry_date(not_after: datetime) -> date:
    """The day (JST) a certificate's notAfter falls on."""
    return not_after.astimezone(JST).date()


def card_expiry(not_after: datetime, now: datetime) -> CardExpiry:
    """The standing of a certificate valid until `not_after`, at `now` (both aware)."""
    expires_on = expiry_date(not_after)
    renew = renew_from(expires_on)
    grace = grace_until(expires_on)
    today = now.astimezone(JST).date()
    if now <= not_after:
        standing = CardStanding.RENEW_SOON if today >= renew else CardStanding.VALID
    elif today <= grace:
        standing = CardStanding.GRACE
    else:
        standing = CardStanding.GRACE_OVER
    return CardExpiry(standing, expires_on, renew, grace)
