"""Audit entries written on their own (views) from 1, 8 and 32 threads on a file-backed store
(synchronous=FULL, the anchor file): entries/s and commits, with the group commit and with one
commit per entry (as before), and how long a card save waits meanwhile (median and worst).

    python -m bench.auditgroup [--seconds 3] [--threads 1 8 32]

Nothing is asserted; the machine's load average is printed beside the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store


def one_commit_each(store: Store) -> Any:
    """The path before group commit: each entry its own transaction."""
    audit: Any = getattr(store, "_audit")  # noqa: B009
    database: Any = getattr(store, "_database")  # noqa: B009

    def record(actor: str, action: str, subject: str, detail: str = "") -> None:
        with database.write():
            audit.append(actor, action, subject, detail)

    return record


def run(threads: int, seconds: float, grouped: bool) -> tuple[float, int, int, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "onshi.db", FieldCipher(FieldKeys.generate()))
        database: Any = getattr(store, "_database")  # noqa: B009
        commits = [0]
        database.on_commit(lambda: commits.__setitem__(0, commits[0] + 1), lambda: None)
        record = store.audit if grouped else one_commit_each(store)
        done = [0] * threads
        stop = threading.Event()
        saves: list[float] = []

        def view(i: int) -> None:
            while not stop.is_set():
                record("reception", "confirmation.view", f"confirmation:{i}")
                done[i] += 1

        def saver() -> None:  # a card save's own write with its entry, every 20 ms
            audit: Any = getattr(store, "_audit")  # noqa: B009
            while not stop.is_set():
                started = time.perf_counter()
                with database.write():
                    audit.append("reader", "confirmation.stored", "confirmation:card", "")
                saves.append(time.perf_counter() - started)
                stop.wait(0.02)

        workers = [threading.Thread(target=view, args=(i,)) for i in range(threads)]
        workers.append(threading.Thread(target=saver))
        start_commits = commits[0]
        for w in workers:
            w.start()
        stop.wait(seconds)
        stop.set()
        for w in workers:
            w.join()
        assert store.verify_audit() is None
        store.close()
        return sum(done) / seconds, sum(done), commits[0] - start_commits, saves


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.auditgroup")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)
    print(f"audit group commit (load average {os.getloadavg()[0]:.2f})")
    for threads in args.threads:
        for grouped in (False, True):
            rate, entries, commits, saves = run(threads, args.seconds, grouped)
            worst = max(saves) * 1000 if saves else 0.0
            median = statistics.median(saves) * 1000 if saves else 0.0
            print(
                f"  {threads:>2} threads {'group ' if grouped else 'single'}:"
                f" {rate:8.0f} views/s, {entries} entries in {commits} commits,"
                f" card save p50 {median:.1f} ms worst {worst:.1f} ms"
            )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
