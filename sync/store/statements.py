"""被保険者資格申立書: the statement a patient fills in when their qualification cannot be
confirmed online or by other means (DOMAIN §9), stored like every answer.

The form's fields are personal data: they are kept as one encrypted JSON document bound to the
statement's random reference, beside the few plain columns the desk needs to find it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text


@dataclass(frozen=True)
class StatementRow:
    id: int
    ref: str
    created_at: datetime
    actor: str
    visit_id: str | None  # the card visit it belongs to
    confirmation_id: int | None  # the answer it was pre-filled from
    fields: dict[str, str]


def _binding(ref: str) -> str:
    return f"statements.enc_body:{ref}"


class Statements(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    @reserve_on_full
    def save_statement(
        self,
        fields: dict[str, str],
        *,
        actor: str,
        visit_id: str | None = None,
        confirmation_id: int | None = None,
    ) -> StatementRow:
        """Store the form with its audit entry in one transaction."""
        ref = secrets.token_hex(10)
        created = self._now()
        body = json.dumps(fields, ensure_ascii=False, sort_keys=True).encode()
        with self._database.write() as db:
            row_id = int(
                db.execute(
                    "INSERT INTO statements (ref, created_at, actor, visit_id, confirmation_id,"
                    " enc_body) VALUES (?,?,?,?,?,?)",
                    [
                        ref,
                        instant_text(created),
                        actor,
                        visit_id,
                        confirmation_id,
                        self._database.cipher.encrypt(body, _binding(ref)),
                    ],
                ).lastrowid
                or 0
            )
            self._audit.append(actor, "statement.saved", f"statement:{row_id}", "")
        return StatementRow(row_id, ref, created, actor, visit_id, confirmation_id, dict(fields))

    def statement(self, statement_id: int) -> StatementRow | None:
        with self._database.lock:
            row = self._db.execute(
                "SELECT id, ref, created_at, actor, visit_id, confirmation_id, enc_body"
                " FROM statements WHERE id = ?",
                [statement_id],
            ).fetchone()
        if row is None:
            return None
        fields = json.loads(self._database.cipher.decrypt(row[6], _binding(row[1])))
        return StatementRow(
            int(row[0]),
            str(row[1]),
            instant_of(row[2]),
            str(row[3]),
            row[4],
            row[5],
            {str(k): str(v) for k, v in fields.items()},
        )

    # -- retention (sync/store/retention.py runs these inside its one transaction) --------
    def aged(self, bound: str) -> tuple[int, int]:
        """(statements made before `bound`, all statements): what a purge would delete."""
        with self._database.lock:
            old, total = self._db.execute(
                "SELECT COALESCE(SUM(created_at < ?), 0), COUNT(*) FROM statements", [bound]
            ).fetchone()
        return int(old), int(total)

    def purge_before(self, bound: str) -> int:
        """Delete the statements made before `bound` (instant text); inside a caller's write
        block it joins that transaction. The audit entry is the caller's."""
        with self._database.write() as db:
            return int(db.execute("DELETE FROM statements WHERE created_at < ?", [bound]).rowcount)


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """One ciphertext and its binding, for the key check at start (none before the table
    exists: a store opened with an earlier schema)."""
    if not db["statements"].exists():
        return None
    row = db.execute("SELECT ref, enc_body FROM statements LIMIT 1").fetchone()
    return (bytes(row[1]), _binding(str(row[0]))) if row else None
