"""The 2025 card-certificate expiry rules (DOMAIN.md §10) at month boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sync.cardexpiry import CardStanding, card_expiry, grace_until, renew_from
from sync.clock import JST


@pytest.mark.parametrize(
    ("expires", "until"),
    [
        (date(2026, 1, 31), date(2026, 4, 30)),
        (date(2026, 11, 15), date(2027, 2, 28)),
        (date(2026, 1, 1), date(2026, 4, 30)),
        (date(2026, 12, 31), date(2027, 3, 31)),
        (date(2027, 11, 30), date(2028, 2, 29)),  # a leap February
        (date(2026, 10, 1), date(2027, 1, 31)),  # across the year
    ],
)
def test_grace_ends_on_the_last_day_of_the_third_month_after(expires: date, until: date) -> None:
    assert grace_until(expires) == until


@pytest.mark.parametrize(
    ("expires", "start"),
    [
        (date(2026, 5, 31), date(2026, 2, 28)),  # clamped to a shorter month
        (date(2026, 4, 15), date(2026, 1, 15)),
        (date(2026, 2, 10), date(2025, 11, 10)),  # across the year
        (date(2028, 5, 30), date(2028, 2, 29)),
    ],
)
def test_renewal_notice_starts_three_months_before(expires: date, start: date) -> None:
    assert renew_from(expires) == start


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=JST)


# A certificate valid until the end of 2026-01-31 in Japan (notAfter in UTC: 14:59:59).
NOT_AFTER = datetime(2026, 1, 31, 23, 59, 59, tzinfo=JST)


@pytest.mark.parametrize(
    ("now", "standing"),
    [
        (_at(date(2025, 10, 30)), CardStanding.VALID),
        (_at(date(2025, 10, 31), 0), CardStanding.RENEW_SOON),  # first day of the notice
        (_at(date(2026, 1, 31)), CardStanding.RENEW_SOON),  # the last valid day
        (NOT_AFTER, CardStanding.RENEW_SOON),
        (NOT_AFTER + timedelta(seconds=1), CardStanding.GRACE),  # expired: grace starts
        (_at(date(2026, 4, 30), 23), CardStanding.GRACE),  # the last day of grace
        (_at(date(2026, 5, 1), 0), CardStanding.GRACE_OVER),
        (_at(date(2027, 1, 1)), CardStanding.GRACE_OVER),
    ],
)
def test_standing_at_the_boundaries(now: datetime, standing: CardStanding) -> None:
    expiry = card_expiry(NOT_AFTER, now)
    assert expiry.standing is standing
    assert expiry.expires_on == date(2026, 1, 31)
    assert expiry.grace_until == date(2026, 4, 30)
    assert expiry.shares_information == (standing in (CardStanding.VALID, CardStanding.RENEW_SOON))
    assert expiry.confirms_qualification == (standing is not CardStanding.GRACE_OVER)


def test_the_expiry_day_is_the_japanese_day() -> None:
    """notAfter 2026-11-15T20:00Z is 2026-11-16 in Japan: grace runs to the end of February."""
    not_after = datetime(2026, 11, 15, 20, 0, tzinfo=UTC)
    expiry = card_expiry(not_after, not_after + timedelta(days=100))
    assert expiry.expires_on == date(2026, 11, 16)
    assert expiry.grace_until == date(2027, 2, 28)
    assert expiry.standing is CardStanding.GRACE
