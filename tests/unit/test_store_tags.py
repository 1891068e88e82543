"""Keyed hashes kept as 16-byte tags (issue 15): what a new store writes, and migration 24, which
cuts the hex blind indexes of a store written before it, after which every look-up finds the
same rows as before."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

import sync.store
from sync.fieldcrypt import TAG_BYTES, FieldCipher, FieldKeys, tag_of_stored
from sync.store import MIGRATIONS, AppointmentInput, Store, VisitRecord
from sync.store.appointments import PERSON_FIELDS
from sync.store.database import Database, _statements
from sync.store.schema import Rewrite
from sync.xmlmsg import QualificationResult, build_result, parse_result

from .test_store import BIRTH, INSURER, KANA, NUMBER, answer

NOW = datetime(2026, 11, 22, 1, 15, tzinfo=UTC)
TAGS_MIGRATION = 24
# Every look-up column holding a keyed tag, by table.
TAG_COLUMNS = {
    "confirmations": (
        "bi_kana",
        "bi_birthdate",
        "bi_numbers",
        "bi_card",
        "bi_kana_family",
        "bi_kana_given",
        "bi_insurer",
    ),
    "appointments": ("bi_patient", "bi_numbers", "bi_birthdate"),
}
TAG_INDEXES = {
    "confirmations_kana",
    "confirmations_birthdate",
    "confirmations_numbers",
    "confirmations_bi_card",
    "confirmations_kana_family",
    "confirmations_kana_given",
    "confirmations_insurer",
    "appointments_numbers",
}


def _hex_index(database: Database, purpose: str, value: str) -> bytes | str:
    """What a look-up column kept before migration 24 (the code of then): the whole blind
    index in hex, "" for no value."""
    return database.cipher.blind_index(purpose, value) if value else ""


@contextmanager
def written_before_tags(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stores opened inside are built with migrations 1-23 and written as that code wrote."""
    with monkeypatch.context() as patch:
        patch.setattr(sync.store, "MIGRATIONS", MIGRATIONS[: TAGS_MIGRATION - 1])
        patch.setattr(Database, "lookup_tag", _hex_index)
        patch.setattr(sync.store.visits, "_NO_TAGS", ",".join(["''"] * 6))
        yield


def save(
    store: Store, raw: bytes, card: str, visit: VisitRecord | None = None
) -> sync.store.Confirmation:
    """An answer as the card flow saves it, or as a numbers check does (no card)."""
    result = parse_result(raw)
    return store.save_confirmation(
        file_id=result.file_id,
        raw_result=raw,
        result=result,
        kind="card" if card else "numbers",
        method="pin" if card else "numbers",
        actor="reader",
        visit=visit,
        card=card,
    )


def fill(store: Store) -> None:
    """Answers of two cards (one also visited offline, a 申立書 made from that visit), a
    numbers check with no card, a card's answer of nobody (not found), and two appointments
    (one with a patient number, one without)."""
    for i, card in enumerate(("card-a", "card-b", "")):
        visit = VisitRecord(f"v{i}", NOW, NOW, "r", "pin", "done", file_id=f"f{i}")
        save(store, answer(f"f{i}"), card, visit)
    nobody = build_result(
        QualificationResult(
            process_time="20261122101500",
            confirmation_date="20261122",
            medical_institution_code="1312345670",
            file_id="n1",
            reference_classification="2",
            segment_of_result="1",
            processing_status="1",
            validity="4",  # not found: no name, no numbers, nothing to index but the card
            results=(),
        )
    )
    save(store, nobody, "card-c")
    offline = store.save_offline_visit(
        file_id="o1",
        visit=VisitRecord("vo", NOW, NOW, "r", "pin", "done", file_id="o1"),
        card="card-a",
        earlier_id=1,
        actor="reader",
        recheck=None,
    )
    store.save_statement({"name": "髙橋 花子"}, actor="desk", confirmation_id=offline.id)
    day = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    store.import_appointments(
        [
            AppointmentInput("P-1", KANA, BIRTH, INSURER, "記号１", NUMBER, "", day),
            AppointmentInput("", "ヤマダ タロウ", "19700101", INSURER, "記号２", "1", "", day),
        ],
        actor="reception",
        source="upload",
    )


