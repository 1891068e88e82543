from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import sync.store
from sync.clock import JST, utc_now
from sync.codes import Verdict as Badge
from sync.fieldcrypt import DecryptError, FieldCipher, FieldKeys, KeyFileError
from sync.store import MIGRATIONS, ConsentRecord, Store, VisitRecord
from sync.store.auditlog import AuditLog
from sync.store.database import Database
from sync.xmlmsg import (
    ConsentState,
    Qualification,
    QualificationResult,
    SearchInfo,
    build_result,
    parse_result,
)

NAME, KANA, NUMBER, INSURER, BIRTH = (
    "髙橋 花子",
    "タカハシ ハナコ",
    "73920418",
    "06139015",
    "19800401",
)


def answer(file_id: str, validity: str = "1", consents: tuple[ConsentState, ...] = ()) -> bytes:
    return build_result(
        QualificationResult(
            process_time="20261122101500",
            confirmation_date="20261122",
            medical_institution_code="1312345670",
            file_id=file_id,
            reference_classification="2",
            segment_of_result="1",
            processing_status="1",
            validity=validity,
            search=SearchInfo(INSURER, NUMBER, BIRTH, symbol="記号１"),
            results=(
                Qualification(
                    insurer_number=INSURER,
                    symbol="記号１",
                    number=NUMBER,
                    name=NAME,
                    name_kana=KANA,
                    birthdate=BIRTH,
                    contribution_ratio="030",
                    consents=consents,
                ),
            ),
        )
    )


def keys_at(path: Path) -> FieldKeys:
    """The test's key file: made on first use, read after."""
    return FieldKeys.load(path) if path.exists() else FieldKeys.create(path)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "onshi.db", FieldCipher(keys_at(tmp_path / "key")))


def test_answer_round_trip_and_lookups(store: Store) -> None:
    saved = store.save_confirmation(
        file_id="f1",
        raw_result=answer("f1"),
        result=parse_result(answer("f1")),
        kind="numbers",
        method="numbers",
        actor="reception",
    )
    assert saved.badge == Badge.VALID.name
    got = store.confirmation(saved.id)
    assert got is not None and got.result.results[0].name == NAME
    assert [c.id for c in store.find_by_kana("ﾀｶﾊｼ ﾊﾅｺ")] == [saved.id]  # half-width still matches
    assert [c.id for c in store.find_by_birthdate(BIRTH)] == [saved.id]
    assert [c.id for c in store.find_by_numbers("06139015", "記号1", NUMBER)] == [saved.id]
    assert store.find_by_numbers("06139015", "記号1", "1") == []
    # Since a minute before the save: "now with the hour set to 0" is now itself in the first
    # hour of a UTC day, after the save.
    since = saved.created_at - timedelta(minutes=1)
    assert [c.id for c in store.recent_confirmations(since)] == [saved.id]


def test_no_plaintext_personal_data_in_the_file(store: Store, tmp_path: Path) -> None:
    store.save_confirmation(
        file_id="f1",
        raw_result=answer("f1"),
        result=parse_result(answer("f1")),
        kind="numbers",
        method="numbers",
        actor="reception",
    )
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("onshi.db*"))
    for secret in (NAME, KANA, NUMBER, INSURER, BIRTH, "記号１"):
        assert secret.encode() not in raw, secret


def test_a_value_moved_to_another_row_does_not_decrypt(store: Store, tmp_path: Path) -> None:
    a = store.save_confirmation(
        file_id="a",
        raw_result=answer("a"),
        result=parse_result(answer("a")),
        kind="numbers",
        method="numbers",
        actor="t",
    )
    b = store.save_confirmation(
        file_id="b",
        raw_result=answer("b"),
        result=parse_result(answer("b")),
        kind="numbers",
        method="numbers",
        actor="t",
    )
    store.close()
    db = sqlite3.connect(tmp_path / "onshi.db")
    db.execute(
        "UPDATE confirmations SET enc_result = (SELECT enc_result FROM confirmations"
        " WHERE id = ?) WHERE id = ?",
        (a.id, b.id),
    )
    db.commit()
    reopened = Store(tmp_path / "onshi.db", FieldCipher(keys_at(tmp_path / "key")))
    moved = reopened.confirmation(b.id)
    assert moved is not None  # its summary is its own: the list row reads
    with pytest.raises(DecryptError):
        _ = moved.result  # the whole answer does not
    reopened.close()
    # A summary moved to another row does not decrypt either.
    db.execute(
        "UPDATE confirmations SET enc_summary = (SELECT enc_summary FROM confirmations"
        " WHERE id = ?) WHERE id = ?",
        (a.id, b.id),
    )
    db.commit()
    db.close()
    reopened = Store(tmp_path / "onshi.db", FieldCipher(keys_at(tmp_path / "key")))
    with pytest.raises(DecryptError):
        reopened.confirmation(b.id)


