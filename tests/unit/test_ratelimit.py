"""device/ratelimit.py: per-account and per-client sliding windows with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from device.ratelimit import LoginLimiter

T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_per_account_blocks_and_recovers_after_the_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_account=3, per_client=100, window=timedelta(minutes=10), clock=clock)
    for i in range(3):
        assert limiter.blocked("suzuki", f"10.0.0.{i}") is None
        limiter.failed("suzuki", f"10.0.0.{i}", known=True)
        clock.now += timedelta(minutes=1)
    assert limiter.blocked("suzuki", "10.0.0.9") == timedelta(minutes=7)  # 1st failure + 10 min
    assert limiter.blocked("SUZUKI ", "10.0.0.9") is not None  # the same account however typed
    assert limiter.blocked("sato", "10.0.0.9") is None  # others are not affected
    clock.now = T0 + timedelta(minutes=10)
    assert limiter.blocked("suzuki", "x") is None  # the oldest failure aged out
    limiter.failed("suzuki", "x", known=True)  # ... and one more fills the window again
    assert limiter.blocked("suzuki", "x") == timedelta(minutes=1)


def test_per_client_blocks_every_account_from_that_client() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_account=100, per_client=4, window=timedelta(minutes=15), clock=clock)
    for i in range(4):
        limiter.failed(f"user{i}", "192.0.2.7", known=i % 2 == 0)
    assert limiter.blocked("anyone", "192.0.2.7") == timedelta(minutes=15)
    assert limiter.blocked("anyone", "192.0.2.8") is None
    limiter.succeeded("user0", "192.0.2.7")  # a right password does not lift a client's block
    assert limiter.blocked("anyone", "192.0.2.7") is not None
    clock.now += timedelta(minutes=15)
    assert limiter.blocked("anyone", "192.0.2.7") is None


def test_success_clears_the_account() -> None:
    limiter = LoginLimiter(per_account=2, clock=Clock())
    for known in (True, False):
        limiter.failed("suzuki", "a", known=known)
        limiter.succeeded("suzuki", "a")
        limiter.failed("suzuki", "a", known=known)
        assert limiter.blocked("suzuki", "a") is None
        limiter.failed("suzuki", "a", known=known)
        assert limiter.blocked("suzuki", "a") is not None
        limiter.succeeded("suzuki", "a")


def test_memory_is_bounded() -> None:
    limiter = LoginLimiter(per_account=3, per_client=5, clock=Clock(), max_keys=10)
    for i in range(50):  # a flood of made-up usernames from many addresses
        limiter.failed(f"junk{i}", f"192.0.2.{i}", known=False)
        limiter.failed(f"staff{i}", f"192.0.2.{i}", known=True)
        limiter.failed(f"staff{i}", f"192.0.2.{i}", known=True)
    assert limiter.tracked() == 30  # three maps of at most max_keys
    assert limiter.blocked("junk49", "other") is None  # one failure of three
    limiter.failed("junk49", "other", known=False)
    limiter.failed("junk49", "other", known=False)
    assert limiter.blocked("junk49", "other") is not None  # the newest names are kept
    assert limiter.blocked("x", "192.0.2.0") is None  # the least recently failed forgotten


def test_other_traffic_cannot_reset_a_real_account() -> None:
    clock = Clock()
    limiter = LoginLimiter(
        per_account=3, per_client=10**6, window=timedelta(minutes=15), clock=clock, max_keys=4
    )
    limiter.failed("suzuki", "192.0.2.1", known=True)
    limiter.failed("suzuki", "192.0.2.1", known=True)
    for i in range(100):  # made-up names from elsewhere, before and after more of suzuki
        limiter.failed(f"junk{i}", f"198.51.100.{i}", known=False)
        clock.now += timedelta(seconds=1)
    limiter.failed("suzuki", "192.0.2.1", known=True)
    assert limiter.blocked("suzuki", "203.0.113.9") is not None
    for i in range(100):
        limiter.failed(f"junk-{i}", f"198.51.100.{i}", known=False)
    assert limiter.blocked("suzuki", "203.0.113.9") is not None


def test_full_account_map_keeps_recent_failures_and_drops_only_aged_ones() -> None:
    clock = Clock()
    limiter = LoginLimiter(
        per_account=2, per_client=10**6, window=timedelta(minutes=15), clock=clock, max_keys=2
    )
    for name in ("sato", "suzuki"):
        limiter.failed(name, "a", known=True)
        limiter.failed(name, "a", known=True)
    limiter.failed("tanaka", "a", known=True)  # full of recent failures: not tracked
    limiter.failed("tanaka", "a", known=True)
    assert limiter.blocked("tanaka", "b") is None
    assert limiter.blocked("sato", "b") is not None and limiter.blocked("suzuki", "b") is not None
    clock.now += timedelta(minutes=10)
    limiter.failed("suzuki", "a", known=True)
    clock.now += timedelta(minutes=5)  # sato's failures have aged out, suzuki's newest not
    limiter.failed("tanaka", "a", known=True)
    limiter.failed("tanaka", "a", known=True)
    assert limiter.blocked("tanaka", "b") is not None  # took the place of the aged-out sato
    limiter.failed("suzuki", "a", known=True)  # kept with its failure of 5 minutes ago:
    assert limiter.blocked("suzuki", "b") is not None  # one more is two in the window


@pytest.mark.parametrize(
    "kwargs",
    [{"per_account": 0}, {"per_client": 0}, {"window": timedelta(0)}, {"max_keys": 1}],
)
def test_nonsense_limits_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LoginLimiter(**kwargs)  # type: ignore[arg-type]
