"""Audit entries written on their own (views) from 1, 8 and 32 threads on a file-backed store
(synchronous=FULL, the anchor file): entries/s and commits, with the group commit and with one
commit per entry (as before), and how long a card save waits meanwhile (median and worst).
Views/s is also given per second of CPU the process used (time.process_time), as the machine
is shared.

`--fsync-ms 5` adds a fixed sleep to every commit, under the store's lock (as a slower fsync
holds it): what a Pi's SD card, where an fsync costs several ms, would see.

    python -m bench.auditgroup [--seconds 3] [--threads 1 8 32] [--fsync-ms 0]

Nothing is asserted; the machine's load average is printed beside the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
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


@dataclass
class Result:
    rate: float  # views/s
    entries: int
    commits: int
    cpu_s: float  # the process's CPU time over the run
    saves: list[float]  # how long each card save took, s


def run(threads: int, seconds: float, grouped: bool, fsync_s: float) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "onshi.db", FieldCipher(FieldKeys.generate()))
        database: Any = getattr(store, "_database")  # noqa: B009
        commits = [0]
        database.on_commit(lambda: commits.__setitem__(0, commits[0] + 1), lambda: None)
        if fsync_s:
            database.on_commit(lambda: time.sleep(fsync_s), lambda: None)
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
        cpu = time.process_time()
        for w in workers:
            w.start()
        stop.wait(seconds)
        stop.set()
        for w in workers:
            w.join()
        cpu = time.process_time() - cpu
        assert store.verify_audit() is None
        store.close()
        entries = sum(done)
        return Result(entries / seconds, entries, commits[0] - start_commits, cpu, saves)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.auditgroup")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--fsync-ms", type=float, default=0.0, help="a fixed delay added to every commit"
    )
    args = parser.parse_args(argv)
    slower = f", every commit {args.fsync_ms:g} ms slower" if args.fsync_ms else ""
    print(f"audit group commit (load average {os.getloadavg()[0]:.2f}{slower})")
    for threads in args.threads:
        for grouped in (False, True):
            r = run(threads, args.seconds, grouped, args.fsync_ms / 1000)
            worst = max(r.saves) * 1000 if r.saves else 0.0
            median = statistics.median(r.saves) * 1000 if r.saves else 0.0
            per_cpu = r.entries / r.cpu_s if r.cpu_s else 0.0
            print(
                f"  {threads:>2} threads {'group ' if grouped else 'single'}: {r.rate:8.0f} views/s"
                f" ({per_cpu:6.0f} per CPU s), {r.entries} entries in {r.commits} commits,"
                f" card save p50 {median:.1f} ms worst {worst:.1f} ms"
            )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