def test_duplicate_file_id_changes_nothing(store: Store) -> None:
    store.save_confirmation(
        file_id="f1",
        raw_result=answer("f1"),
        result=parse_result(answer("f1")),
        kind="numbers",
        method="numbers",
        actor="t",
    )
    audit_before = len(store.audit_entries())
    with pytest.raises(sqlite3.IntegrityError):
        store.save_confirmation(
            file_id="f1",
            raw_result=answer("f1"),
            result=parse_result(answer("f1")),
            kind="numbers",
            method="numbers",
            actor="t",
        )
    assert store.count_confirmations() == 1
    assert len(store.audit_entries()) == audit_before


def test_visit_and_confirmation_in_one_transaction(store: Store) -> None:
    now = utc_now()
    visit = VisitRecord("v1", now, now, "Virtual PCD 00 00", "pin", "done", file_id="f1")
    store.save_confirmation(
        file_id="f1",
        raw_result=answer("f1"),
        result=parse_result(answer("f1")),
        kind="card",
        method="pin",
        actor="reader",
        visit=visit,
    )
    assert store.visit("v1") == visit
    with pytest.raises(sqlite3.IntegrityError):  # same visit id again: nothing new stored
        store.save_confirmation(
            file_id="f2",
            raw_result=answer("f2"),
            result=parse_result(answer("f2")),
            kind="card",
            method="pin",
            actor="reader",
            visit=visit,
        )
    assert store.count_confirmations() == 1


def test_migrations_run_once(tmp_path: Path) -> None:
    keys = keys_at(tmp_path / "key")
    Store(tmp_path / "db", FieldCipher(keys)).close()
    again = Store(tmp_path / "db", FieldCipher(keys))
    assert again.schema_version == len(MIGRATIONS) == 24


def test_audit_chain_names_the_first_tampered_entry(store: Store, tmp_path: Path) -> None:
    for i in range(5):
        store.audit("admin", "settings.change", f"setting:{i}")
    assert store.verify_audit() is None
    store.close()
    db = sqlite3.connect(tmp_path / "onshi.db")
    db.execute("UPDATE audit SET actor = 'mallory' WHERE id = 3")
    db.commit()
    db.close()
    reopened = Store(tmp_path / "onshi.db", FieldCipher(keys_at(tmp_path / "key")))
    assert reopened.verify_audit() == 3


