"""Every schema version the project has shipped opens with the current code, its rows readable.

For each k in 1..len(MIGRATIONS)-1 a database is built with the first k migrations and filled
with representative rows as that version could hold them: the rows of a store filled through
today's API, each table's columns cut to those version k had (a column version k required and
today's schema no longer has gets a plain value, as the old code wrote one). It is then opened
with the current code, which migrates it, and every row is read back through the API and the
audit chain verified. test_store.py keeps the checks of particular migrations (version 1's
column set, migration 11's zeros, migration 6's instants); this one walks every version.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sync.auditchain import legacy_entry_hash
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.packing import unpack
from sync.store import MIGRATIONS, Store, VisitRecord, anchor_path_of
from sync.store.database import Database
from sync.store.visits import SUMMARY_MIGRATION
from sync.xmlmsg import ConsentState, QualificationRequest, SearchInfo, parse_result

from .test_store import answer

NOW = datetime(2026, 11, 22, 1, 15, tzinfo=UTC)
CONSENTS = (ConsentState("drug", "1", "20261122101400", "20261123101400"),)
ROWS = 4  # confirmations; each table gets at least one row


def _request(file_id: str) -> QualificationRequest:
    return QualificationRequest(
        medical_institution_code="1312345670",
        confirmation_date="20261122",
        file_id=file_id,
        reference_classification="2",
        search=SearchInfo("06139015", "12", "19800401"),
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FieldKeys]:
    """A current store with a row in every table the API writes."""
    directory = tmp_path_factory.mktemp("reference")
    keys = FieldKeys.create(directory / "key")
    store = Store(directory / "onshi.db", FieldCipher(keys), clock=lambda: NOW)
    for i in range(ROWS):
        raw = answer(f"f{i}", consents=CONSENTS)
        visit = VisitRecord(f"v{i}", NOW, NOW, "r", "pin", "done", file_id=f"f{i}")
        saved = store.save_confirmation(
            file_id=f"f{i}",
            raw_result=raw,
            result=parse_result(raw),
            kind="card",
            method="pin",
            actor="reader",
            visit=visit,
            card=f"card-{i}",
            export=f"face-{i}.xml",
            face_file=(f"in-{i}.xml", f"{i:064x}"),
        )
        store.put_clinical_cache(saved.id, "drug", b"<drug/>", NOW, NOW)
    store.add_user("admin1", "管理者", ("admin",), "hash")
    store.save_setting("language", "en", actor="admin1")
    store.save_statement({"name": "髙橋 花子"}, actor="desk", confirmation_id=1)
    store.enqueue_recheck(_request("q1"), kind="numbers", method="numbers", actor="desk")
    store.add_api_token("chart", "0" * 64, actor="admin1")
    store.audit("admin1", "settings.change", "setting:language", "ja -> en")
    store.close()
    return directory, keys


def _build_at(version: int, reference: Path, target: Path, keys: FieldKeys) -> None:
    """A database at `version`, holding the reference rows that version had room for."""
    Database(target, FieldCipher(keys), lambda: NOW, migrations=MIGRATIONS[:version]).close()
    old = sqlite3.connect(target)
    old.execute("PRAGMA foreign_keys=OFF")
    old.execute(f"ATTACH DATABASE '{reference}' AS ref")
    tables = [
        str(r[0])
        for r in old.execute("SELECT name FROM main.sqlite_master WHERE type='table'")
        if r[0] not in ("schema_migrations", "sqlite_sequence")
    ]
    for table in tables:
        theirs = {str(c[1]) for c in old.execute(f"PRAGMA ref.table_info({table})")}
        columns = list(old.execute(f"PRAGMA main.table_info({table})"))
        if not theirs:
            continue
        picks = []
        for _cid, name, kind, notnull, default, _pk in columns:
            if name in theirs:
                plain = "0" if "INT" in str(kind).upper() else "''"
                picks.append(f"COALESCE({name}, {plain})" if notnull else name)
            elif notnull and default is None:
                picks.append("0" if "INT" in str(kind).upper() else "'1'")  # e.g. care_date
            else:
                picks.append("NULL" if default is None else str(default))
        names = ", ".join(str(c[1]) for c in columns)
        old.execute(
            f"INSERT INTO main.{table} ({names}) SELECT {', '.join(picks)} FROM ref.{table}"
        )
    if version < SUMMARY_MIGRATION:
        # Before it answers were kept as received, not deflated.
        cipher = FieldCipher(keys)
        for row_id, file_id, enc in old.execute(
            "SELECT id, file_id, enc_result FROM main.confirmations"
        ).fetchall():
            binding = f"confirmations.enc_result:{file_id}"
            raw = unpack(cipher.decrypt(enc, binding))
            old.execute(
                "UPDATE main.confirmations SET enc_result = ? WHERE id = ?",
                [cipher.encrypt(raw, binding), row_id],
            )
    if "store_meta" not in tables:
        # Before store_meta the chain was unkeyed: written as that code wrote it.
        prev = "0" * 64
        for entry_id, at, actor, action, subject, detail in old.execute(
            "SELECT id, at, actor, action, subject, detail FROM main.audit ORDER BY id"
        ).fetchall():
            digest = legacy_entry_hash(prev, at, actor, action, subject, detail)
            old.execute(
                "UPDATE main.audit SET prev_hash = ?, hash = ? WHERE id = ?",
                [prev, digest, entry_id],
            )
            prev = digest
    else:
        anchor = anchor_path_of(reference)
        shutil.copyfile(anchor, anchor_path_of(target))
    old.commit()
    old.execute("DETACH DATABASE ref")
    built = old.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    held = old.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0]
    old.close()
    assert (built, held) == (version, ROWS)


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
def test_a_store_of_every_shipped_version_opens_and_reads(
    version: int, reference: tuple[Path, FieldKeys], tmp_path: Path
) -> None:
    directory, keys = reference
    target = tmp_path / "onshi.db"
    _build_at(version, directory / "onshi.db", target, keys)

    store = Store(target, FieldCipher(keys), clock=lambda: NOW)
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert store.count_confirmations() == ROWS
        for i in range(ROWS):
            row = store.confirmation(i + 1)
            assert row is not None and row.file_id == f"f{i}"
            assert row.summary.results[0].name == "髙橋 花子"
            assert row.result.results[0].name == "髙橋 花子"
            assert store.confirmation_raw(i + 1) == answer(f"f{i}", consents=CONSENTS)
            assert store.visit(f"v{i}") is not None
            if version >= 2:
                assert [c.kind for c in store.consents(i + 1)] == ["drug"]
        if version >= 2:
            assert store.user_by_username("admin1") is not None
        if version >= 3:
            assert store.stored_settings() == {"language": "en"}
        if version >= 7:
            (statement,) = store.open_statements()
            assert statement.fields == {"name": "髙橋 花子"}
        if version >= 8:
            item = store.outbox_item_by_file_id("q1")
            assert item is not None and item.state == "queued"
        if version >= 12:
            assert store.export_counts().pending == ROWS
        if version >= 14:
            assert [t.name for t in store.api_tokens()] == ["chart"]
        # Every row was given its summary and packed at open (older ones once).
        unsummarized = store._db.execute(
            "SELECT COUNT(*) FROM confirmations WHERE enc_summary IS NULL OR packed = 0"
        ).fetchone()[0]
        assert unsummarized == 0
        verdict = store.verify_audit_detail()
        assert verdict.ok, verdict.reason
        entries = store.audit_search(limit=1000)
        assert any(e.action == "settings.change" for e in entries)
        if version < 4:
            (keyed,) = [e for e in entries if e.action == "audit.chain_keyed"]
            assert "legacy chain held" in keyed.detail
    finally:
        store.close()
