"""The desk at a busy morning: the reception list, search results and the doctor's list with
50 / 250 / 500 answers of today in a real SQLite store (encrypted, keyed hashes), through the
staff app (Flask's test client, a signed-in user), and the disk each answer takes.

Answers are the simulated central's for its whole population (cards, 限度額, 高齢受給者,
公費 and 医療扶助, expired periods), plus not-found answers and visits kept offline.
Printed per size (CPU time of the serving thread, medians: the machine may be shared): the
page's time, and its parts: reading the rows from the store
(decrypting, and parsing where a list still parses), building the row dicts, and the rest
(the template and the request). Then bytes per confirmation with the file as written and
after VACUUM (per table with `dbstat` when SQLite has it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from flask import render_template

import web.reception
from device.accounts import Accounts
from device.config import load_config
from device.flow import VisitFlow
from sim.central.service import _qualification
from sim.population import population
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, VisitRecord
from sync.xmlmsg import ConsentState, QualificationResult, SearchInfo, build_result
from tests.fake_services import services_with  # the pages' services, central never asked
from web.app import create_staff_app
from web.appointments import precheck_notes
from web.present import confirmation_row, start_of_today

NOW = datetime(2031, 5, 7, 3, 0, tzinfo=UTC)  # 12:00 JST, a fixed busy day
TODAY = NOW.astimezone(JST).strftime("%Y%m%d")
MIC = "1312345670"
PASSWORD = "bench-pass-12345"
RUNS = 15


class NoVisit:
    current = None


def answer(n: int) -> tuple[bytes, QualificationResult, str]:
    """The n-th answer of the morning: (raw XML, parsed, kind)."""
    people = population()
    p = people[n % len(people)]
    when = (NOW - timedelta(minutes=n)).astimezone(JST).strftime("%Y%m%d%H%M%S")
    consents = (ConsentState("drug", "1", when, when), ConsentState("checkup", "0", when))
    kind = "card" if n % 3 else "numbers"
    found = n % 17 != 5
    result = QualificationResult(
        process_time=when,
        confirmation_date=TODAY,
        medical_institution_code=MIC,
        file_id=f"f{n:06d}",
        reference_classification="1" if kind == "card" else "2",
        segment_of_result="1",
        processing_status="1" if found else "2",
        processing_code="" if found else "EQ0001",
        processing_message="" if found else "該当する資格情報がありません。",
        validity="1" if found else "",
        character_code="1",
        search=None
        if kind == "card"
        else SearchInfo(p.insurer_number, p.number, p.birthdate, p.symbol, p.branch),
        results=(_qualification(p, consents, n % 2 == 0, on=TODAY, institution=MIC),)
        if found
        else (),
    )
    return build_result(result), result, kind


def fill(store: Store, start: int, end: int) -> None:
    for n in range(start, end):
        if n % 23 == 7 and n > 0:  # a card visit kept offline, beside an earlier answer
            visit = VisitRecord(f"v{n:06d}", NOW, NOW, "r", "pin", "done", file_id=f"o{n:06d}")
            store.save_offline_visit(
                file_id=f"o{n:06d}",
                visit=visit,
                card=f"card{n}",
                earlier_id=1,
                actor="bench",
                recheck=None,
            )
            continue
        raw, result, kind = answer(n)
        store.save_confirmation(
            file_id=result.file_id,
            raw_result=raw,
            result=result,
            kind=kind,
            method="pin" if kind == "card" else "numbers",
            actor="bench",
            card=f"card{n}" if kind == "card" else "",
            export=f"{result.file_id}.xml",  # the receipt computer's copy is queued
        )


class Timed:
    """Time spent inside a module-level function of web.reception while a page is served."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.spent = 0.0
        inner = getattr(web.reception, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spent += time.thread_time() - started

        setattr(web.reception, name, timed)


def median_ms(run: Any, runs: int = RUNS) -> float:
    """The median CPU time of this thread (ms): on a shared machine, wall time would count
    the neighbours' work too; the page does no waiting of its own besides the audit fsync."""
    times = []
    for _ in range(runs):
        started = time.thread_time()
        run()
        times.append(time.thread_time() - started)
    return statistics.median(times) * 1000


def signed_in(store: Store, folder: str) -> Any:
    config = load_config(environ={}, overrides={"data_dir": folder, "kiosk_port": 18081})
    accounts = Accounts(store)
    accounts.create_user("bench", "計測", ("reception", "clinical"), PASSWORD, actor="b")
    services = services_with(
        config=config, store=store, flow=cast(VisitFlow, NoVisit()), accounts=accounts
    )
    client = create_staff_app(config, services).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"csrf_token": token, "username": "bench", "password": PASSWORD})
    return client