def test_key_file_is_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "key"
    with pytest.raises(KeyFileError, match="no key file"):
        FieldKeys.load(path)
    made = FieldKeys.create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert FieldKeys.load(path) == made
    with pytest.raises(FileExistsError):
        FieldKeys.create(path)  # never over a key that exists
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        FieldKeys.load(path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(KeyFileError, match="wrong size"):
        FieldKeys.load(path)


def test_a_version_1_database_migrates_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = keys_at(tmp_path / "key")
    monkeypatch.setattr(sync.store, "MIGRATIONS", MIGRATIONS[:1])
    # version 1 had no key check and an unkeyed chain
    monkeypatch.setattr(Database, "check_key", lambda self, samples: None)
    monkeypatch.setattr(AuditLog, "key_chain", lambda self: None)
    old = Store(tmp_path / "db", FieldCipher(keys))
    assert old.schema_version == 1
    now = utc_now()
    with old._lock:  # a visit row as version 1 wrote it: eight columns, no staff
        old._db.execute(
            "INSERT INTO visits VALUES (?,?,?,?,?,?,?,?)",
            ["v1", now.isoformat(), now.isoformat(), "r", "pin", "done", "", "f1"],
        )
    sealed = FieldCipher(keys).encrypt(answer("f1"), "confirmations.enc_result:f1")
    with old._lock:  # an answer as version 1 wrote it: care_date, segment, validity (gone in 6)
        row_id = old._db.execute(
            "INSERT INTO confirmations (file_id, visit_id, created_at, care_date, kind, method,"
            " source, badge, segment, validity, enc_result) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                "f1",
                "v1",
                now.isoformat(),
                "20261122",
                "card",
                "pin",
                "online",
                "VALID",
                "1",
                "1",
                sealed,
            ],
        ).lastrowid
    saved_id = int(row_id or 0)
    assert saved_id > 0
    old.close()
    monkeypatch.undo()

    new = Store(tmp_path / "db", FieldCipher(keys))
    assert new.schema_version == len(MIGRATIONS)
    assert new.visit("v1") == VisitRecord("v1", now, now, "r", "pin", "done", "", "f1", staff="")
    got = new.confirmation(saved_id)
    assert got is not None and got.result.results[0].name == NAME
    assert got.earlier_id is None and not got.offline
    assert new.consents(saved_id) == []
    assert new.count_users() == 0
    visual = VisitRecord("v2", now, now, "r", "visual", "done", file_id="f2", staff="suzuki")
    new.save_confirmation(
        file_id="f2",
        raw_result=answer("f2"),
        result=parse_result(answer("f2")),
        kind="card",
        method="visual",
        actor="reader",
        visit=visual,
    )
    assert new.visit("v2") == visual


def test_consent_flags_of_the_first_result_are_stored(store: Store) -> None:
    consents = (
        ConsentState("drug", "1", "20261122101400", "20261123101400"),
        ConsentState("checkup", "0", "20261122101400"),
        ConsentState("surgery", "3", "20261340101400"),  # right shape, impossible month
    )
    saved = store.save_confirmation(
        file_id="c1",
        raw_result=answer("c1", consents=consents),
        result=parse_result(answer("c1", consents=consents)),
        kind="card",
        method="pin",
        actor="reader",
    )
    got = {c.kind: c for c in store.consents(saved.id)}
    assert set(got) == {"drug", "checkup", "surgery"}
    drug = got["drug"]
    assert drug == ConsentRecord(
        saved.id,
        "drug",
        "1",
        datetime(2026, 11, 22, 10, 14, tzinfo=JST),
        datetime(2026, 11, 23, 10, 14, tzinfo=JST),
    )
    assert drug.agreed and drug.available_until is not None
    assert drug.available_until.astimezone(UTC) == datetime(2026, 11, 23, 1, 14, tzinfo=UTC)
    assert not got["checkup"].agreed and got["checkup"].available_until is None
    assert (got["surgery"].flag, got["surgery"].consented_at) == ("3", None)
    assert store.consents(saved.id + 1) == []
    plain = store.save_confirmation(
        file_id="c2",
        raw_result=answer("c2"),
        result=parse_result(answer("c2")),
        kind="numbers",
        method="numbers",
        actor="t",
    )
    assert store.consents(plain.id) == []


