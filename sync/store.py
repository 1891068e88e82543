"""The appliance's local state in one SQLite file — the only module that speaks SQL.

One connection, one lock: every read and write goes through it, so there is exactly one writer
(the system SQLite predates the WAL-reset fix of 3.51.3; one writer never races). WAL with
synchronous=FULL: whatever a caller was told is saved survives kill -9 and power loss.
Personal data lives only inside the encrypted raw answer (AES-GCM bound to its row); searching
uses keyed hashes (blind indexes) of kana, birth date and insurance numbers.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from sync.clock import utc_now
from sync.codes import badge
from sync.fieldcrypt import FieldCipher
from sync.xmlmsg import QualificationResult, parse_result

GENESIS_HASH = "0" * 64

# Each migration runs once, in order, inside one transaction with its version row.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE visits (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        ended_at TEXT NOT NULL,
        reader TEXT NOT NULL,
        method TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        file_id TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE confirmations (
        id INTEGER PRIMARY KEY,
        file_id TEXT NOT NULL UNIQUE,
        visit_id TEXT,
        created_at TEXT NOT NULL,
        care_date TEXT NOT NULL,
        kind TEXT NOT NULL,            -- 'card' or 'numbers'
        method TEXT NOT NULL,          -- 'pin', 'visual', 'numbers'
        source TEXT NOT NULL,          -- 'online' (answered now) or 'cache'
        badge TEXT NOT NULL,
        segment TEXT NOT NULL,
        validity TEXT NOT NULL,
        enc_result BLOB NOT NULL,      -- the result XML as received, encrypted
        bi_kana TEXT NOT NULL DEFAULT '',
        bi_birthdate TEXT NOT NULL DEFAULT '',
        bi_numbers TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX confirmations_created ON confirmations(created_at);
    CREATE INDEX confirmations_kana ON confirmations(bi_kana);
    CREATE INDEX confirmations_birthdate ON confirmations(bi_birthdate);
    CREATE INDEX confirmations_numbers ON confirmations(bi_numbers);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    """,
)


@dataclass(frozen=True)
class VisitRecord:
    id: str
    started_at: datetime
    ended_at: datetime
    reader: str
    method: str  # 'pin', 'visual' or '' when the visit ended before a method was chosen
    state: str  # 'done', 'aborted', 'failed'
    reason: str = ""
    file_id: str = ""


@dataclass(frozen=True)
class Confirmation:
    """One stored answer, decrypted in memory for display."""

    id: int
    file_id: str
    visit_id: str | None
    created_at: datetime
    kind: str
    method: str
    source: str
    badge: str
    result: QualificationResult


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    subject: str
    detail: str
    prev_hash: str
    hash: str