def lookups(store: Store) -> dict[str, object]:
    """What every look-up by a keyed hash finds, by row ids."""

    def ids(rows: list[sync.store.Confirmation]) -> list[int]:
        return [row.id for row in rows]

    def appointment(*key: str) -> int | None:
        row = store.appointment_for_arrival(*key)
        return row.id if row else None

    def card(name: str) -> int | None:
        row = store.last_card_answer(name)
        return row.id if row else None

    return {
        "card-a": card("card-a"),
        "card-b": card("card-b"),
        "card-c": card("card-c"),  # an answer of nobody
        "card-none": card("card-z"),
        "kana": ids(store.find_by_kana("ﾀｶﾊｼ ﾊﾅｺ")),  # normalised as before: NFKC, no spaces
        "family": ids(store.find_by_kana("タカハシ")),
        "given": ids(store.find_by_kana("ハナコ")),
        "numbers": ids(store.find_by_numbers(INSURER, "記号１", NUMBER)),
        "birthdate": ids(store.find_by_birthdate(BIRTH)),
        "insurer": ids(store.find_by_insurer("6139015")),  # leading zero dropped
        "nobody": ids(store.find_by_kana("サトウ")),
        "by reference": appointment(INSURER, "記号１", NUMBER, BIRTH, "20261123", "P-1"),
        "by numbers": appointment(INSURER, "記号２", "1", "19700101", "20261123"),
        "other day": appointment(INSURER, "記号２", "1", "19700101", "20261124"),
        "open statements": [s.id for s in store.open_statements()],
    }


def stored_values(path: Path) -> dict[str, list[object]]:
    conn = sqlite3.connect(path)
    try:
        return {
            f"{table}.{column}": [
                r[0] for r in conn.execute(f"SELECT {column} FROM {table} ORDER BY rowid")
            ]
            for table, columns in TAG_COLUMNS.items()
            for column in columns
        }
    finally:
        conn.close()


def index_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()


def written_at_23(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, FieldKeys, dict[str, object]]:
    """A store at migration 23 filled by that code (`fill`), its key, and what its look-ups
    found."""
    path = tmp_path / "onshi.db"
    keys = FieldKeys.create(tmp_path / "key")
    with written_before_tags(monkeypatch):
        old = Store(path, FieldCipher(keys), clock=lambda: NOW)
        try:
            fill(old)
            assert old.schema_version == TAGS_MIGRATION - 1
            return path, keys, lookups(old)
        finally:
            old.close()


def test_a_new_store_keeps_16_byte_tags_and_finds_by_them(tmp_path: Path) -> None:
    keys = FieldKeys.create(tmp_path / "key")
    store = Store(tmp_path / "onshi.db", FieldCipher(keys), clock=lambda: NOW)
    try:
        fill(store)
        found = lookups(store)
    finally:
        store.close()
    assert found == {
        "card-a": 1,
        "card-b": 2,
        "card-c": 4,
        "card-none": None,
        "kana": [3, 2, 1],
        "family": [3, 2, 1],
        "given": [3, 2, 1],
        "numbers": [3, 2, 1],
        "birthdate": [3, 2, 1],
        "insurer": [3, 2, 1],
        "nobody": [],
        "by reference": 1,
        "by numbers": 2,
        "other day": None,
        "open statements": [1],
    }
    cipher = FieldCipher(keys)
    for name, values in stored_values(tmp_path / "onshi.db").items():
        assert all(isinstance(v, bytes) and len(v) in (0, TAG_BYTES) for v in values), name
    values = stored_values(tmp_path / "onshi.db")
    assert values["confirmations.bi_card"] == [
        cipher.blind_tag("card", "card-a"),
        cipher.blind_tag("card", "card-b"),
        b"",  # the numbers check: no card
        cipher.blind_tag("card", "card-c"),
        cipher.blind_tag("card", "card-a"),
    ]
    assert values["confirmations.bi_kana"][3:] == [b"", b""]  # nobody's answer, offline
    # A tag is the start of the whole blind index, so the migration can cut one without the key.
    assert cipher.blind_tag("kana", KANA) == bytes.fromhex(cipher.blind_index("kana", KANA))[:16]


@pytest.mark.parametrize("batch", [None, 2], ids=["one transaction", "in batches"])
def test_a_store_at_migration_23_migrates_and_every_look_up_finds_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int | None
) -> None:
    path, keys, before = written_at_23(tmp_path, monkeypatch)
    if batch is not None:  # as a store of more rows than one batch is migrated
        monkeypatch.setattr(sync.store.database, "REWRITE_BATCH", batch)
    hexes = stored_values(path)
    assert {len(v) for vs in hexes.values() for v in vs if isinstance(v, str)} == {0, 64}
    assert all(isinstance(v, str) for vs in hexes.values() for v in vs)  # as written then

    store = Store(path, FieldCipher(keys), clock=lambda: NOW)
    try:
        assert store.schema_version == len(MIGRATIONS) == TAGS_MIGRATION
        assert lookups(store) == before
        assert before["card-a"] == 1 and before["numbers"] == [3, 2, 1]  # a look-up that finds
        assert before["by reference"] == 1 and before["by numbers"] == 2
        # Written after the migration, found with the rows from before it: an online answer
        # of card-a closes the 申立書 of its offline visit (bi_card of the migrated row).
        saved = save(store, answer("f9"), "card-a")
        assert store.last_card_answer("card-a") == saved
        assert store.open_statements() == []
        assert [c.id for c in store.find_by_kana("タカハシ")] == [saved.id, 3, 2, 1]
        # A re-import of the same list finds each appointment by its migrated patient tag:
        # updated in place, nothing added.
        rows = store.appointments_on("20261123")
        store.import_appointments(
            [AppointmentInput(**{f: getattr(r, f) for f in PERSON_FIELDS}, at=r.at) for r in rows],
            actor="reception",
            source="upload",
        )
        assert [r.id for r in store.appointments_on("20261123")] == [r.id for r in rows]
        imports = [e for e in store.audit_entries() if e.action == "appointments.imported"]
        assert "added=0 updated=2" in imports[0].detail  # the newest
    finally:
        store.close()
    cipher = FieldCipher(keys)
    tags = stored_values(path)
    for name, values in tags.items():
        old_values = hexes[name][: len(values)]
        assert [tag_of_stored(v) for v in old_values] == values[: len(old_values)], name
        assert all(isinstance(v, bytes) and len(v) in (0, TAG_BYTES) for v in values), name
    assert tags["appointments.bi_patient"] == [cipher.blind_tag("patient_number", "P-1"), b""]
    assert TAG_INDEXES <= index_names(path)