def test_clinical_cache_is_encrypted_bound_and_expires(store: Store, tmp_path: Path) -> None:
    a = store.save_confirmation(
        file_id="a",
        raw_result=answer("a"),
        result=parse_result(answer("a")),
        kind="card",
        method="pin",
        actor="t",
    )
    b = store.save_confirmation(
        file_id="b",
        raw_result=answer("b"),
        result=parse_result(answer("b")),
        kind="card",
        method="pin",
        actor="t",
    )
    t0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    secret = "ロキソプロフェン錠60mg".encode()
    store.put_clinical_cache(a.id, "drug", secret, t0, t0 + timedelta(hours=24))
    store.put_clinical_cache(a.id, "checkup", b"<checkup/>", t0, t0 + timedelta(hours=1))
    store.put_clinical_cache(b.id, "drug", b"<b/>", t0, t0 + timedelta(hours=2))
    cached = store.clinical_cache(a.id, "drug", t0 + timedelta(hours=23))
    assert cached is not None
    assert (cached.data, cached.fetched_at, cached.expires_at) == (
        secret,
        t0,
        t0 + timedelta(hours=24),
    )
    assert store.clinical_cache(a.id, "drug", t0 + timedelta(hours=24)) is None  # expired
    assert store.clinical_cache(a.id, "surgery", t0) is None
    # replacing keeps one row per (confirmation, kind)
    store.put_clinical_cache(a.id, "drug", b"newer", t0, t0 + timedelta(hours=24))
    again = store.clinical_cache(a.id, "drug", t0)
    assert again is not None and again.data == b"newer"
    assert store.purge_clinical_cache(t0 + timedelta(hours=1, minutes=30)) == 1
    assert store.clinical_cache(a.id, "checkup", t0) is None
    assert store.clinical_cache(b.id, "drug", t0) is not None
    store.put_clinical_cache(a.id, "drug", secret, t0, t0 + timedelta(hours=24))
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("onshi.db*"))
    assert secret not in raw
    db = sqlite3.connect(tmp_path / "onshi.db")  # move a's blob onto b's row: it must not open
    db.execute(
        "UPDATE clinical_cache SET enc_data = (SELECT enc_data FROM clinical_cache"
        " WHERE confirmation_id = ? AND kind = 'drug') WHERE confirmation_id = ?",
        (a.id, b.id),
    )
    db.commit()
    db.close()
    reopened = Store(tmp_path / "onshi.db", FieldCipher(keys_at(tmp_path / "key")))
    with pytest.raises(DecryptError):
        reopened.clinical_cache(b.id, "drug", t0)


def test_cache_rows_go_with_their_confirmation(store: Store) -> None:
    saved = store.save_confirmation(
        file_id="a",
        raw_result=answer("a", consents=(ConsentState("drug", "1"),)),
        result=parse_result(answer("a", consents=(ConsentState("drug", "1"),))),
        kind="card",
        method="pin",
        actor="t",
    )
    t0 = utc_now()
    store.put_clinical_cache(saved.id, "drug", b"x", t0, t0 + timedelta(hours=1))
    with store._lock:
        store._db.execute("DELETE FROM confirmations WHERE id = ?", [saved.id])
    assert store.consents(saved.id) == []
    assert store.clinical_cache(saved.id, "drug", t0) is None


def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.purge_clinical_cache(datetime(2026, 1, 1))


def test_users_and_sessions_rows(store: Store) -> None:
    user = store.add_user("suzuki", "鈴木 一郎", ("reception", "clinical"), "$argon2id$x")
    assert store.user(user.id) == user == store.user_by_username("suzuki")
    assert user.roles == ("reception", "clinical") and not user.disabled
    assert store.user_by_username("nobody") is None and store.user(999) is None
    assert store.count_users() == 1
    with pytest.raises(sqlite3.IntegrityError):
        store.add_user("suzuki", "別人", ("admin",), "$argon2id$y")
    t0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    row = store.add_session("h1", user.id, "csrf1", "127.0.0.1", at=t0)
    assert store.session("h1") == row
    store.touch_session("h1", t0 + timedelta(minutes=5))
    touched = store.session("h1")
    assert touched is not None and touched.last_seen == t0 + timedelta(minutes=5)
    assert touched.created_at == t0
    store.add_session("h2", user.id, "csrf2", "", at=t0 + timedelta(hours=1))
    purged = store.purge_sessions(
        seen_before=t0 + timedelta(minutes=30), created_before=t0 - timedelta(hours=1)
    )
    assert purged == 1 and store.session("h1") is None and store.session("h2") is not None
    store.delete_session("h2")
    assert store.session("h2") is None
    store.add_session("h3", user.id, "csrf3", "")
    store.set_user_disabled(user.id, True)
    disabled = store.user(user.id)
    assert disabled is not None and disabled.disabled
    assert store.session("h3") is None  # disabling ends the user's sessions


