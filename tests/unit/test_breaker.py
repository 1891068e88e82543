"""The circuit breaker's state machine, with a fake transport and a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.config import ConfigError, load_config
from device.events import CentralDown, CentralUp, EventBus
from device.parts import central_breaker
from device.reachability import CentralProbe, CentralReachability
from sync.breaker import BreakerChange, BreakerState, CircuitBreaker, CircuitOpen
from sync.transport import (
    CentralAnswer,
    CentralError,
    CentralFault,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
)
from sync.xmlmsg import QualificationRequest


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeTransport:
    """Answers with what `next` says: a nonce, or raises the error it holds."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: CentralError | None = None
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None  # held calls wait on it

    def nonce(self) -> bytes:
        with self.lock:
            self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.error is not None:
            raise self.error
        return b"n" * 16

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        raise AssertionError("not used")


def make(
    failures: int = 3, open_s: float = 30.0
) -> tuple[CircuitBreaker, FakeTransport, FakeClock, list[BreakerChange]]:
    transport, clock = FakeTransport(), FakeClock()
    changes: list[BreakerChange] = []
    breaker = CircuitBreaker(
        transport, failures=failures, open_s=open_s, clock=clock, listener=changes.append
    )
    return breaker, transport, clock, changes


def fail(breaker: CircuitBreaker) -> CentralError:
    with pytest.raises(CentralError) as info:
        breaker.nonce()
    return info.value


def test_closed_passes_calls_through() -> None:
    breaker, transport, _, changes = make()
    assert breaker.nonce() == b"n" * 16
    assert transport.calls == 1 and breaker.state is BreakerState.CLOSED and changes == []


def test_opens_after_n_consecutive_unavailable_failures() -> None:
    breaker, transport, clock, changes = make(failures=3)
    transport.error = CentralUnavailable("connect refused")
    for _ in range(2):
        fail(breaker)
        clock.advance(1)
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 2
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert changes == [
        BreakerChange(BreakerState.OPEN, BreakerState.CLOSED, 2.0, "connect refused")
    ]


def test_a_success_resets_the_count() -> None:
    breaker, transport, _, _ = make(failures=2)
    transport.error = CentralUnavailable("x")
    fail(breaker)
    transport.error = None
    breaker.nonce()
    transport.error = CentralUnavailable("x")
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED and breaker.down_for_s() == 0.0


@pytest.mark.parametrize(
    "error",
    [CentralRefused(403, "no"), CentralUnreadable("garbled"), CentralUntrusted("cert")],
    ids=lambda e: type(e).__name__,
)
def test_answers_never_open_it_and_end_a_run(error: CentralError) -> None:
    breaker, transport, _, changes = make(failures=2)
    transport.error = CentralUnavailable("x")
    fail(breaker)
    transport.error = error
    for _ in range(5):
        assert fail(breaker) is error
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0 and changes == []


def test_open_fails_at_once_without_the_network() -> None:
    breaker, transport, clock, _ = make(failures=1, open_s=30)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    before = transport.calls
    clock.advance(10)
    error = fail(breaker)
    assert isinstance(error, CircuitOpen) and isinstance(error, CentralUnavailable)
    assert error.fault is CentralFault.UNAVAILABLE
    assert "circuit open" in str(error) and error.retry_in_s == pytest.approx(20)
    assert transport.calls == before


def test_half_open_probe_success_closes() -> None:
    breaker, transport, clock, changes = make(failures=1, open_s=30)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    clock.advance(30)
    transport.error = None
    assert breaker.nonce() == b"n" * 16
    assert breaker.state is BreakerState.CLOSED
    assert [c.state for c in changes] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
    assert changes[1].down_for_s == 30.0


def test_half_open_probe_failure_reopens_for_another_interval() -> None:
    breaker, transport, clock, changes = make(failures=1, open_s=30)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    clock.advance(31)
    fail(breaker)  # the probe
    assert breaker.state is BreakerState.OPEN
    calls = transport.calls
    clock.advance(29)
    assert isinstance(fail(breaker), CircuitOpen) and transport.calls == calls
    clock.advance(1)
    transport.error = None
    breaker.nonce()
    assert breaker.state is BreakerState.CLOSED
    assert [c.state for c in changes] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
    assert changes[2].down_for_s == 31.0  # the outage is counted from its first failure


