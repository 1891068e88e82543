"""Drill: tamper with the audit log the ways someone with the database file (but not the key)
could, and run `onshi audit verify` beside a process that writes audit entries as fast as it can.

Every kind of tampering must be reported by the command (exit 1) and by the appliance's own
verifier (the admin page's); no verify run beside the writer may fail to check (exit 74,
"database is locked") and the writer must never be disturbed.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from device.cli import EXIT_AUDIT_BROKEN, EXIT_OK, main
from device.config import Config, load_config
from device.parts import open_store
from sync.auditchain import GENESIS_HASH, legacy_entry_hash
from sync.store import anchor_path_of

ENTRIES = 30
START = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


def config_at(data: Path) -> Config:
    return load_config(None, environ={}, overrides={"data_dir": data})


def sql(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def recompute_without_the_key(db: Path) -> None:
    """Edit entry 5 and recompute every hash the way the old unkeyed chain did."""
    conn = sqlite3.connect(db)
    prev = GENESIS_HASH
    rows = conn.execute("SELECT id, at, actor, action, subject, detail FROM audit ORDER BY id")
    with conn:
        for entry_id, at, actor, action, subject, detail in rows.fetchall():
            detail = "nothing to see" if entry_id == 5 else detail
            digest = legacy_entry_hash(prev, at, actor, action, subject, detail)
            conn.execute(
                "UPDATE audit SET detail = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (detail, prev, digest, entry_id),
            )
            prev = digest
    conn.close()


def delete_newest_and_write_on(data: Path) -> None:
    db = data / "onshi.db"
    sql(db, f"DELETE FROM audit WHERE id > {ENTRIES - 4}")
    store = open_store(config_at(data))  # the appliance restarts and writes on
    store.audit("admin", "login.success", "user:1")
    store.close()


def delete_anchor_and_newest(data: Path) -> None:
    anchor_path_of(data / "onshi.db").unlink()
    sql(data / "onshi.db", f"DELETE FROM audit WHERE id > {ENTRIES - 2}")


TAMPERING: dict[str, Callable[[Path], None]] = {
    "delete the newest 3 entries": lambda d: sql(
        d / "onshi.db", f"DELETE FROM audit WHERE id > {ENTRIES - 3}"
    ),
    "delete the newest entry": lambda d: sql(
        d / "onshi.db", f"DELETE FROM audit WHERE id = {ENTRIES}"
    ),
    "wipe the table": lambda d: sql(d / "onshi.db", "DELETE FROM audit"),
    "recompute the chain without the key": lambda d: recompute_without_the_key(d / "onshi.db"),
    "reorder two entries": lambda d: sql(
        d / "onshi.db",
        "UPDATE audit SET id = -7 WHERE id = 7",
        "UPDATE audit SET id = 7 WHERE id = 8",
        "UPDATE audit SET id = 8 WHERE id = -7",
    ),
    "edit an entry": lambda d: sql(d / "onshi.db", "UPDATE audit SET actor = 'x' WHERE id = 12"),
    "delete the newest entries, then the appliance writes on": delete_newest_and_write_on,
    "delete the anchor file and the newest entries": lambda d: delete_anchor_and_newest(d),
}


def fresh(data: Path) -> None:
    now = [START]

    def clock() -> datetime:
        now[0] += timedelta(minutes=1)
        return now[0]

    store = open_store(config_at(data), clock)
    for i in range(ENTRIES):
        store.audit(f"user{i % 4}", "record.view", f"confirmation:{i}", f"n={i}")
    store.close()


def test_every_kind_of_tampering_is_reported(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    figure: Callable[[str], None],
) -> None:
    monkeypatch.delenv("ONSHI_CONFIG", raising=False)
    missed: list[str] = []
    for n, (kind, tamper) in enumerate(TAMPERING.items()):
        data = tmp_path / f"t{n}"
        fresh(data)
        monkeypatch.setenv("ONSHI_DATA_DIR", str(data))
        assert main(["audit", "verify"]) == EXIT_OK, kind
        tamper(data)
        cli = main(["audit", "verify"])
        err = capsys.readouterr().err
        store = open_store(config_at(data))  # the admin page's verifier, in the appliance
        try:
            page = store.verify_audit_detail()
        finally:
            store.close()
        if cli != EXIT_AUDIT_BROKEN or "NG" not in err or page.ok:
            missed.append(f"{kind} (exit {cli}, page ok={page.ok})")
    detected = len(TAMPERING) - len(missed)
    figure(f"{detected}/{len(TAMPERING)} tampering kinds detected")
    assert not missed


# -- verify beside a busy writer ---------------------------------------------------------------
def hammer(data: str, stop: Any, written: Any) -> None:
    """The appliance's writer: audit entries as fast as one connection writes them."""
    store = open_store(config_at(Path(data)))
    try:
        while not stop.is_set():
            store.audit("reader", "visit.done", f"visit:{written.value}", "x" * 40)
            with written.get_lock():
                written.value += 1
    finally:
        store.close()


def test_verify_beside_a_writer_process_never_fails_to_check(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    drill_budget: int,
    figure: Callable[[str], None],
) -> None:
    data = tmp_path / "busy"
    fresh(data)
    monkeypatch.setenv("ONSHI_DATA_DIR", str(data))
    monkeypatch.delenv("ONSHI_CONFIG", raising=False)
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    written = ctx.Value("i", 0)
    writer = ctx.Process(target=hammer, args=(str(data), stop, written))
    writer.start()
    runs = 40 * drill_budget
    codes: dict[int, int] = {}
    locked = 0
    try:
        deadline = time.monotonic() + 60
        while written.value < 50 and time.monotonic() < deadline:  # the writer is running
            time.sleep(0.01)
        before = written.value
        done = 0
        # at least `runs`, and on until the writer has written meanwhile (it always has)
        while done < runs or (written.value == before and time.monotonic() < deadline):
            code = main(["audit", "verify"])
            codes[code] = codes.get(code, 0) + 1
            out = capsys.readouterr()
            locked += "locked" in out.err
            done += 1
        during = written.value - before
    finally:
        stop.set()
        writer.join(60)
    failures = done - codes.get(EXIT_OK, 0)
    figure(
        f"verify under load: {failures}/{done} failed ({locked} 'database is locked'), "
        f"{during} entries written meanwhile, writer exit {writer.exitcode}"
    )
    assert codes == {EXIT_OK: done} and locked == 0
    assert writer.exitcode == 0 and during > 0
    assert main(["audit", "verify"]) == EXIT_OK
