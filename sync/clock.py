"""The clinic's time: stored instants are UTC; dates on the wire and on screen are Japan's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def utc_now() -> datetime:
    return datetime.now(UTC)
