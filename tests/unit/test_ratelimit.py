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
        limiter.failed("suzuki", f"10.0.0.{i}")
        clock.now += timedelta(minutes=1)
    assert limiter.blocked("suzuki", "10.0.0.9") == timedelta(minutes=7)  # 1st failure + 10 min
    assert limiter.blocked("SUZUKI ", "10.0.0.9") is not None  # the same account however typed
    assert limiter.blocked("sato", "10.0.0.9") is None  # others are not affected
    clock.now = T0 + timedelta(minutes=10)
    assert limiter.blocked("suzuki", "x") is None  # the oldest failure aged out
    limiter.failed("suzuki", "x")  # ... and one more fills the window again
    assert limiter.blocked("suzuki", "x") == timedelta(minutes=1)


def test_per_client_blocks_every_account_from_that_client() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_account=100, per_client=4, window=timedelta(minutes=15), clock=clock)
    for i in range(4):
        limiter.failed(f"user{i}", "192.0.2.7")
    assert limiter.blocked("anyone", "192.0.2.7") == timedelta(minutes=15)
    assert limiter.blocked("anyone", "192.0.2.8") is None
    limiter.succeeded("user0", "192.0.2.7")  # a right password does not lift a client's block
    assert limiter.blocked("anyone", "192.0.2.7") is not None
    clock.now += timedelta(minutes=15)
    assert limiter.blocked("anyone", "192.0.2.7") is None


def test_success_clears_the_account() -> None:
    limiter = LoginLimiter(per_account=2, clock=Clock())
    limiter.failed("suzuki", "a")
    limiter.succeeded("suzuki", "a")
    limiter.failed("suzuki", "a")
    assert limiter.blocked("suzuki", "a") is None
    limiter.failed("suzuki", "a")
    assert limiter.blocked("suzuki", "a") is not None


def test_memory_is_bounded() -> None:
    limiter = LoginLimiter(per_account=1, per_client=1000, clock=Clock(), max_keys=10)
    limiter.failed("victim", "c")
    for i in range(50):  # a flood of made-up usernames
        limiter.failed(f"junk{i}", "c")
    assert len(limiter._failures) == 10
    assert all(len(times) <= 1000 for times in limiter._failures.values())
    assert limiter.blocked("victim", "other") is None  # forgotten first: least recently failed
    assert limiter.blocked("junk49", "other") is not None


@pytest.mark.parametrize(
    "kwargs",
    [{"per_account": 0}, {"per_client": 0}, {"window": timedelta(0)}, {"max_keys": 1}],
)
def test_nonsense_limits_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LoginLimiter(**kwargs)  # type: ignore[arg-type]
