"""sync/store: one instant format (and migration 6 that brings old rows to it), named errors,
and an answer parsed once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import sync.store
import sync.store.visits
from device.accounts import AccountError, Accounts
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import MIGRATIONS, Store, UserExists, VisitRecord, instant_of, instant_text
from sync.xmlmsg import QualificationResult, parse_result

from .test_store import answer

FIXED_WIDTH = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
# Every instant column after migration 6 (audit.at is signed as written: not one of them).
INSTANT_COLUMNS = {
    "visits": ("started_at", "ended_at"),
    "confirmations": ("created_at",),
    "consents": ("consented_at", "available_until"),
    "clinical_cache": ("fetched_at", "expires_at"),
    "users": ("created_at", "password_changed_at"),
    "sessions": ("created_at", "last_seen"),
    "schema_migrations": ("applied_at",),
}
DROPPED = {
    "confirmations": {"care_date", "segment", "validity"},
    "settings": {"changed_at", "changed_by"},
    "retention_state": {"changed_at"},
}


@pytest.fixture
def keys() -> FieldKeys:
    return FieldKeys.generate()


@pytest.fixture
def store(tmp_path: Path, keys: FieldKeys) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(keys))
    yield s
    s.close()


def test_instant_text_is_fixed_width_utc_and_sorts_as_time() -> None:
    instants = [
        datetime(999, 1, 1, tzinfo=UTC),
        datetime(2026, 4, 1, 0, 0, tzinfo=JST),  # 2026-03-31 15:00 UTC
        datetime(2026, 3, 31, 15, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 4, 1, 0, 30, tzinfo=UTC),
        datetime(2026, 4, 1, 10, 30, tzinfo=JST),  # 01:30 UTC: after 00:30 UTC
    ]
    texts = [instant_text(at) for at in instants]
    assert all(FIXED_WIDTH.match(text) for text in texts), texts
    assert sorted(texts) == texts
    assert [instant_of(text) for text in texts] == instants
    assert instant_text(datetime(2026, 4, 1, tzinfo=JST)) == "2026-03-31T15:00:00.000000+00:00"
    with pytest.raises(ValueError):
        instant_text(datetime(2026, 4, 1))


# Old rows as versions up to 5 wrote them: isoformat() of whatever clock, microseconds only
# when not zero, in the writer's offset.
T_WHOLE = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)  # "…T02:00:00+00:00": no microseconds
T_JST = datetime(2026, 4, 1, 10, 30, 0, 250, tzinfo=JST)  # "+09:00"
T_MICRO = datetime(2026, 4, 1, 1, 59, 59, 999999, tzinfo=UTC)


def version_5_database(path: Path, keys: FieldKeys, monkeypatch: pytest.MonkeyPatch) -> int:
    """A database at migration 5 with rows in the old text forms; the confirmation's id."""
    monkeypatch.setattr(sync.store, "MIGRATIONS", MIGRATIONS[:5])
    old = Store(path, FieldCipher(keys))
    assert old.schema_version == 5
    cipher = FieldCipher(keys)
    old.audit("admin", "settings.change", "setting:x")  # written before: must still verify
    with old._lock:
        db = old._db
        db.execute(
            "INSERT INTO visits VALUES (?,?,?,?,?,?,?,?,?)",
            ["v1", T_WHOLE.isoformat(), T_JST.isoformat(), "r", "pin", "done", "", "f1", ""],
        )
        row_id = int(
            db.execute(
                "INSERT INTO confirmations (file_id, visit_id, created_at, care_date, kind,"
                " method, source, badge, segment, validity, enc_result)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    "f1",
                    "v1",
                    T_JST.isoformat(),
                    "20260401",
                    "card",
                    "pin",
                    "online",
                    "VALID",
                    "1",
                    "1",
                    cipher.encrypt(answer("f1"), "confirmations.enc_result:f1"),
                ],
            ).lastrowid
            or 0
        )
        db.execute(
            "INSERT INTO consents VALUES (?,?,?,?,?)",
            [row_id, "drug", "1", T_MICRO.isoformat(), T_WHOLE.isoformat()],
        )
        db.execute(
            "INSERT INTO clinical_cache VALUES (?,?,?,?,?)",
            [
                row_id,
                "drug",
                T_WHOLE.isoformat(),
                T_JST.isoformat(),
                cipher.encrypt(b"<drug/>", f"clinical_cache.enc_data:{row_id}:drug"),
            ],
        )
        db.execute(
            "INSERT INTO users (username, display_name, roles, password_hash, created_at,"
            " password_changed_at) VALUES ('suzuki', 'S', 'reception', 'h', ?, ?)",
            [T_JST.isoformat(), T_WHOLE.isoformat()],
        )
        db.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen)"
            " VALUES ('t', 1, 'c', ?, ?)",
            [T_WHOLE.isoformat(), T_MICRO.isoformat()],
        )
        db.execute(
            "INSERT INTO settings VALUES ('retention_years', '5', ?, 'admin')",
            [T_JST.isoformat()],
        )
        db.execute(
            "INSERT INTO retention_state VALUES ('newest_seen', ?, ?)",
            [T_JST.isoformat(), T_JST.isoformat()],
        )
    old.close()
    monkeypatch.undo()
    return row_id


