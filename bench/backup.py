"""Backup and restore of a store holding 10^5 confirmations (device/backup.py).

The store is filled through its API (Store.save_confirmation: encrypted answer, blind indexes,
visit, audit entry), a thousand answers to a transaction so the fill does not take a fsync each;
then `write_backup` (SQLite online backup, scrypt at the default cost, AES-256-GCM in 1 MiB
chunks, fsync, rename) and `restore_backup` into an empty data directory (every chunk, the
integrity check, the audit chain, the swap, the first open) are timed.

Printed: the store's size, the backup's size and time, the restore's time, and the process's
peak memory after each step (it does not grow with the store: both stream in chunks).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from device.backup import restore_backup, write_backup
from device.config import load_config
from device.parts import open_store
from sync.store import VisitRecord
from sync.xmlmsg import Qualification, QualificationResult, SearchInfo, build_result, parse_result

PASSPHRASE = "bench passphrase for the backup"
BATCH = 1000


def _answer(n: int) -> bytes:
    number = f"{n:08d}"
    return build_result(
        QualificationResult(
            process_time="20261122101500",
            confirmation_date="20261122",
            medical_institution_code="1312345670",
            file_id=f"b{n}",
            reference_classification="2",
            segment_of_result="1",
            processing_status="1",
            validity="1",
            search=SearchInfo("06139015", number, "19800401", symbol="記号１"),
            results=(
                Qualification(
                    insurer_number="06139015",
                    symbol="記号１",
                    number=number,
                    name="髙橋 花子",
                    name_kana="タカハシ ハナコ",
                    birthdate="19800401",
                    contribution_ratio="030",
                ),
            ),
        )
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.backup")
    parser.add_argument("--confirmations", type=int, default=100_000)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="onshi-bench-backup-"))
    (root / "usb").mkdir()
    config = load_config(
        environ={},
        overrides={
            "data_dir": root / "data",
            "backup_dir": root / "usb",
            "backup_passphrase_file": root / "unused",  # the bench hands the passphrase in
        },
    )
    start = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    try:
        store = open_store(config, clock=lambda: start)
        t0 = time.perf_counter()
        for first in range(0, args.confirmations, BATCH):
            with store._database.write():  # a bench helper's batch: one commit per BATCH
                for n in range(first, min(first + BATCH, args.confirmations)):
                    raw = _answer(n)
                    at = start + timedelta(seconds=n)
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
        fill_s = time.perf_counter() - t0
        store.close()
        size = config.database_path.stat().st_size
        fill_mb = _peak_mb()

        t0 = time.perf_counter()
        written = write_backup(config, PASSPHRASE, now=start + timedelta(days=1))
        backup_s = time.perf_counter() - t0
        backup_mb = _peak_mb()

        shutil.rmtree(config.data_dir)  # a new SD card
        t0 = time.perf_counter()
        done = restore_backup(
            config, written.path, PASSPHRASE, now=start + timedelta(days=2), actor="bench"
        )
        restore_s = time.perf_counter() - t0
        assert done.counts["confirmations"] == args.confirmations
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"backup and restore of {args.confirmations:,} confirmations:")
    print(f"  fill through the store API:   {fill_s:7.1f} s  (store {size / 2**20:.1f} MiB)")
    print(
        f"  onshi backup (scrypt n=2^16): {backup_s:7.1f} s  (file {written.size / 2**20:.1f} MiB)"
    )
    print(
        f"  onshi restore (verify, integrity_check, audit chain, swap, open): {restore_s:.1f} s "
        f"({done.audit_checked:,} audit entries checked)"
    )
    print(
        f"  peak RSS: {fill_mb:.0f} MiB after the fill, {backup_mb:.0f} MiB after the backup, "
        f"{_peak_mb():.0f} MiB after the restore"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
