"""The re-check queue: how fast a backlog of queued numbers checks drains once the central is
back. The simulated central runs in its own process over mutual TLS; each re-check is the
whole path: decrypt the queued request, ask, parse, store the encrypted answer with its audit
entry, publish, mark the item (one more transaction with its audit entry).

Printed: re-checks per second with the rate limit lifted (what the appliance could do) and
at the default `outbox_rate_per_s` (what it does, so the central is not flooded).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from datetime import UTC, datetime

from bench.world import device_client, fresh_data, start_central, stop_central
from device.confirm import Confirmations
from device.demo import wait_for_central
from device.events import EventBus
from device.outbox import Outbox
from device.settings import SETTINGS
from sim.population import person
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import QualificationRequest, SearchInfo

CENTRAL_PORT = 18445
MIC = "1312345670"
PEOPLE = ("P001", "P008", "P025", "P004", "P005")
UNLIMITED_PER_S = 1_000_000.0


def queue(store: Store, outbox: Outbox, count: int) -> None:
    today = datetime.now(JST).strftime("%Y%m%d")
    for n in range(count):
        p = person(PEOPLE[n % len(PEOPLE)])
        search = SearchInfo(p.insurer_number.zfill(8), p.number, p.birthdate, p.symbol)
        request = QualificationRequest(MIC, today, secrets.token_hex(10), "2", search=search)
        outbox.enqueue(request, "numbers", "numbers", "bench", reason="central_unavailable")


def timed_drain(store: Store, outbox: Outbox, count: int) -> float:
    t0 = time.perf_counter()
    answered = 0
    while answered < count:
        report = outbox.drain()
        if not report.answered:
            raise SystemExit(f"the drain stopped after {answered} of {count}: {report}")
        answered += report.answered
    return time.perf_counter() - t0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.drain")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rated-items", type=int, default=20)
    args = parser.parse_args(argv)
    data = fresh_data("onshi-bench-drain-")
    central_process = start_central(data, CENTRAL_PORT)
    central = device_client(data, CENTRAL_PORT)
    store = Store(data / "bench.db", FieldCipher(FieldKeys.create(data / "bench.key")))
    confirmations = Confirmations(transport=central, store=store, bus=EventBus())
    default_rate = float(next(s.default for s in SETTINGS if s.name == "outbox_rate_per_s"))
    try:
        wait_for_central(central)
        print("re-check queue drain (simulated central over mTLS):")
        for label, rate, count in (
            ("rate limit lifted", UNLIMITED_PER_S, args.items),
            (f"outbox_rate_per_s = {default_rate:g}", default_rate, args.rated_items),
        ):
            outbox = Outbox(
                store=store,
                confirmations=confirmations,
                rate_per_s=rate,
                round_limit=count,
                clock=lambda: datetime.now(UTC),
            )
            queue(store, outbox, count)
            took = timed_drain(store, outbox, count)
            print(
                f"  {label:26} {count:5d} re-checks in {took:6.2f} s"
                f"   {count / took:8.1f} re-checks/s   {took / count * 1000:7.1f} ms each"
            )
        counts = store.outbox_counts()
        print(f"  queue after: {counts.queued} queued, {counts.answered} answered")
        print()
    finally:
        central.close()
        store.close()
        stop_central(central_process)


if __name__ == "__main__":
    main(sys.argv[1:])