def test_migration_6_keeps_every_instant_in_the_one_form(
    tmp_path: Path, keys: FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "onshi.db"
    row_id = version_5_database(path, keys, monkeypatch)

    new = Store(path, FieldCipher(keys))
    try:
        assert new.schema_version == len(MIGRATIONS)
        # the same instants read back
        assert new.visit("v1") == VisitRecord("v1", T_WHOLE, T_JST, "r", "pin", "done", "", "f1")
        got = new.confirmation(row_id)
        assert got is not None and got.created_at == T_JST
        assert [(c.kind, c.consented_at, c.available_until) for c in new.consents(row_id)] == [
            ("drug", T_MICRO, T_WHOLE)
        ]
        cached = new.clinical_cache(row_id, "drug", T_JST - timedelta(seconds=1))
        assert cached is not None and (cached.fetched_at, cached.expires_at) == (T_WHOLE, T_JST)
        user = new.user_by_username("suzuki")
        assert user is not None and user.created_at == T_JST
        session = new.session("t")
        assert session is not None and (session.created_at, session.last_seen) == (
            T_WHOLE,
            T_MICRO,
        )
        assert new.stored_settings() == {"retention_years": "5"}
        # every stored instant in the one text form, the dropped columns gone
        with new._lock:
            for table, columns in INSTANT_COLUMNS.items():
                for column in columns:
                    values = [
                        r[0]
                        for r in new._db.execute(f"SELECT {column} FROM {table}").fetchall()
                        if r[0]
                    ]
                    assert values and all(FIXED_WIDTH.match(v) for v in values), (table, values)
            watermark = new._db.execute("SELECT value FROM retention_state").fetchone()[0]
            assert watermark == instant_text(T_JST)
            for table, dropped in DROPPED.items():
                names = {r[1] for r in new._db.execute(f"PRAGMA table_info({table})").fetchall()}
                assert names and not names & dropped, table
        # text comparisons now see the instants: 10:30 JST is before 02:00 UTC the same day
        assert new.recent_confirmations(T_WHOLE) == []
        assert [c.id for c in new.recent_confirmations(T_JST)] == [row_id]
        assert new.verify_audit() is None  # audit.at was left as it was hashed
        new.save_setting("retention_years", "6", actor="admin")  # writes the new shape
        assert new.stored_settings() == {"retention_years": "6"}
    finally:
        new.close()


def test_a_username_taken_is_a_named_error(store: Store) -> None:
    store.add_user("suzuki", "鈴木", ("reception",), "h")
    with pytest.raises(UserExists) as taken:
        store.add_user("suzuki", "別人", ("admin",), "h2")
    assert taken.value.username == "suzuki"
    assert store.count_users() == 1


def test_a_user_created_meanwhile_is_the_accounts_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = Accounts(store)
    accounts.create_user("suzuki", "鈴木", ["reception"], "correct horse battery", actor="k")
    # another request created it between the accounts' look-up and its insert
    monkeypatch.setattr(store, "user_by_username", lambda username: None)
    with pytest.raises(AccountError):
        accounts.create_user("suzuki", "別人", ["admin"], "correct horse battery", actor="k")
    assert store.count_users() == 1


def test_save_confirmation_does_not_parse_the_answer_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = answer("f1")
    parsed = parse_result(raw)

    def no_parsing(raw: bytes) -> QualificationResult:
        raise AssertionError("parsed a second time")

    monkeypatch.setattr(sync.store.visits, "parse_result", no_parsing)
    saved = store.save_confirmation(
        file_id="f1", raw_result=raw, result=parsed, kind="card", method="pin", actor="r"
    )
    assert saved.result is parsed
    monkeypatch.undo()
    stored = store.confirmation(saved.id)
    assert stored is not None and stored.result == parsed
    assert store.confirmation_raw(saved.id) == raw


def test_retention_compares_the_converted_text(store: Store) -> None:
    bound = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
    for file_id, at in (("old", bound - timedelta(microseconds=1)), ("kept", bound)):
        store._clock = lambda at=at: at
        store.save_confirmation(
            file_id=file_id,
            raw_result=answer(file_id),
            result=parse_result(answer(file_id)),
            kind="card",
            method="pin",
            actor="r",
        )
    store._clock = lambda: bound + timedelta(days=1)
    assert store.purge_older_than(bound.astimezone(JST), actor="system") == (1, 0)
    assert [c.file_id for c in store.recent_confirmations(bound - timedelta(days=1))] == ["kept"]
