"""The store with years of data: card saves while the retention purges run.

For each size (10^4 and 10^5 confirmations; 10^6 with --million, it takes long) a fresh store is
filled through its API (Store.save_confirmation: encrypted answer, blind indexes, visit, audit
entry; a thousand to a transaction, a bench helper's batch) with answers spread evenly over the
five years before "now" (the store's clock is set to each row's time). Then, by a clock fixed at
"now":

- card saves alone: one fsync'd save every few ms, p50 / p99 / the longest;
- the daily purge (retention_days = 1826: the oldest day goes), the daily audit retention, the
  first purge after lowering retention_days to the default 31 (about 98 % of the rows go; the
  share rule lifted, as an admin does for it) and the first audit retention after lowering
  audit_retention_days to 365: each run while a thread saves a card answer every few ms; printed
  are the run's time, the saves that overlapped it (p50 / p99 / the longest) and the WAL's size
  after it;
- disk: the database's size / confirmations after the fill (WAL checkpointed first) and, from
  `dbstat`, the share of the confirmations table's pages that is empty.

Timings depend on the machine and on what else runs on it: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.backup import _answer
from device.config import load_config
from device.memory import tune_switching
from device.parts import open_store
from sync.store import Store, VisitRecord
from sync.xmlmsg import parse_result

NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
SPAN_DAYS = 1827  # five years of answers
BATCH = 1000
SAVE_EVERY_S = 0.004
ALONE_SAVES = 200


class BenchClock:
    """The store's clock: each row's time while filling, then "now"."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Saves:
    """Each save's start, the moment it had the store's lock, and its end (perf_counter)."""

    spans: list[tuple[float, float, float]]

    def during(self, start: float, end: float) -> list[float]:
        """How long the saves that overlapped [start, end] took."""
        return [c - a for a, _, c in self.spans if a < end and c > start]

    def waits(self, start: float, end: float) -> list[float]:
        """How long they waited for the lock: what the purge delayed them by."""
        return [b - a for a, b, c in self.spans if a < end and c > start]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def _ms(values: list[float]) -> str:
    if not values:
        return "no save overlapped the run"
    return (
        f"{len(values):4d} saves  p50 {statistics.median(values) * 1000:7.1f} ms  "
        f"p99 {percentile(values, 99) * 1000:7.1f} ms  longest {max(values) * 1000:8.1f} ms"
    )


class Saver:
    """Saves a card answer every SAVE_EVERY_S on its own thread until stopped."""

    def __init__(self, store: Store, prefix: str) -> None:
        self._store = store
        self._prefix = prefix
        self._stop = threading.Event()
        self.saves = Saves([])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def __enter__(self) -> Saver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.saves.spans.append(save_one(self._store, f"{self._prefix}{self._n}", self._n))
            self._n += 1
            self._stop.wait(SAVE_EVERY_S)


_RAW = _answer(0)
_PARSED = parse_result(_RAW)


def save_one(store: Store, name: str, n: int) -> tuple[float, float, float]:
    """A card answer saved as the card flow saves it; the lock is taken first here (it is
    reentrant: the save takes it again at once) to tell the wait for it from the save."""
    at = NOW
    t0 = time.perf_counter()
    with store._database.lock:
        t1 = time.perf_counter()
        save(store, name, n, at)
    return t0, t1, time.perf_counter()


def save(store: Store, name: str, n: int, at: datetime) -> None:
    store.save_confirmation(
        file_id=name,
        raw_result=_RAW,
        result=_PARSED,
        kind="card",
        method="pin",
        actor="reader",
        visit=VisitRecord(f"v{name}", at, at, "r", "pin", "done", file_id=name),
        card=f"card-{n}",
    )


def fill(store: Store, clock: BenchClock, count: int) -> float:
    step = timedelta(days=SPAN_DAYS) / count
    first_at = NOW - timedelta(days=SPAN_DAYS)
    t0 = time.perf_counter()
    for first in range(0, count, BATCH):
        with store._database.write():  # a bench helper's batch: one commit per BATCH
            for n in range(first, min(first + BATCH, count)):
                raw = _answer(n)
                at = first_at + step * n
                clock.at = at
                store.save_confirmation(
                    file_id=f"b{n}",
                    raw_result=raw,
                    result=parse_result(raw),
                    kind="card",
                    method="pin",
                    actor="reader",
                    visit=VisitRecord(f"v{n}", at, at, "r", "pin", "done", file_id=f"b{n}"),
                    card=f"card-{n}",
                )
    clock.at = NOW
    return time.perf_counter() - t0


