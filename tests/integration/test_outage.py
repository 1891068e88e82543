"""The central goes down and comes back, through the real stack: the parts builder's client
and breaker over mutual TLS to the simulated central, real SQLite, the desk's manual check.

A call that finds the central gone learns it within the connect deadline; once the circuit
is open the next call fails without reaching the network; after the central is back one probe
closes it again."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from device.checks import CheckFailed, ManualChecks
from device.config import Config, load_config
from device.confirm import Confirmations
from device.events import CentralDown, CentralUp, EventBus, Subscription
from device.parts import central_breaker, connect_central
from device.reachability import CentralReachability
from sync.breaker import BreakerState, CircuitBreaker, CircuitOpen
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import CentralAnswer, CentralUnavailable
from sync.xmlmsg import QualificationRequest
from tests.central_relay import CentralRelay
from web.labels import Badge

from .conftest import MEDICAL_INSTITUTION_CODE
from .test_manual_check import as_typed

PERSON = "P025"  # a 資格確認書 holder: checked by typing the numbers


class Counting:
    """The real client, counting the calls that reach it (below the breaker)."""

    def __init__(self, inner: CentralClient) -> None:
        self.inner = inner
        self.calls = 0

    def nonce(self) -> bytes:
        self.calls += 1
        return self.inner.nonce()

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        self.calls += 1
        return self.inner.confirm(request)


class Monotonic:
    """The breaker's clock: moved past the open interval instead of sleeping through it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@dataclass
class Clinic:
    config: Config
    relay: CentralRelay  # the line to the central: switched off and on
    client: CentralClient
    wire: Counting
    breaker: CircuitBreaker
    clock: Monotonic
    checks: ManualChecks
    store: Store
    events: Subscription
    reach: CentralReachability

    def check(self) -> Any:
        return self.checks.check(as_typed(PERSON), actor="reception")

    def timed_failure(self) -> tuple[CheckFailed, float]:
        started = time.perf_counter()
        with pytest.raises(CheckFailed) as info:
            self.check()
        return info.value, time.perf_counter() - started


@pytest.fixture
def clinic(sim_pki: Any, central_server: Any, tmp_path: Path) -> Iterator[Clinic]:
    relay = CentralRelay(int(central_server.url.rsplit(":", 1)[1]))
    relay.start()
    config = load_config(
        environ={},
        overrides={
            "data_dir": tmp_path,
            "central_url": relay.url,
            "central_ca": sim_pki.central_ca_cert,
            "device_cert": sim_pki.device_cert,
            "device_key": sim_pki.device_key,
            "central_breaker_failures": 2,
            "central_breaker_open_s": 30,
        },
    )
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    client = connect_central(config)  # the appliance's own builder: its timeouts and deadline
    wire = Counting(client)
    bus = EventBus()
    events = bus.subscribe()
    reach = CentralReachability(bus)
    clock = Monotonic()
    breaker = central_breaker(config, wire, reach.on_change, clock)
    checks = ManualChecks(
        medical_institution_code=MEDICAL_INSTITUTION_CODE,
        confirmations=Confirmations(transport=breaker, store=store, bus=bus),
        store=store,
    )
    clinic = Clinic(config, relay, client, wire, breaker, clock, checks, store, events, reach)
    yield clinic
    relay.stop()
    events.close()
    client.close()
    store.close()


def test_down_learnt_within_the_connect_deadline_then_no_wait_then_back(clinic: Clinic) -> None:
    assert clinic.config.central_connect_timeout_s <= 3.0
    assert clinic.check().badge == Badge.VALID.name  # the central answers: an ordinary check
    assert clinic.breaker.state is BreakerState.CLOSED

    clinic.relay.stop()
    failures = [clinic.timed_failure() for _ in range(clinic.config.central_breaker_failures)]
    for failure, seconds in failures:
        assert failure.reason == "central_unavailable"
        # Learnt by the connect deadline, far from the whole call's deadline (20 s).
        assert seconds < clinic.config.central_deadline_s
        print(f"central stopped: the check learnt it in {seconds * 1000:.0f} ms")
    assert clinic.breaker.state is BreakerState.OPEN
    assert clinic.reach.current().down
    down = next(e for e in clinic.events.drain() if isinstance(e, CentralDown | CentralUp))
    assert isinstance(down, CentralDown)

    reached = clinic.wire.calls
    failure, seconds = clinic.timed_failure()
    assert failure.reason == "central_unavailable"
    assert isinstance(failure.__cause__, CircuitOpen) or isinstance(
        failure.__context__, CircuitOpen
    )
    assert clinic.wire.calls == reached  # nothing went out: the circuit is open
    print(f"circuit open: the check failed in {seconds * 1000:.1f} ms without the network")

    clinic.relay.start()
    clinic.clock.offset += clinic.config.central_breaker_open_s  # the open interval is over
    assert clinic.check().badge == Badge.VALID.name  # the probe: the central answers again
    assert clinic.wire.calls == reached + 1
    assert clinic.breaker.state is BreakerState.CLOSED
    assert not clinic.reach.current().down
    assert any(isinstance(e, CentralUp) for e in clinic.events.drain())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A central that takes the connection and never answers the TLS handshake (a stuck VPN)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_central_that_never_answers_is_unreachable_by_the_connect_deadline(
    sim_pki: Any, tmp_path: Path, silent_port: int
) -> None:
    config = load_config(
        environ={},
        overrides={
            "data_dir": tmp_path,
            "central_url": f"https://127.0.0.1:{silent_port}",
            "central_ca": sim_pki.central_ca_cert,
            "device_cert": sim_pki.device_cert,
            "device_key": sim_pki.device_key,
        },
    )
    client = connect_central(config)
    try:
        started = time.perf_counter()
        with pytest.raises(CentralUnavailable, match="not reached within 3 s"):
            client.nonce()
        print(f"silent central: unreachable after {time.perf_counter() - started:.2f} s")
    finally:
        client.close()