def test_a_refusal_as_the_probe_closes() -> None:
    breaker, transport, clock, _ = make(failures=1, open_s=5)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    clock.advance(5)
    transport.error = CentralRefused(400, "bad request")
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED


def test_a_bug_in_the_probe_gives_the_slot_back() -> None:
    breaker, transport, clock, _ = make(failures=1, open_s=5)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    clock.advance(5)

    def broken() -> bytes:
        raise ValueError("a bug, not the central")

    with pytest.raises(ValueError):
        breaker.call(broken)
    assert breaker.state is BreakerState.HALF_OPEN
    transport.error = None
    breaker.nonce()  # the next call is the probe
    assert breaker.state is BreakerState.CLOSED


def test_only_one_probe_at_a_time() -> None:
    breaker, transport, clock, _ = make(failures=1, open_s=5)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    clock.advance(5)
    transport.error = None
    transport.gate = threading.Event()
    probe = threading.Thread(target=breaker.nonce)
    probe.start()
    while transport.calls < 2:  # the probe is inside the transport
        threading.Event().wait(0.001)
    calls = transport.calls
    assert isinstance(fail(breaker), CircuitOpen)  # others fail at once meanwhile
    assert transport.calls == calls
    transport.gate.set()
    probe.join(5)
    assert breaker.state is BreakerState.CLOSED


def test_a_late_answer_while_open_closes() -> None:
    breaker, transport, _, _ = make(failures=1, open_s=30)
    transport.gate = threading.Event()
    late: list[bytes] = []
    slow = threading.Thread(target=lambda: late.append(breaker.nonce()))
    slow.start()  # admitted while closed, answers after the circuit opened
    while transport.calls < 1:
        threading.Event().wait(0.001)

    def unreachable() -> bytes:
        raise CentralUnavailable("down")

    with pytest.raises(CentralUnavailable):
        breaker.call(unreachable)  # another call meanwhile finds the central down
    assert breaker.state is BreakerState.OPEN
    transport.gate.set()
    slow.join(5)
    assert late and breaker.state is BreakerState.CLOSED


def test_concurrent_failures_open_once_and_count_every_call() -> None:
    breaker, transport, _, changes = make(failures=5)
    transport.error = CentralUnavailable("down")
    start = threading.Barrier(20)
    errors: list[CentralError] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        for _ in range(50):
            try:
                breaker.nonce()
            except CentralError as exc:
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(errors) == 1000
    assert [c.state for c in changes] == [BreakerState.OPEN]  # opened exactly once
    reached = [e for e in errors if not isinstance(e, CircuitOpen)]
    assert len(reached) == transport.calls >= 5
    assert breaker.failures == transport.calls


def test_concurrent_probes_let_exactly_one_through() -> None:
    breaker, transport, clock, changes = make(failures=1, open_s=5)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    clock.advance(5)
    transport.error = None
    transport.gate = threading.Event()
    start = threading.Barrier(16)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        try:
            breaker.nonce()
            result = "answered"
        except CircuitOpen:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    while len(outcomes) < 15:
        threading.Event().wait(0.001)
    transport.gate.set()
    for t in threads:
        t.join(5)
    assert sorted(outcomes) == ["answered"] + ["refused"] * 15
    assert transport.calls == 2 and breaker.state is BreakerState.CLOSED
    assert [c.state for c in changes][-1] is BreakerState.CLOSED


def test_a_failing_listener_does_not_break_the_breaker() -> None:
    def listener(change: BreakerChange) -> None:
        raise RuntimeError("listener bug")

    transport = FakeTransport()
    transport.error = CentralUnavailable("down")
    breaker = CircuitBreaker(transport, failures=1, listener=listener)
    fail(breaker)
    assert breaker.state is BreakerState.OPEN


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(FakeTransport(), failures=0)
    with pytest.raises(ValueError):
        CircuitBreaker(FakeTransport(), open_s=-1)