def checkpoint(store: Store) -> None:
    with store._database.lock:
        store._database.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def disk(store: Store, path: Path, count: int) -> str:
    checkpoint(store)
    size = path.stat().st_size
    with store._database.lock:
        try:
            pages, unused = store._database.db.execute(
                "SELECT SUM(pgsize), SUM(unused) FROM dbstat WHERE name = 'confirmations'"
            ).fetchone()
            fill_note = f"confirmations table pages {unused / pages * 100:.0f} % empty"
        except Exception as exc:  # a SQLite built without dbstat
            fill_note = f"dbstat not available ({exc})"
    return f"{size / 2**20:.1f} MiB, {size / count:,.0f} bytes per confirmation; {fill_note}"


def wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def timed_run(store: Store, path: Path, label: str, run: Callable[[], object]) -> None:
    database = store._database
    handover = getattr(database, "between_batches", None)  # None: the store before issue 15
    marks: list[float] = []
    if handover is not None:

        def between() -> None:  # the end of a batch, and (after its checkpoint) the next start
            marks.append(time.perf_counter())
            handover()
            marks.append(time.perf_counter())

        database.between_batches = between  # type: ignore[method-assign]
    try:
        with Saver(store, f"s-{label}-") as saver:
            time.sleep(0.05)  # the saver is going
            start = time.perf_counter()
            outcome = run()
            end = time.perf_counter()
            time.sleep(0.05)
    finally:
        if handover is not None:
            database.between_batches = handover  # type: ignore[method-assign]
    print(f"  {label:<38} {(end - start) * 1000:9.1f} ms  ({outcome})")
    print(f"  {'':<38} {_ms(saver.saves.during(start, end))}")
    waits = saver.saves.waits(start, end)
    if waits:
        print(
            f"  {'':<38} waited for the lock: p99 {percentile(waits, 99) * 1000:.1f} ms,"
            f" longest {max(waits) * 1000:.1f} ms"
        )
    if len(marks) > 2:
        # From the end of one batch's checkpoint to the end of the next batch: one batch, with
        # its wait for the lock. The first batch is left out: its span from the
        # run's start holds the guards' decision (and the audit chain's check, in slices).
        spans = [b - a for a, b in zip(marks[1::2], marks[2::2], strict=False)]
        held = f"{len(marks) // 2} batches, longest {max(spans) * 1000:.1f} ms"
    elif marks:
        held = "1 batch"
    else:
        held = "one transaction"
    print(f"  {'':<38} {held}; WAL after {wal_bytes(path) / 2**20:.1f} MiB")


def run_size(count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="onshi-bench-scale-"))
    config = load_config(environ={}, overrides={"data_dir": root / "data"})
    clock = BenchClock(NOW - timedelta(days=SPAN_DAYS))
    path = config.database_path
    try:
        store = open_store(config, clock=clock)
        fill_s = fill(store, clock, count)
        print(f"{count:,} confirmations over {SPAN_DAYS} days (load {_load()}):")
        print(f"  fill through the store API               {fill_s:9.1f} s")
        print(f"  disk: {disk(store, path, count)}")
        alone = []
        for n in range(ALONE_SAVES):
            a, _, c = save_one(store, f"alone-{n}", n)
            alone.append(c - a)
            time.sleep(SAVE_EVERY_S)
        print(f"  card saves alone                         {_ms(alone)}")
        lowered = NOW - timedelta(days=31)
        daily = NOW - timedelta(days=SPAN_DAYS - 1)

        def purge(before: datetime) -> Callable[[], object]:
            def go() -> object:
                done = store.purge_older_than(before, actor="bench", max_share=1.0)
                records = store.purge_records_before(before, actor="bench", max_share=1.0)
                return f"confirmations, visits {done}; records {records.total}"

            return go

        def audit(before: datetime) -> Callable[[], object]:
            return lambda: f"audit entries {store.purge_audit_before(before, actor='bench')}"

        timed_run(store, path, "daily purge (oldest day)", purge(daily))
        timed_run(store, path, "daily audit retention (oldest day)", audit(daily))
        timed_run(store, path, "first purge after lowering to 31 days", purge(lowered))
        timed_run(
            store, path, "first audit retention, lowered to 365 d", audit(NOW - timedelta(days=365))
        )
        verdict = store.verify_audit_detail()
        print(f"  audit chain after: {'verifies' if verdict.ok else verdict.reason}")
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} / {five:.1f} on {os.cpu_count()} cores"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.scale")
    parser.add_argument("--confirmations", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 10^6 (takes long)")
    args = parser.parse_args(argv)
    sizes = list(args.confirmations) + ([1_000_000] if args.million else [])
    tune_switching()  # as `onshi run` does: saves beside a Python-bound check (device/memory.py)
    for count in sizes:
        run_size(count)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
