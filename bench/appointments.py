"""The appointments list at its size: a CSV of N appointments (Shift_JIS, as receipt computers
write it) parsed and checked, imported into a real SQLite store (encrypted, keyed hashes), the
same list imported again (every row an update), the 「明日の予約」 page rendered with all of them
pre-checked (the staff app through Flask's test client: decrypting, counting, the template), and
the desk row's look-up of an arriving patient's appointment.

Printed: the time of each step, per row where it matters, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from device.accounts import Accounts
from device.appointments import Appointments
from device.config import load_config
from device.events import EventBus
from device.flow import VisitFlow
from sim.population import population
from sync.appointments import parse_appointments
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.precheck import PrecheckClass
from sync.store import Store
from tests.fake_services import services_with  # the pages' services, central never asked
from web.app import create_staff_app

NOW = datetime(2031, 5, 6, 1, 0, tzinfo=UTC)  # a fixed evening before: 10:00 JST
DAY, DAY_DASHED = "20310507", "2031-05-07"
HEADER = "患者番号,カナ氏名,生年月日,保険者番号,記号,番号,枝番,予約日時"
CLASSES = list(PrecheckClass)


def appointments_csv(count: int) -> bytes:
    people = [p for p in population() if p.insurer_number]
    lines = [HEADER]
    for n in range(count):
        p = people[n % len(people)]
        minute = 8 * 60 + (n * 5) % (10 * 60)
        kana = " ".join(p.name_kana.split())
        lines.append(
            f"K{n:05d},{kana},{p.birthdate},{p.insurer_number},{p.symbol},{p.number},"
            f"{p.branch},{DAY_DASHED} {minute // 60:02d}:{minute % 60:02d}"
        )
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.appointments")
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args(argv)
    data = appointments_csv(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "onshi.db", FieldCipher(FieldKeys.generate()), lambda: NOW)
        try:
            started = time.perf_counter()
            rows = parse_appointments(data, today=NOW.date())
            parsed = time.perf_counter() - started

            started = time.perf_counter()
            store.import_appointments(rows, actor="bench", source="upload")
            imported = time.perf_counter() - started
            started = time.perf_counter()
            store.import_appointments(rows, actor="bench", source="upload")
            again = time.perf_counter() - started

            for n, row in enumerate(store.appointments_on(DAY)):
                store.record_precheck(
                    row.id, klass=CLASSES[n % len(CLASSES)], raw=b"", checked_at=NOW, actor="b"
                )

            config = load_config(environ={}, overrides={"data_dir": folder, "kiosk_port": 18081})
            accounts = Accounts(store)
            accounts.create_user("bench", "計測", ("reception",), "bench-pass-12345", actor="b")
            services = services_with(
                config=config,
                store=store,
                flow=cast(VisitFlow, object()),
                accounts=accounts,
                appointments=Appointments(store, EventBus(), lambda: NOW),
            )
            client = create_staff_app(config, services).test_client()
            page = client.get("/login").get_data(as_text=True)
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post(
                "/login",
                data={"csrf_token": token, "username": "bench", "password": "bench-pass-12345"},
            )
            times = []
            for _ in range(5):
                started = time.perf_counter()
                response = client.get(f"/appointments?day={DAY_DASHED}")
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
            first = rows[0]
            started = time.perf_counter()
            for _ in range(200):
                store.appointment_for_arrival(
                    first.insurer_number, first.symbol, first.number, first.birthdate, DAY
                )
            lookup = (time.perf_counter() - started) / 200
        finally:
            store.close()
    n = len(rows)
    print(f"appointments: {n} rows, CSV {len(data) / 1024:.0f} KiB (Shift_JIS)")
    print(f"  parse + check   {parsed * 1000:8.1f} ms  ({parsed / n * 1e6:.0f} µs/row)")
    print(f"  import (new)    {imported * 1000:8.1f} ms  ({imported / n * 1e6:.0f} µs/row)")
    print(f"  import (again)  {again * 1000:8.1f} ms  ({again / n * 1e6:.0f} µs/row)")
    print(
        f"  「明日の予約」 page, {n} rows: median {statistics.median(times) * 1000:.0f} ms"
        f" (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, 5 runs)"
    )
    print(f"  desk row look-up on arrival: {lookup * 1e6:.0f} µs")
    print(f"  peak memory (process): {peak_mb():.0f} MB")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