def pages(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "onshi.db", FieldCipher(FieldKeys.generate()), lambda: NOW)
        try:
            client = signed_in(store, folder)
            done = 0
            today: date = NOW.astimezone(JST).date()
            for size in sizes:
                fill(store, done, size)
                done = size
                measure(client, store, size, today)
        finally:
            store.close()


def measure(client: Any, store: Store, size: int, today: date) -> None:
    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    since = start_of_today(NOW)
    found = store.recent_confirmations(since, 500)
    assert len(found) == size, len(found)
    render, precheck = Timed("render_template"), Timed("precheck_notes")
    page = median_ms(lambda: get("/"))
    render_ms = render.spent / RUNS * 1000  # means: the parts of the page
    precheck_ms = precheck.spent / RUNS * 1000
    setattr(web.reception, "render_template", render_template)  # noqa: B010 (as it was)
    setattr(web.reception, "precheck_notes", precheck_notes)  # noqa: B010
    read = median_ms(lambda: store.recent_confirmations(since, 500))
    rows = median_ms(lambda: [confirmation_row(c, "ja", "", None, today) for c in found])
    named = next(c for c in found if c.result.results)
    kana = named.result.results[0].name_kana.split()[0]
    search = median_ms(lambda: get(f"/search?q={kana}"))
    clinical = median_ms(lambda: get("/clinical/"))
    rest = page - read - rows - precheck_ms - render_ms
    print(
        f"  {size:4d} rows: desk page {page:6.1f} ms = read {read:5.1f}"
        f" + rows {rows:5.1f} + appointment look-ups {precheck_ms:5.1f}"
        f" + template {render_ms:5.1f} + rest {rest:5.1f}"
    )
    print(f"             search ({kana}) {search:5.1f} ms; clinical list {clinical:5.1f} ms")


def disk(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "onshi.db"
        store = Store(path, FieldCipher(FieldKeys.generate()), lambda: NOW)
        try:
            fill(store, 0, count)
            db = store._database.db  # noqa: SLF001 (a bench reads the file's own accounts)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            written = path.stat().st_size
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            vacuumed = path.stat().st_size
            tables: list[tuple[str, int]] = []
            try:
                tables = [
                    (str(name), int(size))
                    for name, size in db.execute(
                        "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
                    ).fetchall()
                ]
            except Exception:  # noqa: BLE001 (SQLite built without dbstat)
                tables = []
        finally:
            store.close()
    print(
        f"  disk, {count} confirmations: {written / count:6.0f} B each as written,"
        f" {vacuumed / count:6.0f} B after VACUUM"
    )
    for name, size in tables[:8]:
        print(f"    {name:40s} {size / count:6.0f} B per confirmation")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.desk")
    parser.add_argument("--sizes", default="50,250,500")
    parser.add_argument("--disk", type=int, default=2000)
    args = parser.parse_args(argv)
    print(f"desk, search and clinical list (median of {RUNS}, Flask test client):")
    pages([int(s) for s in args.sizes.split(",")])
    disk(args.disk)
    print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
