"""The bulk pre-check: 2,000 appointments from CSV to classified results, and the 「明日の予約」
page with those 2,000 rows.

The simulated central runs in its own process over mutual TLS with no injected delay
(`--bulk-delay 0`); the appliance side runs here exactly as the appliance builds it: the CSV
(Shift_JIS, as a receipt computer exports it) checked and imported by device/appointments.py,
then one run (device/bulkrun.py) through Confirmations and the circuit breaker: 照会番号
registration, two uploads of 1,000, the polls (the first one 1 s after each upload, by
design), each unit classified and stored encrypted with its audit entry. Printed: the time of
each part and in all, and the peak memory of this process (the central's is its own).
The page is served by the staff app (Flask test client, signed in); its median time of a few
loads is printed. Nothing asserts timing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.world import device_client, fresh_data
from device.accounts import Accounts
from device.appointments import Appointments
from device.bulkrun import BulkRuns
from device.confirm import Confirmations
from device.demo import wait_for_central
from device.events import EventBus
from sim.population import population
from sync.breaker import CircuitBreaker
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

CENTRAL_PORT = 18447
MIC = "1312345670"


def appointments_csv(count: int, day: datetime) -> bytes:
    """`count` appointments of `day` from the synthetic population, as a receipt computer
    exports them (Shift_JIS, Japanese headers)."""
    people = [p for p in population() if p.id[1:].isdigit()]
    lines = ["患者番号,カナ氏名,生年月日,保険者番号,記号,番号,枝番,予約日時"]
    for i in range(count):
        p = people[i % len(people)]
        at = day + timedelta(minutes=i % 600)
        lines.append(
            f"K{i:06d},{p.name_kana},{p.birthdate},{p.insurer_number},{p.symbol},{p.number},"
            f"{p.branch},{at:%Y-%m-%d %H:%M}"
        )
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def page_times(store: Store, config_dir: Path, appointments: Appointments, loads: int) -> float:
    """Median seconds to serve 「明日の予約」 (signed in as reception)."""
    from tests.fake_services import services_with
    from tests.unit.test_web import STAFF_HASH, STAFF_USER, FakeFlow, make_config, sign_in
    from web.app import create_staff_app

    store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    config = make_config(config_dir)
    services = services_with(
        config=config,
        store=store,
        flow=FakeFlow(),  # type: ignore[arg-type]
        accounts=Accounts(store),
    )
    services = replace(services, appointments=appointments)
    client = sign_in(create_staff_app(config, services).test_client())
    took = []
    for _ in range(loads):
        t0 = time.perf_counter()
        response = client.get("/appointments")
        took.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.status_code
    return statistics.median(took)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.bulk")
    parser.add_argument("--appointments", type=int, default=2000)
    parser.add_argument("--page-loads", type=int, default=5)
    args = parser.parse_args(argv)
    data = fresh_data("onshi-bench-bulk-")
    central_process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "central",
            "--data",
            str(data),
            "--port",
            str(CENTRAL_PORT),
            "--bulk-delay",
            "0",
        ],
        stdout=subprocess.DEVNULL,
    )
    central = device_client(data, CENTRAL_PORT)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    store = Store(data / "bench.db", FieldCipher(FieldKeys.create(data / "bench.key")), clock)
    bus = EventBus()
    try:
        wait_for_central(central)
        appointments = Appointments(store, bus, clock)
        tomorrow = datetime.combine(appointments.tomorrow(), datetime.min.time(), tzinfo=JST)
        csv = appointments_csv(args.appointments, tomorrow + timedelta(hours=8))
        runs = BulkRuns(
            store=store,
            confirmations=Confirmations(transport=CircuitBreaker(central), store=store, bus=bus),
            bus=bus,
            medical_institution_code=MIC,
            clock=clock,
        )
        base_rss = peak_rss_mb()
        t0 = time.perf_counter()
        imported = appointments.import_csv(csv, actor="bench", source="upload")
        t_import = time.perf_counter()
        run = runs.start(runs.tomorrow(), actor="bench")
        ended = runs.drive(run.id, timeout_s=600)
        t_done = time.perf_counter()
        classes = Counter(a.precheck_class for a in store.appointments_on(run.day))
        print(f"bulk pre-check, {imported} appointments from CSV (simulated central, no delay):")
        print(f"  CSV checked and imported  {t_import - t0:7.2f} s ({len(csv) / 1024:.0f} KiB)")
        print(
            f"  run (register, upload, poll, classify, store)  {t_done - t_import:7.2f} s"
            f"  [{len(store.bulk_batches(run.id))} batches; each first poll waits 1 s]"
        )
        print(f"  CSV to classified results {t_done - t0:7.2f} s in all")
        print(
            f"  {ended.total} checked: {ended.normal} normal, {ended.attention} to check  "
            + "  ".join(f"{k}={n}" for k, n in sorted(classes.items()))
        )
        print(
            f"  peak RSS of the appliance side {peak_rss_mb():6.1f} MiB "
            f"(+{peak_rss_mb() - base_rss:.1f} MiB during the run)"
        )
        median = page_times(store, data / "page", appointments, args.page_loads)
        print(
            f"  「明日の予約」 with {imported} rows: {median * 1000:7.1f} ms (median of "
            f"{args.page_loads} loads)"
        )
    finally:
        central.close()
        store.close()
        central_process.terminate()
        central_process.wait(10)


if __name__ == "__main__":
    main(sys.argv[1:])