def test_retention_purge_deletes_old_confirmations_and_visits_in_one_audited_step(
    tmp_path: Path,
) -> None:
    now = [datetime(2026, 5, 1, 0, 0, 0, 1, tzinfo=UTC)]
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: now[0])
    bound = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)

    def confirmation_at(at: datetime, file_id: str) -> int:
        now[0] = at
        visit = VisitRecord(f"v-{file_id}", at, at, "r", "pin", "done", file_id=file_id)
        return store.save_confirmation(
            file_id=file_id,
            raw_result=answer(file_id, consents=(ConsentState("drug", "1"),)),
            result=parse_result(answer(file_id, consents=(ConsentState("drug", "1"),))),
            kind="card",
            method="pin",
            actor="reader",
            visit=visit,
        ).id

    old = confirmation_at(bound - timedelta(days=1), "old")
    # 10:30 in Japan is 01:30 UTC: older, though its text sorts after the bound's
    old_jst = confirmation_at(datetime(2026, 4, 1, 10, 30, tzinfo=JST), "old-jst")
    old_micro = confirmation_at(bound - timedelta(microseconds=5000), "old-micro")
    at_bound = confirmation_at(bound, "at-bound")  # not older than the bound: kept
    new = confirmation_at(bound + timedelta(days=1), "new")
    store.record_visit(VisitRecord("aborted-old", bound, bound - timedelta(hours=1), "r", "", "x"))
    store.record_visit(VisitRecord("aborted-new", bound, bound + timedelta(hours=1), "r", "", "x"))
    store.put_clinical_cache(old, "drug", b"<old/>", bound, bound + timedelta(days=9))
    store.put_clinical_cache(new, "drug", b"<new/>", bound, bound + timedelta(days=9))
    audit_before = [e.hash for e in store.audit_entries()]
    now[0] = datetime(2026, 5, 2, tzinfo=UTC)

    assert store.purge_older_than(bound, actor="system") == (3, 4)

    assert [store.confirmation(i) is None for i in (old, old_jst, old_micro, at_bound, new)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert store.visit("v-old") is None and store.visit("aborted-old") is None
    assert store.visit("v-new") is not None and store.visit("aborted-new") is not None
    assert store.count_visits() == 3
    assert store.consents(old) == [] and store.consents(new) != []  # ON DELETE CASCADE
    assert store.clinical_cache(old, "drug", bound) is None
    assert store.clinical_cache(new, "drug", bound) is not None
    entries = store.audit_entries()
    assert [e.hash for e in entries[1:]] == audit_before  # nothing of the audit log purged
    last = entries[0]
    assert (last.actor, last.action, last.subject, last.detail) == (
        "system",
        "retention.purged",
        "confirmations",
        "confirmations=3 visits=4 before=2026-04-01T02:00:00+00:00",
    )
    assert store.verify_audit() is None
    assert store.purge_older_than(bound, actor="system") == (0, 0)
    assert len(store.audit_entries()) == len(entries)  # nothing purged: nothing audited
    with pytest.raises(ValueError):
        store.purge_older_than(datetime(2026, 4, 1), actor="system")
    store.close()


def test_alerts_written_with_zero_for_none_read_back_as_none_after_migration_11(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = keys_at(tmp_path / "key")
    monkeypatch.setattr(sync.store, "MIGRATIONS", MIGRATIONS[:10])
    old = Store(tmp_path / "db", FieldCipher(keys))
    assert old.schema_version == 10
    with old._lock:  # a given-up alert as version 10 wrote it: 0 for "no confirmation"
        old._db.execute(
            "INSERT INTO outbox_alerts (outbox_id, earlier_id, answer_id, changes, created_at)"
            " VALUES (1, 0, 0, 'unanswered', '2026-04-01T00:00:00.000000Z'),"
            " (2, 5, 6, 'ratio', '2026-04-01T00:00:00.000000Z')"
        )
    old.close()
    monkeypatch.undo()
    new = Store(tmp_path / "db", FieldCipher(keys))
    try:
        assert new.schema_version == len(MIGRATIONS)
        alerts = sorted(new.outbox_alerts(open_only=False), key=lambda a: a.outbox_id)
        assert [(a.earlier_id, a.answer_id, a.changes) for a in alerts] == [
            (None, None, ("unanswered",)),
            (5, 6, ("ratio",)),
        ]
    finally:
        new.close()
