"""The desk at a busy morning: the reception list, search results and the doctor's list with
50 / 250 / 500 answers of today in a real SQLite store (encrypted, keyed hashes), through the
staff app (Flask's test client, a signed-in user). The disk each answer takes is
bench/disk.py's.

Answers are the simulated central's for its whole population (cards, 限度額, 高齢受給者,
公費 and 医療扶助, expired periods), plus not-found answers and visits kept offline.
Printed per size (CPU time of the serving thread, medians: the machine may be shared): the
page's time, and its parts: reading the rows from the store
(decrypting, and parsing where a list still parses), building the row dicts, and the rest
(the template and the request).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import web.deskrows
import web.reception
from device.accounts import Accounts
from device.config import load_config
from device.flow import VisitFlow
from device.memory import GEN0_THRESHOLD
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import AppointmentInput, Store, VisitRecord
from sync.xmlmsg import ConsentState, QualificationResult
from tests.answers import answer as shared_answer
from tests.fake_services import services_with  # the pages' services, central never asked
from web.app import create_staff_app
from web.deskrows import desk_rows
from web.present import start_of_today
from web.rowcache import RowFragments

NOW = datetime(2031, 5, 7, 3, 0, tzinfo=UTC)  # 12:00 JST, a fixed busy day
TODAY = NOW.astimezone(JST).strftime("%Y%m%d")
PASSWORD = "bench-pass-12345"
RUNS = 15


class NoVisit:
    current = None


def answer(n: int) -> tuple[bytes, QualificationResult, str]:
    """The n-th answer of the morning: (raw XML, parsed, kind)."""
    when = (NOW - timedelta(minutes=n)).astimezone(JST).strftime("%Y%m%d%H%M%S")
    consents = (ConsentState("drug", "1", when, when), ConsentState("checkup", "0", when))
    return shared_answer(n, when, found=n % 17 != 5, consents=consents)


def fill(store: Store, start: int, end: int) -> None:
    """Answers `start`..`end` of the morning: one in 23 a card visit kept offline beside an
    earlier answer, one in 11 a 目視 visit; a third of the patients had an appointment today,
    pre-checked the night before."""
    booked: list[AppointmentInput] = []
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
        visual = kind == "card" and n % 11 == 3
        store.save_confirmation(
            file_id=result.file_id,
            raw_result=raw,
            result=result,
            kind=kind,
            method="visual" if visual else "pin" if kind == "card" else "numbers",
            actor="bench",
            visit=VisitRecord(f"w{n:06d}", NOW, NOW, "r", "visual", "done", staff="bench")
            if visual
            else None,
            card=f"card{n}" if kind == "card" else "",
            export=f"{result.file_id}.xml",  # the receipt computer's copy is queued
        )
        first = result.results[0] if result.results else None
        if first is not None and n % 3 == 1:
            booked.append(
                AppointmentInput(
                    f"P{n:06d}",
                    first.name_kana,
                    first.birthdate,
                    first.insurer_number,
                    first.symbol,
                    first.number,
                    first.branch,
                    NOW - timedelta(minutes=n + 30),
                )
            )
    if booked:
        store.import_appointments(booked, actor="bench", source="bench")
        for appointment in store.appointments_on(TODAY):
            if appointment.precheck_class:
                continue
            store.record_precheck(
                appointment.id, klass="valid", raw=b"", checked_at=NOW, actor="bench"
            )


class Timed:
    """Time spent inside `owner.name` (a module-level function of web/, or a
    store's method) while a page is served; `undo` puts it back."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name = owner, name
        self.spent = 0.0
        self.inner = inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spent += time.thread_time() - started

        setattr(owner, name, timed)

    def undo(self) -> None:
        if isinstance(self.owner, Store):
            delattr(self.owner, self.name)  # the instance's own stand-in
        else:
            setattr(self.owner, self.name, self.inner)


class Macro(Timed):
    """Time spent in the row macro's calls (row_macro hands out the macro)."""

    def __init__(self) -> None:
        super().__init__(web.deskrows, "row_macro")
        made = self.inner

        def timed_macro(lang: str) -> Any:
            macro = made(lang)

            def call(row: Any) -> Any:
                started = time.thread_time()
                try:
                    return macro(row)
                finally:
                    self.spent += time.thread_time() - started

            return call

        setattr(web.deskrows, "row_macro", timed_macro)  # noqa: B010 (the timed one)


class Recorded(RowFragments):
    """The desk's rendered-row caches, kept here so a cold page can be had by emptying them."""

    made: list[RowFragments] = []

    def __init__(self, size: int) -> None:
        super().__init__(size)
        Recorded.made.append(self)


def forget(store: Store) -> None:
    """A cold page: nothing rendered or decoded before (as after a restart, or at the first
    load of the day)."""
    for fragments in Recorded.made:
        fragments.clear()
    store._visits._summary_of.clear()  # noqa: SLF001 (the bench empties the store's memo)


def median_ms(run: Any, runs: int = RUNS, before: Any = None) -> float:
    """The median CPU time of this thread (ms): on a shared machine, wall time would count
    the neighbours' work too; the page does no waiting of its own besides the audit fsync.
    `before` runs ahead of each run, untimed."""
    times = []
    for _ in range(runs):
        if before is not None:
            before()
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
    setattr(web.deskrows, "RowFragments", Recorded)  # noqa: B010 (caches the bench empties)
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
            collector(client, done)
        finally:
            store.close()


def measure(client: Any, store: Store, size: int, today: date) -> None:
    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    since = start_of_today(NOW)
    found = store.recent_confirmations(since, 500)
    assert len(found) == size, len(found)
    rows = desk_rows(client.application)

    def warmed_up() -> None:  # what the background warm-up leaves (web/deskrows.py)
        forget(store)
        rows.warm_today()

    # cold: as if nothing ran before; after warm-up: the start's warm-up (or the stored
    # answers' own) has rendered the rows; warm: the page before it rendered them.
    for mode, before in (("cold", lambda: forget(store)), ("after warm-up", warmed_up)):
        timed_page(get, store, size, mode, before)
    timed_page(get, store, size, "warm", None)
    named = next(c for c in found if c.result.results)
    kana = named.result.results[0].name_kana.split()[0]
    search = median_ms(lambda: get(f"/search?q={kana}"))
    clinical = median_ms(lambda: get("/clinical/"))
    print(f"             search ({kana}) {search:5.1f} ms; clinical list {clinical:5.1f} ms")


def timed_page(get: Callable[[str], None], store: Store, size: int, mode: str, before: Any) -> None:
    get("/")  # warm: what the page before it rendered
    parts = [
        Timed(store, "recent_confirmations"),
        Timed(web.deskrows, "confirmation_row"),
        Timed(web.deskrows, "precheck_notes"),
        Macro(),
        Timed(web.reception, "render_template"),
    ]

    def untimed() -> None:  # what runs before each page counts in none of its parts
        spent = [part.spent for part in parts]
        before()
        for part, was in zip(parts, spent, strict=True):
            part.spent = was

    page = median_ms(lambda: get("/"), before=untimed if before is not None else None)
    for part in parts:
        part.undo()
    read, rows, precheck, macro, template = (p.spent / RUNS * 1000 for p in parts)
    rest = page - read - rows - precheck - macro - template
    print(
        f"  {size:4d} rows, {mode:>13s}: desk page {page:5.1f} ms"
        f" = read {read:4.1f} + rows {rows:4.1f} + appointment look-ups {precheck:4.1f}"
        f" + row macro {macro:4.1f} + page template {template:4.1f} + rest {rest:4.1f}"
    )


def collector(client: Any, size: int) -> None:
    """The warm page with Python's collector as it comes, frozen after start and with fewer
    young collections (device/memory.py tune_gc), and with no collector at all."""
    default = gc.get_threshold()

    def warm() -> str:  # the mean too: a full collection is one page in many
        times = []
        for _ in range(3 * RUNS):
            started = time.thread_time()
            client.get("/")
            times.append((time.thread_time() - started) * 1000)
        return f"{statistics.median(times):4.1f}/{statistics.mean(times):4.1f}"

    plain = warm()
    gc.collect()
    gc.freeze()
    frozen = warm()
    gc.set_threshold(GEN0_THRESHOLD, *default[1:])
    tuned = warm()
    gc.disable()
    off = warm()
    gc.enable()
    gc.unfreeze()
    gc.set_threshold(*default)
    print(
        f"  collector, warm page at {size} rows (median/mean of {3 * RUNS}, ms): as Python"
        f" sets it {plain}, frozen {frozen}, frozen + young every {GEN0_THRESHOLD} {tuned},"
        f" none {off}"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.desk")
    parser.add_argument("--sizes", default="50,250,500")
    args = parser.parse_args(argv)
    print(f"desk, search and clinical list (median of {RUNS}, Flask test client):")
    pages([int(s) for s in args.sizes.split(",")])
    print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
