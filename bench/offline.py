"""A card visit while the central cannot be reached, against the same visit online.

pcscd + vpcd, an emulated JPKI card in its own process, the simulated central in its own
process over mutual TLS (with a round-trip latency added per request, as bench/visits.py), and
the appliance's visit flow built from its own parts (device/parts.py: the client, the circuit
breaker, the JPKI root check of `jpki_root_file`) with the offline path switched on, as
`onshi run` builds it. Per series:

- online: PIN visits of one card while the central answers (the first, discarded, also gives
  the card its 前回確認);
- the central's process is stopped; the visits that find it gone are counted apart (they wait
  for the refused connection, retries included) until the circuit is open;
- circuit open: the same PIN visits, proven on the box (certificate against the JPKI root, a
  challenge made here signed by the card and checked) and kept offline beside the 前回確認,
  its re-check queued in the same transaction.

Printed: medians of the online visit, its central round trips, the offline visit and the
appliance's own time in it, and the issue's target "offline ≤ online − central round trips +
50 ms" as numbers, met or not (never asserted: timing on a shared machine is not a test).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bench.outage import settings
from bench.visits import ms_summary
from bench.world import fresh_data, stop_central
from device.checks import ManualChecks
from device.confirm import Confirmations
from device.demo import ensure_pcscd, wait_for_central
from device.events import EventBus, PinRequested
from device.flow import VisitFlow, VisitOutcome, VisitState
from device.inputs import VisitInputs
from device.offline import OfflineVisits
from device.outbox import Outbox
from device.parts import card_trust, central_breaker, connect_central
from device.reachability import CentralReachability
from reader.pcsc import PcscReaders, ReaderMonitor
from sim.population import person
from sync.clock import utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

READER = "Virtual PCD 00 00"
CENTRAL_PORT = 18446
PERSON = "P001"
TARGET_SLACK_S = 0.050  # the issue: offline ≤ online − central round trips + 50 ms
OPEN_S = 3600  # the circuit stays open for the whole offline series (no probe in between)


class Visits:
    """The appliance's card path with the offline path on, and a way to run one PIN visit."""

    def __init__(self, data: Path, port: int, name: str) -> None:
        self.data = data
        config = settings(data, f"https://127.0.0.1:{port}")
        self.config = replace(config, central_breaker_open_s=OPEN_S)
        keys = FieldKeys.create(data / f"{name}.key")  # a fresh store for each series
        self.store = Store(data / f"{name}.db", FieldCipher(keys))
        self.client = connect_central(self.config)
        bus = EventBus()
        self.events = bus.subscribe()
        self.reach = CentralReachability(bus)
        breaker = central_breaker(self.config, self.client, self.reach.on_change)
        confirmations = Confirmations(transport=breaker, store=self.store, bus=bus)
        checks = ManualChecks(
            medical_institution_code=self.config.medical_institution_code,
            confirmations=confirmations,
            store=self.store,
            outbox=Outbox(store=self.store, confirmations=confirmations),
        )
        self.inputs = VisitInputs()
        self.readers = PcscReaders()
        self.flow = VisitFlow(
            medical_institution_code=self.config.medical_institution_code,
            connect=self.readers.connect,
            confirmations=confirmations,
            store=self.store,
            bus=bus,
            inputs=self.inputs,
            offline=OfflineVisits(
                card_trust=card_trust(self.config, utc_now),
                confirmations=confirmations,
                store=self.store,
                checks=checks,
                central_down=lambda: self.reach.current().down,
            ),
        )
        self.monitor = ReaderMonitor(self.flow.handle, reader_filter=READER)
        self.monitor.start()

    def visit(self) -> VisitOutcome:
        """One PIN visit of PERSON's card; the PIN is handed in as soon as it is asked for."""
        card = subprocess.Popen(
            [sys.executable, "-m", "sim", "card", "--person", PERSON, "--reader", "0"]
            + ["--data", str(self.data)],
            stdout=subprocess.DEVNULL,
        )
        try:
            while True:
                event = self.events.get(30)
                if event is None:
                    raise SystemExit("no PIN request within 30 s: is pcscd seeing the card?")
                if isinstance(event, PinRequested):
                    self.inputs.submit(event.visit_id, person(PERSON).pin)
                    break
            if not self.flow.wait_idle(30):
                raise SystemExit("the visit did not end within 30 s")
            self.events.drain()
            outcome = self.flow.last_outcome
            assert outcome is not None
            return outcome
        finally:
            card.terminate()
            card.wait(5)
            self.readers.wait_until_empty(READER)

    def close(self) -> None:
        self.monitor.stop()
        self.readers.close()
        self.client.close()
        self.events.close()
        self.store.close()