def test_the_look_ups_use_their_indexes_after_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, keys, _ = written_at_23(tmp_path, monkeypatch)
    Store(path, FieldCipher(keys), clock=lambda: NOW).close()
    conn = sqlite3.connect(path)
    try:
        for table, columns in TAG_COLUMNS.items():
            for column in columns:
                plan = " ".join(
                    str(r[3])
                    for r in conn.execute(
                        f"EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE {column} = ?"
                        + (" AND day = ?" if table == "appointments" else ""),
                        [b"\x00" * TAG_BYTES] + (["20261123"] if table == "appointments" else []),
                    )
                )
                assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (column, plan)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("stored", "kept"),
    [
        ("ab" * 32, bytes.fromhex("ab" * 16)),
        ("", b""),
        (b"\x01" * 16, b"\x01" * 16),  # converted already: the migration may meet it again
        (b"", b""),
        ("not hex" + "0" * 57, "not hex" + "0" * 57),
        (None, None),
    ],
)
def test_tag_of_stored(stored: str | bytes | None, kept: str | bytes | None) -> None:
    assert tag_of_stored(stored) == kept


def test_a_start_stopped_in_the_middle_of_migration_24_finishes_it_at_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, keys, before = written_at_23(tmp_path, monkeypatch)
    calls = 0

    def dies_midway(stored: str | bytes | None) -> str | bytes | None:
        nonlocal calls
        calls += 1
        if calls > 7 * 2:  # two answers' seven columns: the first batch, then a power cut
            raise RuntimeError("power cut")
        return tag_of_stored(stored)

    monkeypatch.setattr(sync.store.database, "REWRITE_BATCH", 2)
    with monkeypatch.context() as patch:
        patch.setattr(sync.store.database, "tag_of_stored", dies_midway)
        with pytest.raises(sqlite3.OperationalError):
            Store(path, FieldCipher(keys), clock=lambda: NOW)
    half = stored_values(path)["confirmations.bi_card"]
    assert [type(v) for v in half] == [bytes, bytes, str, str, str]  # the first batch stayed
    assert not TAG_INDEXES & index_names(path)

    store = Store(path, FieldCipher(keys), clock=lambda: NOW)
    try:
        assert store.schema_version == TAGS_MIGRATION
        assert lookups(store) == before
    finally:
        store.close()
    assert TAG_INDEXES <= index_names(path)
    values = stored_values(path)
    assert all(isinstance(v, bytes) for vs in values.values() for v in vs)


@pytest.mark.parametrize("batch", [None, 2], ids=["one transaction", "in batches"])
def test_a_migration_in_batches_says_after_each_part_that_it_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int | None
) -> None:
    """So `onshi run` can tell systemd it is still starting (device/parts.py open_store)."""
    path, keys, _ = written_at_23(tmp_path, monkeypatch)
    migration = MIGRATIONS[TAGS_MIGRATION - 1]
    assert isinstance(migration, Rewrite)
    parts = len(_statements(migration.before)) + len(_statements(migration.after))
    with sqlite3.connect(path) as conn:
        for table, _ in migration.rewrites:
            rows = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            parts += -(-rows // 2)  # batches of two
    if batch is not None:
        monkeypatch.setattr(sync.store.database, "REWRITE_BATCH", batch)
    versions: list[int] = []

    def migrating() -> None:
        with sqlite3.connect(path) as conn:  # what another process sees: each part committed
            versions.append(
                conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
            )

    Store(path, FieldCipher(keys), clock=lambda: NOW, migrating=migrating).close()
    if batch is None:
        assert versions == []  # a small store migrates in one transaction
    else:
        assert versions == [TAGS_MIGRATION - 1] * parts
