"""The store's read path: reads on their own thread's read-only connection, never behind the
writer's lock, and exactly one connection that writes (sync/store/readers.py Readers)."""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import parse_result
from tests.unit.test_store import answer

WAIT_S = 30  # a bound against a hang, never a measure: every wait here ends on an event


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.create(tmp_path / "key")))
    yield made
    made.close()


def saved(store: Store, file_id: str) -> int:
    raw = answer(file_id)
    return store.save_confirmation(
        file_id=file_id,
        raw_result=raw,
        result=parse_result(raw),
        kind="numbers",
        method="numbers",
        actor="reception",
    ).id


def on_thread(read: Callable[[], object]) -> tuple[threading.Thread, threading.Event, list[object]]:
    done = threading.Event()
    found: list[object] = []

    def run() -> None:
        found.append(read())
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done, found


def test_a_read_on_another_thread_does_not_wait_for_the_writer(store: Store) -> None:
    first = saved(store, "f1")
    user = store.add_user("suzuki", "鈴木", ("reception",), "hash")
    database = store._database
    with database.write() as db:  # the writer's lock held, a save half done
        db.execute("UPDATE confirmations SET kind = 'card' WHERE id = ?", [first])
        thread, done, found = on_thread(
            lambda: (store.confirmation(first), store.user(user.id), store.audit_for_subject("x"))
        )
        # The read finishes while this thread still holds the lock: it never asked for it.
        assert done.wait(WAIT_S)
        confirmation, row, _ = found[0]  # type: ignore[misc]
        assert confirmation is not None and confirmation.kind == "numbers"  # not uncommitted
        assert row is not None and row.username == "suzuki"
        # Inside its own write block a thread reads what it has written.
        mine = store.confirmation(first)
        assert mine is not None and mine.kind == "card"
    thread.join()
    after = store.confirmation(first)
    assert after is not None and after.kind == "card"


def test_a_reader_cannot_write(store: Store) -> None:
    database = store._database
    with database.reading():
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            database.connection.execute("DELETE FROM users")


def test_a_write_inside_a_read_goes_to_the_writer(store: Store) -> None:
    database = store._database
    with database.reading():
        store.add_user("tanaka", "田中", ("reception",), "hash")
    assert store.user_by_username("tanaka") is not None


def test_one_read_sees_one_snapshot(store: Store) -> None:
    """Statements inside one read see the same commit, as they did under the lock."""
    saved(store, "f1")
    database = store._database
    with database.reading():
        before = database.connection.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0]
        thread, done, _ = on_thread(lambda: saved(store, "f2"))
        assert done.wait(WAIT_S)  # committed by another thread meanwhile
        again = database.connection.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0]
        assert again == before
    thread.join()
    assert len(store.recent_confirmations(store.now().replace(year=2000))) == before + 1


def test_a_threads_reader_goes_with_the_thread(store: Store) -> None:
    readers = store._database.readers
    assert readers is not None
    read, leave = threading.Event(), threading.Event()

    def run() -> None:
        store.count_users()
        read.set()
        leave.wait(WAIT_S)

    before = readers.count()
    thread = threading.Thread(target=run)
    thread.start()
    assert read.wait(WAIT_S)
    assert readers.count() == before + 1
    leave.set()
    thread.join()
    gc.collect()
    assert readers.count() == before


def test_many_threads_leave_no_readers_behind(store: Store) -> None:
    """Threads that come and go (event streams, one-off jobs) do not pile up connections."""
    readers = store._database.readers
    assert readers is not None
    for _ in range(50):
        thread = threading.Thread(target=store.count_users)
        thread.start()
        thread.join()
    gc.collect()
    assert readers.count() <= 1


def test_closing_the_store_closes_every_reader(tmp_path: Path) -> None:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.create(tmp_path / "key")))
    readers = store._database.readers
    assert readers is not None
    store.count_users()
    leave = threading.Event()
    read = threading.Event()

    def run() -> None:
        store.count_users()
        read.set()
        leave.wait(WAIT_S)

    thread = threading.Thread(target=run)
    thread.start()
    assert read.wait(WAIT_S)
    store.close()
    assert readers.count() == 0
    with pytest.raises(sqlite3.ProgrammingError):
        store.count_users()
    leave.set()
    thread.join()


def test_an_in_memory_store_reads_under_the_lock() -> None:
    """Only its one connection sees an in-memory database's data."""
    store = Store(":memory:", FieldCipher(FieldKeys.generate()))
    assert store._database.readers is None
    store.add_user("suzuki", "鈴木", ("reception",), "hash")
    assert store.count_users() == 1
