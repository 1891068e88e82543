"""Drill: SIGKILL the retention purges between and inside their batches; nothing is left half
deleted, the audit chain verifies, and the next run finishes the job.

A real store file (WAL, synchronous=FULL) holds card answers (each with its consents and its
visit) spread over fixed past days. A child process runs the daily job's purges on it by a fixed
clock, the confirmations' and then the audit log's, and writes one line after each batch it
committed; the parent kills it with SIGKILL after a number of batches, a random moment into the
next (fixed seed). After each kill the file is opened as the appliance would: `integrity_check`
is ok, every answer still there has all its consents (and no consent outlives its answer), the
answers kept by the rule are all there, and the audit chain verifies from the file and its
anchor. A last run completes: every old row is gone and one `retention.purged` entry counts the
answers of every run, the killed ones included.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, VisitRecord, verify_audit_file
from sync.xmlmsg import parse_result

ROOT = Path(__file__).resolve().parents[2]
CARD_SAMPLE = ROOT / "tests" / "unit" / "samples" / "OQSsiquc01res_face_20240401091500002.xml"
SEED = 15
START = datetime(2024, 4, 1, 0, 0, tzinfo=UTC)
OLD = 1500  # answers before the bound: eight batches of 200
KEPT = 20
BOUND = START + timedelta(days=30)
NOW = BOUND + timedelta(days=400)
AUDIT_CUT = START + timedelta(minutes=1200)  # the audit run removes about 1,200 entries
KILL_AFTER = (0, 1, 2, 1)  # batches committed in each run before its kill
EXIT_TIMEOUT_S = 30.0


def purge_until_killed(db: str, key: str, lines: str, what: str) -> None:
    """The child: the purge, one line written after each batch it committed."""
    out = os.open(lines, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    store = Store(db, FieldCipher(FieldKeys.load(Path(key))), clock=lambda: NOW)
    handover = store._database.between_batches

    def between() -> None:
        os.write(out, b"batch\n")
        handover()

    store._database.between_batches = between  # type: ignore[method-assign]
    if what == "confirmations":
        store.purge_older_than(BOUND, actor="system", max_share=1.0)
    else:
        store.purge_audit_before(AUDIT_CUT, actor="system")
    os.write(out, b"done\n")
    store.close()


def _children() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.drills.test_kill_purge"])
    return context


def _fill(db: Path, key: Path) -> None:
    raw = CARD_SAMPLE.read_bytes()
    parsed = parse_result(raw)
    assert parsed.results[0].consents, "the sample carries consent flags"
    at = [START]
    store = Store(db, FieldCipher(FieldKeys.load(key)), clock=lambda: at[0])
    with store._database.write():  # one transaction: a fill, not what is drilled
        for n in range(OLD + KEPT):
            at[0] = START + timedelta(minutes=n) if n < OLD else BOUND + timedelta(hours=n)
            visit = VisitRecord(f"v{n}", at[0], at[0], "r", "pin", "done", file_id=f"f{n}")
            store.save_confirmation(
                file_id=f"f{n}",
                raw_result=raw,
                result=parsed,
                kind="card",
                method="pin",
                actor="reader",
                visit=visit,
            )
    store.close()


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def _run_and_kill(
    children: multiprocessing.context.ForkServerContext,
    folder: Path,
    n: int,
    what: str,
    batches: int | None,
    rng: random.Random,
) -> list[str]:
    """A child purging `what`, killed after `batches` committed batches (None: left to
    finish); the lines it wrote."""
    db, key, lines = folder / "onshi.db", folder / "field.key", folder / f"lines-{n}.txt"
    child = children.Process(target=purge_until_killed, args=(str(db), str(key), str(lines), what))
    child.start()
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    if batches is None:
        child.join(EXIT_TIMEOUT_S)
        assert child.exitcode == 0
    else:
        while len(_lines(lines)) < batches:
            assert child.is_alive(), f"the purge ended before {batches} batches"
            assert time.monotonic() < deadline, "the purge made no progress"
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.005))  # somewhere into the next batch
        child.kill()
        child.join(EXIT_TIMEOUT_S)
        assert child.exitcode == -signal.SIGKILL, f"the purge ended on its own: {child.exitcode}"
    child.close()
    return _lines(lines)


def _check(folder: Path) -> tuple[int, int]:
    """The file as the appliance reopens it; (answers, visits) left."""
    db, key = folder / "onshi.db", folder / "field.key"
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        consents_each = raw.execute(
            "SELECT c.id, (SELECT COUNT(*) FROM consents WHERE confirmation_id = c.id)"
            " FROM confirmations AS c"
        ).fetchall()
        assert len({n for _, n in consents_each}) == 1, "an answer lost part of its consents"
        orphans = raw.execute(
            "SELECT COUNT(*) FROM consents WHERE confirmation_id NOT IN"
            " (SELECT id FROM confirmations)"
        ).fetchone()[0]
        assert orphans == 0
        kept = raw.execute(
            "SELECT COUNT(*) FROM confirmations WHERE created_at >= ?",
            [BOUND.isoformat(timespec="microseconds")],
        ).fetchone()[0]
        assert kept == KEPT
        left = raw.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0]
        visits = raw.execute("SELECT COUNT(*) FROM visits").fetchone()[0]
    finally:
        raw.close()
    verdict = verify_audit_file(db, FieldCipher(FieldKeys.load(key)))
    assert verdict.ok, verdict
    return int(left), int(visits)


def test_purges_killed_between_and_inside_batches_leave_whole_rows(
    tmp_path: Path, figure: Callable[[str], None]
) -> None:
    FieldKeys.create(tmp_path / "field.key")
    _fill(tmp_path / "onshi.db", tmp_path / "field.key")
    children = _children()
    rng = random.Random(SEED)
    left = [(OLD + KEPT, OLD + KEPT)]
    for n, batches in enumerate(KILL_AFTER):
        _run_and_kill(children, tmp_path, n, "confirmations", batches, rng)
        left.append(_check(tmp_path))
        assert left[-1][0] <= left[-2][0] - 200 * batches  # committed batches stay deleted
    assert _run_and_kill(children, tmp_path, 90, "confirmations", None, rng)[-1] == "done"
    assert _check(tmp_path) == (KEPT, KEPT)

    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.load(tmp_path / "field.key")))
    try:
        purged = store.audit_search(action="retention.purged", limit=10)
        assert [e.detail for e in purged] == [
            f"confirmations={OLD} visits={OLD} before={BOUND.isoformat()}"
        ]
    finally:
        store.close()

    # The audit log: killed in its first batch, then after one, then left to finish.
    for n, batches in enumerate((0, 1), start=100):
        _run_and_kill(children, tmp_path, n, "audit", batches, rng)
        _check(tmp_path)
    assert _run_and_kill(children, tmp_path, 190, "audit", None, rng)[-1] == "done"
    _check(tmp_path)
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.load(tmp_path / "field.key")))
    try:
        oldest = store.audit_search(limit=1000)[-1]
        assert oldest.at >= AUDIT_CUT.isoformat(timespec="microseconds")
        assert store.verify_audit_detail().ok
    finally:
        store.close()
    figure(
        f"{len(KILL_AFTER)} confirmation purges and 2 audit retentions killed mid-run: "
        f"answers left after each {[a for a, _ in left]}; whole rows, chain verifies"
    )
