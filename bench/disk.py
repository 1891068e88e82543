"""The disk each answer takes, and the upgrade that cut the keyed hashes (migration 24).

- Bytes per confirmation of every table and index (`dbstat`, after VACUUM) of a store filled
  with the desk bench's answers (bench/desk.py: cards, numbers checks, visits kept offline, an
  export queued per answer).
- Migration 24 on a store of --migrate confirmations (10^5: five years of a clinic) written as
  the code before it wrote them (hex blind indexes; scale's fill, a thousand to a transaction):
  the open that migrates it (wall and CPU time of the opening thread), the largest the WAL grew
  to meanwhile and its size after, the open of the migrated store again (what every later start
  pays), the file before and after, its free pages and the share of the confirmations table's
  pages left empty (the rows shortened in place). The look-ups are checked to find the same
  rows. A store of more rows than one batch (5,000) is migrated in short transactions.

Timings depend on the machine and on what else runs on it: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import sqlite_utils

import sync.store
from bench.desk import NOW, fill
from bench.scale import BenchClock
from bench.scale import fill as fill_years
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import MIGRATIONS, Store
from sync.store.database import Database

TAGS_MIGRATION = 24  # the migration that cut the keyed hashes
PAGE = 4096


def _hex_index(database: Database, purpose: str, value: str) -> bytes | str:
    """What a look-up column kept before migration 24: the whole blind index in hex."""
    return database.cipher.blind_index(purpose, value) if value else ""


@contextmanager
def written_before_tags() -> Iterator[None]:
    """Stores opened inside are built and written as before migration 24."""
    with (
        mock.patch.object(sync.store, "MIGRATIONS", MIGRATIONS[: TAGS_MIGRATION - 1]),
        mock.patch.object(Database, "lookup_tag", _hex_index),
        mock.patch.object(sync.store.visits, "_NO_TAGS", ",".join(["''"] * 6)),
    ):
        yield


def sizes(db: sqlite_utils.Database) -> list[tuple[str, int]]:
    """Bytes of each table and index, largest first ([] when SQLite has no dbstat)."""
    try:
        return [
            (str(name), int(size))
            for name, size in db.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
        ]
    except Exception:  # noqa: BLE001 (SQLite built without dbstat)
        return []


def _filled_sizes(count: int) -> tuple[int, list[tuple[str, int]]]:
    """The file's size after VACUUM and each table's and index's, with `count` answers."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "onshi.db"
        store = Store(path, FieldCipher(FieldKeys.generate()), lambda: NOW)
        try:
            fill(store, 0, count)
            db = store._database.db  # noqa: SLF001 (a bench reads the file's own accounts)
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return path.stat().st_size, sizes(db)
        finally:
            store.close()


def per_confirmation(count: int) -> None:
    """Bytes per confirmation as the code before migration 24 wrote them (hex) and now."""
    with written_before_tags():
        total_before, before = _filled_sizes(count)
    total, now = _filled_sizes(count)
    print(
        f"  {count} confirmations, bytes each after VACUUM: {total_before / count:6.0f} B"
        f" with hex hashes, {total / count:6.0f} B now"
    )
    earlier = dict(before)
    small = 0
    for name, size in now:
        if max(size, earlier.get(name, 0)) <= PAGE:  # an empty table or index: one page
            small += size
            continue
        print(
            f"    {name:34s} {earlier.get(name, 0) / count:6.0f} B -> {size / count:6.0f} B"
            " per confirmation"
        )
    print(f"    {'(the others, a page each)':34s} {small / count:6.0f} B")


class WalWatch:
    """The largest size the WAL file reached while the block ran (polled every 5 ms)."""

    def __init__(self, path: Path) -> None:
        self._wal = path.with_name(path.name + "-wal")
        self._stop = threading.Event()
        self.largest = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def size(self) -> int:
        try:
            return self._wal.stat().st_size
        except FileNotFoundError:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.largest = max(self.largest, self.size())

    def __enter__(self) -> WalWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.largest = max(self.largest, self.size())


def slack(store: Store) -> tuple[int, float]:
    """The file's free pages (bytes) and the share of the confirmations table's pages that is
    empty (%, from dbstat)."""
    db = store._database.db  # noqa: SLF001
    with store._database.lock:  # noqa: SLF001
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0]) * PAGE
        pages, unused = db.execute(
            "SELECT SUM(pgsize), SUM(unused) FROM dbstat WHERE name = 'confirmations'"
        ).fetchone()
    return free, unused / pages * 100


def _open_timed(path: Path, keys: FieldKeys) -> tuple[Store, float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    store = Store(path, FieldCipher(keys), lambda: NOW)
    return store, time.perf_counter() - wall, time.thread_time() - cpu


def _found(store: Store) -> list[list[int]]:
    """The rows some look-ups find: by card, numbers, kana (whole, surname), birth date,
    insurer."""
    card = store.last_card_answer("card-7")
    return [
        [card.id] if card else [],
        [c.id for c in store.find_by_numbers("06139015", "記号１", f"{7:08d}")],
        [c.id for c in store.find_by_kana("タカハシ ハナコ", 5)],
        [c.id for c in store.find_by_kana("タカハシ", 5)],
        [c.id for c in store.find_by_birthdate("19800401", 5)],
        [c.id for c in store.find_by_insurer("06139015", 5)],
    ]


def migration(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "onshi.db"
        keys = FieldKeys.generate()
        with written_before_tags():
            clock = BenchClock(NOW)
            old = Store(path, FieldCipher(keys), clock)
            try:
                filled = fill_years(old, clock, count)
                old._database.checkpoint()  # noqa: SLF001
                found = _found(old)
                _, empty_before = slack(old)
                version = old.schema_version
            finally:
                old.close()
        before = path.stat().st_size
        with WalWatch(path) as wal:
            store, wall, cpu = _open_timed(path, keys)
        try:
            assert store.schema_version == TAGS_MIGRATION > version, store.schema_version
            assert _found(store) == found and all(found), (found, _found(store))
            wal_after = wal.size()
            free, empty = slack(store)
        finally:
            store.close()
        again, wall_again, cpu_again = _open_timed(path, keys)
        again.close()
        after = path.stat().st_size
    print(
        f"  {count} confirmations at migration {version} (filled in {filled:.0f} s):"
        f" the open that migrates {wall:6.2f} s (CPU {cpu:5.2f} s),"
        f" the next open {wall_again:5.2f} s (CPU {cpu_again:5.2f} s)"
    )
    print(
        f"    WAL at most {wal.largest / 2**20:6.1f} MiB, after {wal_after / 2**20:5.1f} MiB;"
        f" file {before / 2**20:6.1f} MiB before, {after / 2**20:6.1f} MiB after"
    )
    print(
        f"    of it free pages (the old indexes', taken by later rows) {free / 2**20:5.1f} MiB;"
        f" the confirmations table's pages {empty_before:.0f} % empty before, {empty:.0f} %"
        " after (back as the retention purge deletes those rows, or by VACUUM)"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.disk")
    parser.add_argument("--disk", type=int, default=2000, help="answers for bytes per answer")
    parser.add_argument(
        "--migrate", type=int, default=10_000, help="confirmations to migrate (0: none)"
    )
    args = parser.parse_args(argv)
    print(f"disk per confirmation and migration 24 (load {os.getloadavg()[0]:.2f}):")
    if args.disk:
        per_confirmation(args.disk)
    if args.migrate:
        migration(args.migrate)
    print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