def _audit_hash(prev_hash: str, at: str, actor: str, action: str, subject: str, detail: str) -> str:
    canonical = json.dumps([prev_hash, at, actor, action, subject, detail], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def numbers_key(insurer_number: str, symbol: str, number: str) -> str:
    """What identifies an insured person's card for lookups: insurer, symbol, number."""
    return "|".join([insurer_number.strip().lstrip("0"), symbol.strip(), number.strip()])


class Store:
    def __init__(
        self, path: Path | str, cipher: FieldCipher, clock: Callable[[], datetime] = utc_now
    ):
        self._cipher = cipher
        self._clock = clock
        self._lock = threading.RLock()
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- schema -----------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in self._db.execute("SELECT version FROM schema_migrations")}
            for version, script in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                with self._db.atomic():
                    for statement in _statements(script):
                        self._db.execute(statement)
                    self._db.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)",
                        [version, self._clock().isoformat()],
                    )

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            return int(row[0] or 0)

    @contextmanager
    def _write(self) -> Iterator[sqlite_utils.Database]:
        with self._lock, self._db.atomic() as db:
            yield db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- visits and confirmations -------------------------------------------------------
    def record_visit(self, visit: VisitRecord, actor: str = "reader") -> None:
        """A visit that ended without an answer (aborted or failed): no personal data."""
        with self._write():
            self._insert_visit(visit)
            self._append_audit(actor, f"visit.{visit.state}", f"visit:{visit.id}", visit.reason)

    def save_confirmation(
        self,
        *,
        file_id: str,
        raw_result: bytes,
        kind: str,
        method: str,
        actor: str,
        visit: VisitRecord | None = None,
        source: str = "online",
    ) -> Confirmation:
        """Store an answer (and the visit it ended) in one transaction, with its audit entry."""
        result = parse_result(raw_result)
        created = self._clock()
        first = result.results[0] if result.results else None
        with self._write() as db:
            if visit is not None:
                self._insert_visit(visit)
            row_id = int(
                db.execute(
                    "INSERT INTO confirmations (file_id, visit_id, created_at, care_date, kind,"
                    " method, source, badge, segment, validity, enc_result, bi_kana,"
                    " bi_birthdate, bi_numbers) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        file_id,
                        visit.id if visit else None,
                        created.isoformat(),
                        result.confirmation_date,
                        kind,
                        method,
                        source,
                        badge(result).name,
                        result.segment_of_result,
                        result.validity,
                        self._cipher.encrypt(raw_result, f"confirmations.enc_result:{file_id}"),
                        self._index("kana", first.name_kana if first else ""),
                        self._index("birthdate", first.birthdate if first else ""),
                        self._index(
                            "numbers",
                            numbers_key(first.insurer_number, first.symbol, first.number)
                            if first
                            else "",
                        ),
                    ],
                ).lastrowid
                or 0
            )
            self._append_audit(actor, "confirmation.stored", f"confirmation:{row_id}", kind)
        return Confirmation(
            row_id,
            file_id,
            visit.id if visit else None,
            created,
            kind,
            method,
            source,
            badge(result).name,
            result,
        )

    def _index(self, purpose: str, value: str) -> str:
        return self._cipher.blind_index(purpose, value) if value else ""

    def _insert_visit(self, visit: VisitRecord) -> None:
        self._db.execute(
            "INSERT INTO visits VALUES (?,?,?,?,?,?,?,?)",
            [
                visit.id,
                visit.started_at.isoformat(),
                visit.ended_at.isoformat(),
                visit.reader,
                visit.method,
                visit.state,
                visit.reason,
                visit.file_id,
            ],
        )

    def visit(self, visit_id: str) -> VisitRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM visits WHERE id = ?", [visit_id]).fetchone()
        if row is None:
            return None
        return VisitRecord(
            row[0], datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2]), *row[3:]
        )

    def confirmation(self, confirmation_id: int) -> Confirmation | None:
        rows = self._confirmations("WHERE id = ?", [confirmation_id])
        return rows[0] if rows else None

    def recent_confirmations(self, since: datetime, limit: int = 200) -> list[Confirmation]:
        return self._confirmations(
            "WHERE created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [since.isoformat(), limit],
        )

    def find_by_numbers(
        self, insurer_number: str, symbol: str, number: str, limit: int = 20
    ) -> list[Confirmation]:
        key = self._index("numbers", numbers_key(insurer_number, symbol, number))
        return self._confirmations(
            "WHERE bi_numbers = ? ORDER BY created_at DESC, id DESC LIMIT ?", [key, limit]
        )

    def find_by_kana(self, kana: str, limit: int = 20) -> list[Confirmation]:
        return self._confirmations(
            "WHERE bi_kana = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [self._index("kana", kana), limit],
        )

    def find_by_birthdate(self, birthdate: str, limit: int = 20) -> list[Confirmation]:
        return self._confirmations(
            "WHERE bi_birthdate = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [self._index("birthdate", birthdate), limit],
        )

    def count_confirmations(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0])

    def count_visits(self, state: str | None = None) -> int:
        with self._lock:
            if state is None:
                return int(self._db.execute("SELECT COUNT(*) FROM visits").fetchone()[0])
            return int(
                self._db.execute("SELECT COUNT(*) FROM visits WHERE state = ?", [state]).fetchone()[
                    0
                ]
            )

    def _confirmations(self, where: str, params: list[Any]) -> list[Confirmation]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, file_id, visit_id, created_at, kind, method, source, badge, enc_result"
                f" FROM confirmations {where}",
                params,
            ).fetchall()
        out = []
        for row in rows:
            raw = self._cipher.decrypt(row[8], f"confirmations.enc_result:{row[1]}")
            out.append(
                Confirmation(
                    row[0],
                    row[1],
                    row[2],
                    datetime.fromisoformat(row[3]),
                    row[4],
                    row[5],
                    row[6],
                    row[7],
                    parse_result(raw),
                )
            )
        return out

    # -- audit ------------------------------------------------------------------------
    def audit(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        with self._write():
            self._append_audit(actor, action, subject, detail)

    def _append_audit(self, actor: str, action: str, subject: str, detail: str) -> None:
        row = self._db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        prev = row[0] if row else GENESIS_HASH
        at = self._clock().isoformat()
        digest = _audit_hash(prev, at, actor, action, subject, detail)
        self._db.execute(
            "INSERT INTO audit (at, actor, action, subject, detail, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?)",
            [at, actor, action, subject, detail, prev, digest],
        )

    def audit_entries(self, limit: int = 1000) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]
            ).fetchall()
        return [AuditEntry(*row) for row in rows]

    def verify_audit(self) -> int | None:
        """Id of the first entry whose chain is broken, or None when the whole chain holds."""
        prev = GENESIS_HASH
        with self._lock:
            rows = self._db.execute("SELECT * FROM audit ORDER BY id").fetchall()
        for row in rows:
            entry = AuditEntry(*row)
            expected = _audit_hash(
                prev, entry.at, entry.actor, entry.action, entry.subject, entry.detail
            )
            if entry.prev_hash != prev or entry.hash != expected:
                return entry.id
            prev = entry.hash
        return None


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
