"""The audit chain verifier against tampering done on a copy of a real database file (and its
anchor), and the store's audit search and stored settings."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.auditchain import AUDIT_CONTENT_CHANGED, AUDIT_LINK_BROKEN, GENESIS_HASH, entry_hash
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import AuditEntry, Store

START = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)  # 09:00 JST
ENTRIES = 10


class StepClock:
    """Each reading one minute after the last."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def keys() -> FieldKeys:
    return FieldKeys.generate()


@pytest.fixture
def original(tmp_path: Path, keys: FieldKeys) -> Path:
    """A closed database file holding ENTRIES audit entries (ids 1..ENTRIES)."""
    path = tmp_path / "original" / "onshi.db"
    store = Store(path, FieldCipher(keys), clock=StepClock(START))
    for i in range(1, ENTRIES + 1):
        store.audit(f"user{i % 3}", "login.success" if i % 2 else "logout", f"user:u{i}", f"n={i}")
    store.close()
    return path


@pytest.fixture
def copy(original: Path, tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "copy" / "onshi.db"
    target.parent.mkdir()
    shutil.copy(original, target)
    shutil.copy(original.with_name("onshi.db.anchor"), target.with_name("onshi.db.anchor"))
    yield target


def _audit_hash(
    keys: FieldKeys,
    entry_id: int,
    prev: str,
    at: str,
    actor: str,
    action: str,
    subject: str,
    detail: str,
) -> str:
    """A hash forged by someone who holds the key (the chain's links must still catch it)."""
    return entry_hash(
        FieldCipher(keys).audit_key, entry_id, prev, at, actor, action, subject, detail
    )


def tamper(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()


def verdict_of(path: Path, keys: FieldKeys) -> tuple[bool, int, int | None, str]:
    store = Store(path, FieldCipher(keys))
    try:
        v = store.verify_audit_detail()
    finally:
        store.close()
    return v.ok, v.checked, v.first_bad_id, v.reason


def row(path: Path, entry_id: int) -> tuple[object, ...]:
    conn = sqlite3.connect(path)
    found = conn.execute("SELECT * FROM audit WHERE id = ?", (entry_id,)).fetchone()
    conn.close()
    return tuple(found)


def test_a_clean_chain_holds(copy: Path, keys: FieldKeys) -> None:
    assert verdict_of(copy, keys) == (True, ENTRIES, None, "")


def test_an_edited_field_is_named(copy: Path, keys: FieldKeys) -> None:
    tamper(copy, ("UPDATE audit SET detail = 'n=999' WHERE id = 4", ()))
    assert verdict_of(copy, keys) == (False, 3, 4, AUDIT_CONTENT_CHANGED)


def test_an_edited_actor_with_a_recomputed_hash_breaks_the_next_link(
    copy: Path, keys: FieldKeys
) -> None:
    _, at, _, action, subject, detail, prev, _ = row(copy, 6)
    forged = _audit_hash(
        keys, 6, str(prev), str(at), "someone", str(action), str(subject), str(detail)
    )
    tamper(copy, ("UPDATE audit SET actor = 'someone', hash = ? WHERE id = 6", (forged,)))
    assert verdict_of(copy, keys) == (False, 6, 7, AUDIT_LINK_BROKEN)


def test_a_deleted_middle_row_is_named_by_the_next(copy: Path, keys: FieldKeys) -> None:
    tamper(copy, ("DELETE FROM audit WHERE id = 5", ()))
    assert verdict_of(copy, keys) == (False, 4, 6, AUDIT_LINK_BROKEN)


def test_an_inserted_row_is_named(copy: Path, keys: FieldKeys) -> None:
    # Make room after entry 3 and insert a well-formed entry linked to it: the next one breaks.
    _, _, _, _, _, _, _, hash3 = row(copy, 3)
    at = (START + timedelta(minutes=3, seconds=30)).isoformat()
    digest = _audit_hash(keys, 4, str(hash3), at, "intruder", "logout", "user:x", "")
    statements: list[tuple[str, tuple[object, ...]]] = [
        ("UPDATE audit SET id = id + 100 WHERE id > 3", ()),
        ("UPDATE audit SET id = id - 99 WHERE id > 100", ()),
        (
            "INSERT INTO audit (id, at, actor, action, subject, detail, prev_hash, hash)"
            " VALUES (4, ?, 'intruder', 'logout', 'user:x', '', ?, ?)",
            (at, hash3, digest),
        ),
    ]
    tamper(copy, *statements)
    # the renumbered entry no longer matches its keyed hash (the id is part of it)
    assert verdict_of(copy, keys) == (False, 4, 5, AUDIT_CONTENT_CHANGED)


def test_an_appended_forgery_is_named(copy: Path, keys: FieldKeys) -> None:
    tamper(
        copy,
        (
            "INSERT INTO audit (at, actor, action, subject, detail, prev_hash, hash)"
            " VALUES ('2026-04-02T00:00:00+00:00', 'x', 'y', 'z', '', ?, ?)",
            (GENESIS_HASH, "0" * 64),
        ),
    )
    assert verdict_of(copy, keys) == (False, ENTRIES, ENTRIES + 1, AUDIT_CONTENT_CHANGED)


def test_two_swapped_rows_are_named(copy: Path, keys: FieldKeys) -> None:
    columns = "at = ?, actor = ?, action = ?, subject = ?, detail = ?, prev_hash = ?, hash = ?"
    seven, eight = row(copy, 7), row(copy, 8)
    tamper(
        copy,
        (f"UPDATE audit SET {columns} WHERE id = 7", tuple(eight[1:])),
        (f"UPDATE audit SET {columns} WHERE id = 8", tuple(seven[1:])),
    )
    assert verdict_of(copy, keys) == (False, 6, 7, AUDIT_CONTENT_CHANGED)  # ids are hashed


def test_the_original_is_untouched_by_the_copies(
    original: Path, copy: Path, keys: FieldKeys
) -> None:
    tamper(copy, ("DELETE FROM audit WHERE id = 2", ()))
    assert verdict_of(original, keys)[0] is True
    assert verdict_of(copy, keys)[2] == 3


def test_verification_reads_in_slices(
    copy: Path, keys: FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sync.store.auditlog

    monkeypatch.setattr(sync.store.auditlog, "_AUDIT_VERIFY_SLICE", 3)
    assert verdict_of(copy, keys) == (True, ENTRIES, None, "")
    tamper(copy, ("UPDATE audit SET subject = 'user:other' WHERE id = 9", ()))
    assert verdict_of(copy, keys) == (False, 8, 9, AUDIT_CONTENT_CHANGED)


# -- audit search ----------------------------------------------------------------------
@pytest.fixture
def store(original: Path, keys: FieldKeys) -> Iterator[Store]:
    s = Store(original, FieldCipher(keys), clock=StepClock(START + timedelta(hours=1)))
    yield s
    s.close()


def ids(entries: list[AuditEntry]) -> list[int]:
    return [e.id for e in entries]


def test_search_newest_first_and_paged(store: Store) -> None:
    assert ids(store.audit_search()) == list(range(ENTRIES, 0, -1))
    first = store.audit_search(limit=4)
    assert ids(first) == [10, 9, 8, 7]
    assert ids(store.audit_search(before_id=first[-1].id, limit=4)) == [6, 5, 4, 3]


def test_search_filters(store: Store) -> None:
    assert ids(store.audit_search(actor="user1")) == [10, 7, 4, 1]
    assert ids(store.audit_search(action="logout")) == [10, 8, 6, 4, 2]
    assert ids(store.audit_search(actor="user1", action="logout")) == [10, 4]
    # subject prefix is exact and case-sensitive: "user:u1" matches u1 and u10 only
    assert ids(store.audit_search(subject_prefix="user:u1")) == [10, 1]
    assert store.audit_search(subject_prefix="USER:") == []
    assert store.audit_search(subject_prefix="user:u1%") == []


def test_search_by_time_in_any_zone(store: Store) -> None:
    at = {e.id: datetime.fromisoformat(e.at) for e in store.audit_search()}
    assert all(t.utcoffset() == timedelta(0) for t in at.values())  # written in UTC
    since = at[3].astimezone(JST)  # asked in Japan time
    assert ids(store.audit_search(since=since, until=at[6])) == [5, 4, 3]
    assert ids(store.audit_search(since=at[9] - timedelta(seconds=1))) == [10, 9]
    assert ids(store.audit_search(until=at[2].astimezone(JST))) == [1]


def test_audit_actions_lists_each_once(store: Store) -> None:
    store.audit("admin", "audit.view", "audit")
    assert store.audit_actions() == ["audit.view", "login.success", "logout"]


# -- stored settings -------------------------------------------------------------------
def test_settings_saved_and_deleted_with_audit(store: Store) -> None:
    assert store.stored_settings() == {}
    store.save_setting("staff_port", "9000", actor="admin", previous="8080")
    store.save_setting("staff_port", "9100", actor="admin")
    store.save_setting("language", "en", actor="boss")
    assert store.stored_settings() == {"language": "en", "staff_port": "9100"}
    store.delete_setting("staff_port", actor="admin")
    store.delete_setting("staff_port", actor="admin")  # nothing left: nothing audited
    assert store.stored_settings() == {"language": "en"}
    changes = store.audit_search(action="setting.changed")
    assert [(e.actor, e.subject, e.detail) for e in reversed(changes)] == [
        ("admin", "setting:staff_port", "8080 → 9000"),
        ("admin", "setting:staff_port", "9000 → 9100"),
        ("boss", "setting:language", " → en"),
        ("admin", "setting:staff_port", "9100 → (既定 / default)"),
    ]
    assert store.verify_audit_detail().ok
