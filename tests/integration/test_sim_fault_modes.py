"""Each failure mode of the simulated central, as the appliance's CentralClient meets it over
real mutual TLS, switched through the control listener (also over mutual TLS)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sim.central.remote import ControlError, call, control_url
from sim.central.server import CentralServer
from sim.pki import PkiPaths
from sim.population import person
from sync.central import CentralClient
from sync.transport import CentralError, CentralFault
from sync.xmlmsg import QualificationRequest, SearchInfo

from .conftest import MEDICAL_INSTITUTION_CODE, central_client

pytestmark = pytest.mark.stack

DEADLINE_S = 20.0  # generous: "quickly" below means well inside it, never a tight bound
START = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)  # 09:30 in Japan


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def pki(pki_at: Any) -> Any:
    """The test PKI as built at START: the simulator's clock starts there, not today."""
    return pki_at(START)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(pki: PkiPaths, clock: FakeClock) -> Iterator[CentralServer]:
    with CentralServer(pki, clock=clock) as running:
        yield running


@pytest.fixture
def client(server: CentralServer, pki: PkiPaths) -> Iterator[CentralClient]:
    c = central_client(pki, server.url, deadline_s=DEADLINE_S, sleep=lambda s: None)
    yield c
    c.close()


def switch(server: CentralServer, pki: PkiPaths, **changes: Any) -> dict[str, Any]:
    """Through the control listener, as the demo sandbox does; then the listener follows."""
    state = call(server.control_url, pki, changes)
    server.apply_faults()
    return state


_ids = iter(range(10**6))


def by_numbers(pid: str) -> QualificationRequest:
    p = person(pid)
    return QualificationRequest(
        medical_institution_code=MEDICAL_INSTITUTION_CODE,
        confirmation_date="20260401",
        file_id=f"F{os.getpid()}-{next(_ids)}",
        reference_classification="2",
        search=SearchInfo(p.insurer_number, p.number, p.birthdate, symbol=p.symbol),
    )


def fault_of(client: CentralClient, pid: str = "P002") -> tuple[CentralFault, float]:
    started = time.monotonic()
    with pytest.raises(CentralError) as caught:
        client.confirm(by_numbers(pid))
    return caught.value.fault, time.monotonic() - started


def test_down_is_unavailable_at_once_and_up_again_on_the_same_url(
    server: CentralServer, client: CentralClient, pki: PkiPaths
) -> None:
    assert client.confirm(by_numbers("P002")).result.validity == "1"
    assert switch(server, pki, mode="down")["down"] is True
    assert not server.listening
    fault, took = fault_of(client)
    assert fault is CentralFault.UNAVAILABLE
    assert took < DEADLINE_S / 2  # refused, not timed out
    switch(server, pki, mode="normal")
    assert client.confirm(by_numbers("P002")).result.validity == "1"


def test_slow_beyond_the_deadline_is_unavailable(server: CentralServer, pki: PkiPaths) -> None:
    switch(server, pki, mode="slow", slow_s=60.0)
    hasty = central_client(pki, server.url, deadline_s=0.5, retries=0)
    try:
        fault, _ = fault_of(hasty)
        assert fault is CentralFault.UNAVAILABLE
    finally:
        hasty.close()
        switch(server, pki, mode="normal")  # releases the held request


def test_slow_within_the_deadline_still_answers(
    server: CentralServer, client: CentralClient, pki: PkiPaths
) -> None:
    switch(server, pki, mode="slow", slow_s=0.2)
    answer = client.confirm(by_numbers("P002"))
    assert answer.result.validity == "1"
    assert answer.round_trip_s >= 0.2


def test_flapping_follows_the_simulators_clock(
    server: CentralServer, client: CentralClient, pki: PkiPaths, clock: FakeClock
) -> None:
    state = switch(server, pki, mode="flapping", flap_s=30.0)
    assert state["down"] is True
    assert fault_of(client)[0] is CentralFault.UNAVAILABLE
    clock.advance(30)
    server.apply_faults()
    assert client.confirm(by_numbers("P002")).result.validity == "1"
    clock.advance(30)
    server.apply_faults()
    assert fault_of(client)[0] is CentralFault.UNAVAILABLE
    clock.advance(30)
    server.apply_faults()
    assert client.confirm(by_numbers("P002")).result.validity == "1"
    assert call(server.control_url, pki)["recoveries"] == 2


def test_after_recovery_the_changed_answers_come_back(
    server: CentralServer, client: CentralClient, pki: PkiPaths, clock: FakeClock
) -> None:
    assert client.confirm(by_numbers("P001")).result.validity == "1"
    switch(server, pki, mode="down", changed_after_recovery=True)
    clock.advance(12 * 3600)
    assert fault_of(client, "P001")[0] is CentralFault.UNAVAILABLE
    assert switch(server, pki, mode="normal")["answers_changed"] is True
    lost = client.confirm(by_numbers("P001")).result
    assert lost.validity == "2"
    assert lost.results[0].disqualification_date == "20260401"
    assert client.confirm(by_numbers("P004")).result.results[0].contribution_ratio == "030"
    moved = client.confirm(by_numbers("P008")).result
    assert moved.validity == "3"
    assert moved.results[0].insurer_number != person("P008").insurer_number


def test_the_control_listener_needs_the_device_certificate(
    server: CentralServer, pki: PkiPaths
) -> None:
    import ssl
    import urllib.request

    anonymous = ssl.create_default_context(cafile=str(pki.central_ca_cert))
    with pytest.raises(OSError):
        urllib.request.urlopen(server.control_url, timeout=10, context=anonymous)
    assert server.control_url.startswith("https://127.0.0.1:")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_cli_starts_down_and_onshi_sim_control_brings_it_back(
    pki: PkiPaths, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "pki").mkdir(parents=True)
    shutil.copytree(pki.root, data / "pki", dirs_exist_ok=True)  # no key generation here
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "sim", "central", "--data", str(data), "--port", str(port)]
        + ["--control-port", "0", "--mode", "down", "--slow-s", "2", "--flap-s", "30"]
        + ["--changed-after-recovery"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:  # the control file is written before this line
            if line.startswith("mode:"):
                break
        state = call(control_url(data), pki)  # the same certificates as copied
        assert (state["mode"], state["down"], state["changed_after_recovery"]) == (
            "down",
            True,
            True,
        )
        c = central_client(pki, f"https://127.0.0.1:{port}", deadline_s=DEADLINE_S)
        try:
            assert fault_of(c)[0] is CentralFault.UNAVAILABLE
            out = subprocess.run(
                [sys.executable, "-m", "sim", "control", "--data", str(data)]
                + ["--mode", "normal", "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert '"mode": "normal"' in out
            deadline = time.monotonic() + 30
            while True:  # the simulator's own watcher opens the listener (polls every 50 ms)
                try:
                    answer = c.confirm(by_numbers("P001"))
                    break
                except CentralError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert answer.result.validity == "2"  # changed after that recovery
        finally:
            c.close()
    finally:
        child.terminate()
        child.wait(15)
        if child.stdout is not None:
            child.stdout.close()
    with pytest.raises(ControlError):
        control_url(data)  # removed when the simulator stops
