"""The central goes down and comes back: how soon the appliance knows, and what a check costs
while it knows.

The simulated central runs in its own process over mutual TLS; the appliance's own builders
(device/parts.py) make the client and the circuit breaker, and the desk's manual check
(device/checks.py → device/confirm.py → SQLite) is what is timed. Printed:
- online: a manual check while the central answers (the baseline);
- detection, refused: the central's process is gone (connection refused) → the first check
  learns it (a fresh breaker each time, so each sample is a first failure);
- detection, silent: a central that takes the connection and never answers (a stuck VPN) →
  the connect deadline (central_connect_timeout_s);
- circuit open: a check while the circuit is open (nothing is sent);
- recovery: the central's process is started again → the probe closes the circuit.
"""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.visits import ms_summary
from bench.world import fresh_data, start_central, stop_central
from device.checks import CheckFailed, ManualChecks, NumbersInput
from device.config import Config, load_config
from device.confirm import Confirmations
from device.demo import wait_for_central
from device.events import EventBus
from device.parts import central_breaker, connect_central
from device.reachability import CentralProbe
from sim.population import person
from sync.breaker import BreakerState, CircuitBreaker
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import CentralAnswer
from sync.xmlmsg import QualificationRequest

CENTRAL_PORT = 18445
MIC = "1312345670"
PERSON = "P025"  # a 資格確認書 holder: checked by the numbers typed at the desk


class Counting:
    """The client below the breaker, counting the calls that reach the network."""

    def __init__(self, inner: CentralClient) -> None:
        self.inner = inner
        self.calls = 0

    def nonce(self) -> bytes:
        self.calls += 1
        return self.inner.nonce()

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        self.calls += 1
        return self.inner.confirm(request)


def typed() -> NumbersInput:
    p = person(PERSON)
    birthdate = f"{p.birthdate[:4]}-{p.birthdate[4:6]}-{p.birthdate[6:]}"
    return NumbersInput(p.insurer_number, p.symbol, p.number, p.branch, birthdate)


def checks_through(breaker: CircuitBreaker, store: Store) -> ManualChecks:
    return ManualChecks(
        medical_institution_code=MIC,
        confirmations=Confirmations(transport=breaker, store=store, bus=EventBus()),
        store=store,
    )


def timed_check(checks: ManualChecks) -> tuple[float, bool]:
    """Seconds, and whether the central answered."""
    started = time.perf_counter()
    try:
        checks.check(typed(), actor="bench")
        answered = True
    except CheckFailed:
        answered = False
    return time.perf_counter() - started, answered


def settings(data: Path, url: str) -> Config:
    pki = data / "pki"
    return load_config(
        environ={},
        overrides={
            "data_dir": data,
            "central_url": url,
            "central_ca": pki / "central-ca.pem",
            "device_cert": pki / "device.pem",
            "device_key": pki / "device.key",
            "jpki_root_file": pki / "jpki-root.pem",
            "central_breaker_open_s": 1,
        },
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.outage")
    parser.add_argument("--checks", type=int, default=20)
    args = parser.parse_args(argv)
    data = fresh_data("onshi-bench-outage-")
    config = settings(data, f"https://127.0.0.1:{CENTRAL_PORT}")
    keys = FieldKeys.create(data / "bench.key")
    store = Store(data / "bench.db", FieldCipher(keys))
    client = connect_central(config)
    central = start_central(data, CENTRAL_PORT, quiet=True)
    logging.disable(logging.WARNING)  # every failed check logs one: here they are the point
    try:
        wait_for_central(client)
        run(config, client, store, data, args.checks, central)
    finally:
        logging.disable(logging.NOTSET)
        if central.poll() is None:
            stop_central(central)
        client.close()
        store.close()


def run(
    config: Config,
    client: CentralClient,
    store: Store,
    data: Path,
    samples: int,
    central: subprocess.Popen[bytes],
) -> None:
    print(
        f"outage (connect deadline {config.central_connect_timeout_s:g} s, "
        f"{config.central_breaker_failures} failures open the circuit, "
        f"retries {config.central_retries}):"
    )
    wire = Counting(client)
    breaker = central_breaker(config, wire)
    checks = checks_through(breaker, store)
    online = [timed_check(checks)[0] for _ in range(samples)]
    print(f"  check, central answering      {ms_summary(online)}")

    stop_central(central)
    detection = []
    for _ in range(max(3, samples // 4)):
        fresh = checks_through(central_breaker(config, wire), store)
        seconds, answered = timed_check(fresh)
        assert not answered
        detection.append(seconds)
    print(f"  detection, central stopped    {ms_summary(detection)}")

    silent_detection(config, data)

    while breaker.state is BreakerState.CLOSED:
        timed_check(checks)
    reached = wire.calls
    open_calls = [timed_check(checks)[0] for _ in range(samples * 10)]
    sent = wire.calls - reached
    print(f"  check, circuit open           {ms_summary(open_calls)}   (calls sent: {sent})")

    central = start_central(data, CENTRAL_PORT, quiet=True)
    try:
        probe = CentralProbe(breaker, client.health, poll_s=0.05)
        started = time.perf_counter()
        probe.start()
        give_up = time.monotonic() + 60
        while breaker.state is not BreakerState.CLOSED and time.monotonic() < give_up:
            time.sleep(0.01)
        probe.stop()
        recovery = time.perf_counter() - started
        if breaker.state is not BreakerState.CLOSED:
            print("  recovery: the circuit did not close within 60 s")
            return
        print(
            f"  recovery, central restarted → circuit closed  {recovery * 1000:8.0f} ms "
            f"(process start included; probes wait central_breaker_open_s = "
            f"{config.central_breaker_open_s:g} s after each failure)"
        )
    finally:
        stop_central(central)


def silent_detection(config: Config, data: Path) -> None:
    """A central that accepts the connection and never completes the TLS handshake."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        port = silent.getsockname()[1]
        stuck = settings(data, f"https://127.0.0.1:{port}")
        client = connect_central(stuck)
        try:
            store = Store(data / "silent.db", FieldCipher(FieldKeys.create(data / "silent.key")))
            try:
                checks = checks_through(central_breaker(stuck, client), store)
                seconds, answered = timed_check(checks)
                assert not answered
            finally:
                store.close()
        finally:
            client.close()
    finally:
        silent.close()
    print(f"  detection, central silent     {seconds * 1000:8.0f} ms (one check)")


if __name__ == "__main__":
    main(sys.argv[1:])
