"""The retention purges delete in small batches, each its own short write, and hand the store's
lock to whoever waits between two: a card save never waits for the whole purge. Proven with a
thread and the order of events, never with timing; everything is built from fixed dates."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import sync.store.visits
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, VisitRecord, verify_audit_file
from sync.store.auditlog import RETENTION_WALK_SQL
from sync.store.visits import PURGE_BATCH, oldest_rows_sql
from sync.xmlmsg import ConsentState, parse_result
from tests.unit.test_store import answer

START = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
BOUND = START + timedelta(days=30)
OLD = 2500  # five batches of BATCH
BATCH = 500
KEPT = 3
RAW = answer("template", consents=(ConsentState("drug", "1"),))
PARSED = parse_result(RAW)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def keys(tmp_path: Path) -> FieldKeys:
    return FieldKeys.create(tmp_path / "key")


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def store(tmp_path: Path, keys: FieldKeys, clock: Clock) -> Iterator[Store]:
    """OLD confirmations (each with a consent) before BOUND, KEPT after it; no visits."""
    s = Store(tmp_path / "onshi.db", FieldCipher(keys), clock=clock)
    with s._database.write():  # one transaction for the fill
        for n in range(OLD + KEPT):
            clock.at = START + timedelta(minutes=n) if n < OLD else BOUND + timedelta(hours=n)
            s.save_confirmation(
                file_id=f"f{n}",
                raw_result=RAW,
                result=PARSED,
                kind="numbers",
                method="numbers",
                actor="desk",
            )
    clock.at = BOUND + timedelta(days=31)
    yield s
    s.close()


def count(store: Store, sql: str) -> int:
    with store._lock:
        return int(store._db.execute(sql).fetchone()[0])


def orphans(store: Store) -> int:
    """Consents whose confirmation is gone (none: they go in the same batch)."""
    return count(
        store,
        "SELECT COUNT(*) FROM consents WHERE confirmation_id NOT IN (SELECT id FROM confirmations)",
    )


def watch_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch, then: Callable[[int], None] = lambda _: None
) -> list[int]:
    """The confirmations left after each batch (between_batches runs after each)."""
    left: list[int] = []
    handover = store._database.between_batches

    def between() -> None:
        left.append(count(store, "SELECT COUNT(*) FROM confirmations"))
        then(len(left))
        handover()

    monkeypatch.setattr(store._database, "between_batches", between)
    return left


def test_a_purge_of_2500_rows_goes_in_five_batches_and_a_waiting_save_gets_in_between(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    left: list[int] = []  # confirmations left, seen inside each batch's transaction
    seen_by_writer: list[int] = []
    done = threading.Event()

    def save_while_the_purge_runs() -> None:
        with store._database.write() as db:
            seen_by_writer.append(
                int(db.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0])
            )
            store.record_visit(VisitRecord("waiting", BOUND, BOUND, "r", "", "aborted"))
        done.set()

    writer = threading.Thread(target=save_while_the_purge_runs)
    progress = store._visits._count_progress

    def in_batch(table: str, deleted: int) -> None:
        """Inside each batch's transaction (the purge holds the lock). In the first, a save
        asks for the lock, and the batch commits only once the save is waiting for it."""
        left.append(int(store._db.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0]))
        if len(left) == 1:
            writer.start()
            while store._database.lock.waiting() == 0:
                done.wait(0.001)  # not timing: a loop until the thread is in line
        progress(table, deleted)

    monkeypatch.setattr(store._visits, "_count_progress", in_batch)

    assert store._visits.purge_older_than(BOUND, actor="system", batch=500) == (OLD, 0)

    writer.join()
    assert left == [OLD + KEPT - k * BATCH for k in (1, 2, 3, 4, 5)]  # five batches
    # The save that asked during the first batch got the lock before the second batch.
    assert seen_by_writer == [OLD + KEPT - BATCH]
    assert store.visit("waiting") is not None
    assert orphans(store) == 0 and count(store, "SELECT COUNT(*) FROM consents") == KEPT
    entry = store.audit_entries(1)[0]
    assert (entry.action, entry.detail) == (
        "retention.purged",
        f"confirmations={OLD} visits=0 before={BOUND.isoformat()}",
    )
    assert store.verify_audit() is None


def test_each_batch_and_each_count_is_an_indexed_range(store: Store) -> None:
    def plan(sql: str, *params: object) -> str:
        with store._lock:
            rows = store._db.execute(f"EXPLAIN QUERY PLAN {sql}", list(params)).fetchall()
        return " | ".join(str(r[-1]) for r in rows)

    bound = BOUND.isoformat()
    batch = plan(oldest_rows_sql("confirmations", "created_at"), bound, 500)
    assert "INDEX confirmations_created (created_at<?)" in batch and "SCAN" not in batch
    visits = plan(oldest_rows_sql("visits", "ended_at"), bound, 500)
    assert "INDEX visits_ended (ended_at<?)" in visits and "SCAN" not in visits
    counted = plan("SELECT COUNT(*) FROM visits WHERE ended_at > ? AND ended_at < ?", "", bound)
    assert "INDEX visits_ended (ended_at>? AND ended_at<?)" in counted
    # What a deleted confirmation sets NULL elsewhere is found by an index, not a scan.
    faces = plan("SELECT id FROM face_files WHERE confirmation_id = ?", 1)
    assert "INDEX face_files_confirmation (confirmation_id=?)" in faces
    card_from = plan("SELECT id FROM outbox WHERE card_from = ?", 1)
    assert "INDEX outbox_card_from (card_from=?)" in card_from
    # Audit retention walks the chain by its primary key from the checkpoint.
    walk = plan(RETENTION_WALK_SQL, bound, 0, 10, 500)
    assert "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in walk and "SCAN" not in walk


def test_a_purge_stopped_between_batches_keeps_whole_rows_and_the_next_run_finishes(
    tmp_path: Path, keys: FieldKeys, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(batches: int) -> None:
        if batches == 2:
            raise KeyboardInterrupt("the appliance stops here")

    left = watch_batches(store, monkeypatch, killed)
    with pytest.raises(KeyboardInterrupt):
        store._visits.purge_older_than(BOUND, actor="system", batch=500)
    assert left == [OLD + KEPT - BATCH, OLD + KEPT - 2 * BATCH]  # stay deleted
    assert count(store, "SELECT COUNT(*) FROM confirmations") == OLD + KEPT - 2 * BATCH
    assert orphans(store) == 0  # every confirmation still there has its consent
    assert count(store, "SELECT COUNT(*) FROM consents") == OLD + KEPT - 2 * BATCH
    assert "retention.purged" not in [e.action for e in store.audit_entries(5)]
    assert store.verify_audit() is None
    store.close()

    again = Store(
        tmp_path / "onshi.db", FieldCipher(keys), clock=lambda: BOUND + timedelta(days=31)
    )
    try:
        assert again.purge_older_than(BOUND, actor="system") == (OLD - 2 * BATCH, 0)
        assert again.count_confirmations() == KEPT
        assert orphans(again) == 0
        entry = again.audit_entries(1)[0]
        # The entry counts the stopped run's batches too: every deleted row is audited.
        assert (entry.action, entry.detail) == (
            "retention.purged",
            f"confirmations={OLD} visits=0 before={BOUND.isoformat()}",
        )
        assert again.verify_audit() is None
        assert again.purge_older_than(BOUND, actor="system") == (0, 0)
        assert again.audit_entries(1)[0].id == entry.id  # nothing more to say
    finally:
        again.close()


def test_visits_go_in_batches_too(tmp_path: Path, keys: FieldKeys) -> None:
    now = Clock(START)
    s = Store(tmp_path / "v.db", FieldCipher(keys), clock=now)
    try:
        with s._database.write():
            for n in range(1200):
                at = START + timedelta(minutes=n)
                s._visits._insert_visit(VisitRecord(f"v{n}", at, at, "r", "", "aborted"))
        s.record_visit(VisitRecord("new", BOUND, BOUND, "r", "", "aborted"))
        now.at = BOUND
        calls: list[int] = []
        handover = s._database.between_batches

        def between() -> None:
            calls.append(s.count_visits())
            handover()

        s._database.between_batches = between  # type: ignore[method-assign]
        assert s.purge_older_than(BOUND, actor="system") == (0, 1200)
        assert calls == [1201 - k * PURGE_BATCH for k in range(1, 7)]  # 1,200 in six batches
        assert s.visit("new") is not None
    finally:
        s.close()


# -- audit retention -------------------------------------------------------------------------
def audit_store(path: Path, keys: FieldKeys, clock: Clock, entries: int) -> Store:
    s = Store(path, FieldCipher(keys), clock=clock)
    with s._database.write():
        for n in range(entries):
            clock.at = START + timedelta(minutes=n)
            s._audit.append("desk", "confirmation.viewed", f"confirmation:{n}", "")
    clock.at = BOUND + timedelta(days=400)
    return s


def test_audit_retention_goes_in_batches_with_saves_between_and_the_chain_verifies(
    tmp_path: Path, keys: FieldKeys, clock: Clock
) -> None:
    path = tmp_path / "audit.db"
    s = audit_store(path, keys, clock, 1300)
    try:
        bases: list[int] = []
        handover = s._database.between_batches

        def between() -> None:
            bases.append(s._audit._base.id)
            s.audit("reader", "confirmation.stored", "confirmation:x")  # a save between
            handover()

        s._database.between_batches = between  # type: ignore[method-assign]
        cut = START + timedelta(minutes=1200)
        written = s.audit_entries(100_000)
        assert written[-1].id == 1
        old = sum(1 for e in written if e.at < cut.isoformat(timespec="microseconds"))
        assert old >= 1200  # the fill's first 1200, and what the store wrote at open
        removed = s.purge_audit_before(cut, actor="system")
        assert removed == old
        assert bases == [500, 1000, old]  # three batches, each with its checkpoint
        entry = s.audit_entries(1)[0]
        assert (entry.action, entry.detail) == (
            "audit.retention",
            f"removed={old} through id={old} before={cut.isoformat()}",
        )
        assert s.verify_audit_detail().ok
        assert verify_audit_file(path, FieldCipher(keys)).ok
    finally:
        s.close()


def test_audit_retention_stopped_between_batches_verifies_and_the_next_run_finishes(
    tmp_path: Path, keys: FieldKeys, clock: Clock
) -> None:
    path = tmp_path / "audit.db"
    s = audit_store(path, keys, clock, 1300)
    cut = START + timedelta(minutes=1200)
    handover = s._database.between_batches
    calls = 0

    def killed() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt("the appliance stops here")
        handover()

    s._database.between_batches = killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        s.purge_audit_before(cut, actor="system")
    # One batch gone, its checkpoint signed; the anchor still names the old base's head.
    assert s.verify_audit_detail().ok
    s.close()
    assert verify_audit_file(path, FieldCipher(keys)).ok

    again = Store(path, FieldCipher(keys), clock=clock)
    try:
        assert again.verify_audit_detail().ok
        removed = again.purge_audit_before(cut, actor="system")
        assert removed > 0
        oldest = again.audit_entries(100_000)[-1]
        assert oldest.at == cut.isoformat(timespec="microseconds")
        assert again.verify_audit_detail().ok
        again.audit("desk", "confirmation.viewed", "confirmation:1")
        assert again.verify_audit_detail().ok
    finally:
        again.close()
    assert verify_audit_file(path, FieldCipher(keys)).ok


def test_statements_go_in_batches_and_a_stopped_run_is_counted_by_the_next(
    tmp_path: Path, keys: FieldKeys
) -> None:
    now = Clock(START)
    s = Store(tmp_path / "s.db", FieldCipher(keys), clock=now)
    try:
        with s._database.write():
            for n in range(1050):
                now.at = START + timedelta(minutes=n)
                s.save_statement({"name": "山田 太郎"}, actor="uketsuke")
        now.at = BOUND
        s.save_statement({"name": "山田 花子"}, actor="uketsuke")  # kept
        handover = s._database.between_batches
        left: list[int] = []

        def killed() -> None:
            left.append(count(s, "SELECT COUNT(*) FROM statements"))
            if len(left) == 1:
                raise KeyboardInterrupt("the appliance stops here")
            handover()

        s._database.between_batches = killed  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            s.purge_records_before(BOUND, actor="system")
        assert left == [551]
        assert s.verify_audit() is None
        assert s.purge_records_before(BOUND, actor="system").statements == 550
        assert left == [551, 51, 1]  # three batches in all
        entry = s.audit_entries(1)[0]
        assert (entry.action, entry.detail) == (
            "retention.purged",
            f"statements=1050 outbox=0 outbox_alerts=0 appointments=0 before={BOUND.isoformat()}",
        )
        assert s.verify_audit() is None
    finally:
        s.close()


def test_the_guards_count_through_the_index_a_chunk_at_a_time(
    tmp_path: Path, keys: FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 7 index entries, instants repeated across chunk edges: the counts are exact,
    a cap stops the count, and each chunk is an indexed range."""
    monkeypatch.setattr(sync.store.visits, "_COUNT_CHUNK", 7)
    s = Store(tmp_path / "c.db", FieldCipher(keys), clock=lambda: START)
    try:
        with s._database.write():
            for n in range(60):
                at = START + timedelta(minutes=n // 4)  # four visits at each instant
                s._visits._insert_visit(VisitRecord(f"v{n}", at, at, "r", "", "aborted"))
        text = [
            (START + timedelta(minutes=m)).isoformat(timespec="microseconds") for m in range(16)
        ]
        count_of = s._visits._count
        assert count_of("visits", "ended_at", "", "") == 60
        assert count_of("visits", "ended_at", "", text[10]) == 40
        assert count_of("visits", "ended_at", text[2], text[10]) == 28
        assert count_of("visits", "ended_at", "", "", 25) == 25
        assert count_of("visits", "ended_at", "", "", 61) == 60
        with s._lock:
            plan = s._db.execute(
                "EXPLAIN QUERY PLAN SELECT ended_at FROM visits WHERE ended_at > ?"
                " AND ended_at < ? ORDER BY ended_at LIMIT 1 OFFSET ?",
                [text[2], text[10], 7],
            ).fetchall()
        assert "INDEX visits_ended (ended_at>? AND ended_at<?)" in str(plan)
    finally:
        s.close()
