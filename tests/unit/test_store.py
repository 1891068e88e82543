from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sync.clock import utc_now
from sync.codes import Badge
from sync.fieldcrypt import DecryptError, FieldCipher, FieldKeys, KeyFileError
from sync.store import Store, VisitRecord
from sync.xmlmsg import Qualification, QualificationResult, SearchInfo, build_result

NAME, KANA, NUMBER, INSURER, BIRTH = (
    "髙橋 花子",
    "タカハシ ハナコ",
    "73920418",
    "06139015",
    "19800401",
)


def answer(file_id: str, validity: str = "1") -> bytes:
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
                ),
            ),
        )
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.load_or_create(tmp_path / "key")))


def test_answer_round_trip_and_lookups(store: Store) -> None:
    saved = store.save_confirmation(
        file_id="f1", raw_result=answer("f1"), kind="numbers", method="numbers", actor="reception"
    )
    assert saved.badge == Badge.VALID.name
    got = store.confirmation(saved.id)
    assert got is not None and got.result.results[0].name == NAME
    assert [c.id for c in store.find_by_kana("ﾀｶﾊｼ ﾊﾅｺ")] == [saved.id]  # half-width still matches
    assert [c.id for c in store.find_by_birthdate(BIRTH)] == [saved.id]
    assert [c.id for c in store.find_by_numbers("06139015", "記号1", NUMBER)] == [saved.id]
    assert store.find_by_numbers("06139015", "記号1", "1") == []
    assert [c.id for c in store.recent_confirmations(utc_now().replace(hour=0))] == [saved.id]


def test_no_plaintext_personal_data_in_the_file(store: Store, tmp_path: Path) -> None:
    store.save_confirmation(
        file_id="f1", raw_result=answer("f1"), kind="numbers", method="numbers", actor="reception"
    )
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("onshi.db*"))
    for secret in (NAME, KANA, NUMBER, INSURER, BIRTH, "記号１"):
        assert secret.encode() not in raw, secret


def test_a_value_moved_to_another_row_does_not_decrypt(store: Store, tmp_path: Path) -> None:
    a = store.save_confirmation(
        file_id="a", raw_result=answer("a"), kind="numbers", method="numbers", actor="t"
    )
    b = store.save_confirmation(
        file_id="b", raw_result=answer("b"), kind="numbers", method="numbers", actor="t"
    )
    store.close()
    db = sqlite3.connect(tmp_path / "onshi.db")
    db.execute(
        "UPDATE confirmations SET enc_result = (SELECT enc_result FROM confirmations"
        " WHERE id = ?) WHERE id = ?",
        (a.id, b.id),
    )
    db.commit()
    db.close()
    reopened = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.load_or_create(tmp_path / "key")))
    with pytest.raises(DecryptError):
        reopened.confirmation(b.id)


def test_duplicate_file_id_changes_nothing(store: Store) -> None:
    store.save_confirmation(
        file_id="f1", raw_result=answer("f1"), kind="numbers", method="numbers", actor="t"
    )
    audit_before = len(store.audit_entries())
    with pytest.raises(sqlite3.IntegrityError):
        store.save_confirmation(
            file_id="f1", raw_result=answer("f1"), kind="numbers", method="numbers", actor="t"
        )
    assert store.count_confirmations() == 1
    assert len(store.audit_entries()) == audit_before


def test_visit_and_confirmation_in_one_transaction(store: Store) -> None:
    now = utc_now()
    visit = VisitRecord("v1", now, now, "Virtual PCD 00 00", "pin", "done", file_id="f1")
    store.save_confirmation(
        file_id="f1",
        raw_result=answer("f1"),
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
            kind="card",
            method="pin",
            actor="reader",
            visit=visit,
        )
    assert store.count_confirmations() == 1


def test_migrations_run_once(tmp_path: Path) -> None:
    keys = FieldKeys.load_or_create(tmp_path / "key")
    Store(tmp_path / "db", FieldCipher(keys)).close()
    again = Store(tmp_path / "db", FieldCipher(keys))
    assert again.schema_version == 1


def test_audit_chain_names_the_first_tampered_entry(store: Store, tmp_path: Path) -> None:
    for i in range(5):
        store.audit("admin", "settings.change", f"setting:{i}")
    assert store.verify_audit() is None
    store.close()
    db = sqlite3.connect(tmp_path / "onshi.db")
    db.execute("UPDATE audit SET actor = 'mallory' WHERE id = 3")
    db.commit()
    db.close()
    reopened = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.load_or_create(tmp_path / "key")))
    assert reopened.verify_audit() == 3


def test_key_file_is_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "key"
    FieldKeys.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        FieldKeys.load_or_create(path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(KeyFileError, match="wrong size"):
        FieldKeys.load_or_create(path)