# -- what the appliance makes of it ---------------------------------------------------------
START = datetime(2031, 5, 6, 1, 0, tzinfo=UTC)


def wall(clock: FakeClock) -> Callable[[], datetime]:
    return lambda: START + timedelta(seconds=clock.now - 1000.0)


def test_reachability_publishes_down_once_and_up_once() -> None:
    bus = EventBus()
    events = bus.subscribe()
    transport, clock = FakeTransport(), FakeClock()
    reach = CentralReachability(bus, wall(clock))
    breaker = CircuitBreaker(
        transport, failures=2, open_s=10, clock=clock, listener=reach.on_change
    )
    transport.error = CentralUnavailable("down")
    fail(breaker)
    clock.advance(4)
    fail(breaker)
    assert reach.current().down_since == START  # the first failure, not the opening
    assert reach.current().state is BreakerState.OPEN and "down" in reach.current().cause
    clock.advance(10)
    fail(breaker)  # a failed probe: still down, same since, nothing new on the bus
    assert reach.current().down_since == START
    clock.advance(10)
    transport.error = None
    breaker.nonce()
    assert not reach.current().down
    assert list(events.drain()) == [
        CentralDown(START),
        CentralUp(START + timedelta(seconds=24)),
    ]


def test_the_probe_closes_the_circuit_without_any_visit() -> None:
    transport, clock = FakeTransport(), FakeClock()
    breaker = CircuitBreaker(transport, failures=1, open_s=10, clock=clock)
    transport.error = CentralUnavailable("down")
    fail(breaker)
    health = FakeTransport()
    probe = CentralProbe(breaker, health.nonce)
    probe.probe_once()
    assert health.calls == 0  # still waiting out the interval: nothing sent
    clock.advance(10)
    probe.probe_once()
    assert health.calls == 1 and breaker.state is BreakerState.CLOSED
    probe.probe_once()
    assert health.calls == 1  # closed: no probing


def test_probe_thread_starts_and_stops() -> None:
    transport = FakeTransport()
    transport.error = CentralUnavailable("down")
    breaker = CircuitBreaker(transport, failures=1, open_s=0)
    fail(breaker)
    health = FakeTransport()
    probe = CentralProbe(breaker, health.nonce, poll_s=0.01)
    probe.start()
    for _ in range(500):
        if breaker.state is BreakerState.CLOSED:
            break
        threading.Event().wait(0.01)
    probe.stop()
    assert breaker.state is BreakerState.CLOSED and health.calls >= 1


# -- settings ---------------------------------------------------------------------------------
def test_breaker_settings_defaults_and_builder() -> None:
    config = load_config(environ={})
    assert config.central_connect_timeout_s <= 3.0  # a visit learns "unreachable" within 3 s
    assert config.central_breaker_failures == 2 and config.central_breaker_open_s == 30.0
    breaker = central_breaker(config, FakeTransport())
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("central_breaker_failures", "0"),
        ("central_breaker_failures", "21"),
        ("central_breaker_open_s", "0.5"),
        ("central_breaker_open_s", "3601"),
        ("central_breaker_open_s", "nan"),
        ("central_connect_timeout_s", "0.1"),
        ("central_connect_timeout_s", "61"),
    ],
)
def test_breaker_settings_out_of_range_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(environ={f"ONSHI_{name.upper()}": value})


def test_breaker_settings_in_range_are_taken(tmp_path: Path) -> None:
    file = tmp_path / "onshi.toml"
    file.write_text(
        "central_breaker_failures = 20\ncentral_breaker_open_s = 1\n"
        "central_connect_timeout_s = 0.2\n"
    )
    config = load_config(file, environ={})
    assert config.central_breaker_failures == 20
    assert config.central_breaker_open_s == 1.0
    assert config.central_connect_timeout_s == 0.2
