"""The one text form of a stored instant: UTC, always microseconds, fixed width.

`2026-11-29T09:50:00.000000+00:00` — every instant column holds exactly this, so comparing the
strings compares the instants and a range query is a plain comparison an index can serve.
`instant_text` writes it, `instant_of` reads it (and every older form, for the migration).
"""

from __future__ import annotations

from datetime import UTC, datetime


def instant_text(at: datetime) -> str:
    """Fixed-width UTC text: comparing these strings compares the instants."""
    if at.tzinfo is None:  # astimezone() would take a naive time as local time
        raise ValueError("aware datetime required")
    # isoformat pads the year to four digits; strftime's %Y does not below 1000 (glibc).
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def instant_of(text: str) -> datetime:
    """The aware instant of stored text (any isoformat form; one without an offset is UTC,
    as every writer of this store stamped UTC)."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def optional_instant_of(text: str) -> datetime | None:
    """'' (not given) reads as None."""
    return instant_of(text) if text else None


def normalized(text: str | None) -> str | None:
    """An instant column's value in the one form; '' and NULL stay, text that is no instant
    is left as it is (SQL function of migration 6, registered on the connection)."""
    if not text:
        return text
    try:
        return instant_text(instant_of(text))
    except (ValueError, OverflowError):
        return text