def visit_s(outcome: VisitOutcome) -> float:
    """The visit's time without the patient's (the PIN wait)."""
    return outcome.timings.total_s - outcome.timings.pin_wait_s


def card_io(outcomes: list[VisitOutcome]) -> list[float]:
    return [o.timings.card_io_s for o in outcomes]


def overhead(outcomes: list[VisitOutcome]) -> list[float]:
    return [o.timings.overhead_s for o in outcomes]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.offline")
    parser.add_argument("--visits", type=int, default=20)
    parser.add_argument(
        "--central-latency-ms",
        type=int,
        nargs="+",
        default=[0, 100],
        help="latency the simulated central adds to each request (0 = loopback; 100 = about a "
        "round trip over a clinic's closed network)",
    )
    args = parser.parse_args(argv)
    data = fresh_data("onshi-bench-offline-")
    pcscd = ensure_pcscd()
    logging.disable(logging.WARNING)  # each visit that finds the central gone logs it
    try:
        for latency_ms in args.central_latency_ms:
            run_series(data, args.visits, latency_ms)
    finally:
        logging.disable(logging.NOTSET)
        if pcscd is not None:
            pcscd.terminate()
            pcscd.wait(10)


def run_series(data: Path, visits: int, latency_ms: int) -> None:
    central = subprocess.Popen(
        [sys.executable, "-m", "sim", "central", "--data", str(data)]
        + ["--port", str(CENTRAL_PORT), "--latency-ms", str(latency_ms)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        desk = Visits(data, CENTRAL_PORT, f"offline-{latency_ms}ms")
        try:
            wait_for_central(desk.client)
            desk.visit()  # warms the connection up and gives the card its 前回確認
            online = [desk.visit() for _ in range(visits)]
            stop_central(central)
            learning: list[VisitOutcome] = []
            while not desk.reach.current().down and len(learning) < 10:
                learning.append(desk.visit())
            offline = [desk.visit() for _ in range(visits)]
            queued = desk.store.outbox_counts().queued
        finally:
            desk.close()
    finally:
        if central.poll() is None:
            stop_central(central)
    report(latency_ms, online, learning, offline, queued)


def report(
    latency_ms: int,
    online: list[VisitOutcome],
    learning: list[VisitOutcome],
    offline: list[VisitOutcome],
    queued: int,
) -> None:
    online_ok = [o for o in online if o.state is VisitState.DONE]
    offline_ok = [o for o in offline if o.state is VisitState.OFFLINE_DONE]
    print(
        f"card visits online and with the circuit open (pcscd + vpcd + simulated central, "
        f"mTLS, +{latency_ms} ms per request): {len(online_ok)}/{len(online)} online, "
        f"{len(offline_ok)}/{len(offline)} offline ok"
    )
    if not online_ok or not offline_ok:
        print("  not enough visits ended as expected to compare")
        print()
        return
    on_total = [visit_s(o) for o in online_ok]
    central = [o.timings.central_s for o in online_ok]
    off_total = [visit_s(o) for o in offline_ok]
    print(f"  online visit (PIN wait excluded)   {ms_summary(on_total)}")
    print(f"  central round trips (nonce, answer) {ms_summary(central)}")
    print(f"  online card I/O                    {ms_summary(card_io(online_ok))}")
    print(f"  online appliance overhead          {ms_summary(overhead(online_ok))}")
    print(f"  offline visit, circuit open        {ms_summary(off_total)}")
    print(f"  offline card I/O                   {ms_summary(card_io(offline_ok))}")
    print(
        f"  offline appliance overhead         {ms_summary(overhead(offline_ok))}"
        "   (root check, on-box challenge check, row + re-check in one transaction)"
    )
    if learning:
        print(
            f"  visits that found the central gone: {len(learning)}, "
            f"{ms_summary([visit_s(o) for o in learning])}"
        )
    median_on = statistics.median(on_total)
    median_rtt = statistics.median(central)
    median_off = statistics.median(off_total)
    bound = median_on - median_rtt + TARGET_SLACK_S
    verdict = "met" if median_off <= bound else "NOT met"
    print(
        f"  target offline <= online - central + 50 ms: {median_off * 1000:.1f} ms <= "
        f"{median_on * 1000:.1f} - {median_rtt * 1000:.1f} + 50 = {bound * 1000:.1f} ms: "
        f"{verdict} (margin {(bound - median_off) * 1000:.1f} ms)"
    )
    print(f"  re-checks queued by the offline visits: {queued}")
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
