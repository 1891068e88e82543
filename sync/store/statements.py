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
    # Open until an online answer is had: answer_id when a later online answer of the same card
    # closed it, resolved_by the person who marked it confirmed otherwise.
    resolved_at: datetime | None = None
    resolved_by: str = ""
    answer_id: int | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


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
        rows = self._rows("WHERE id = ?", [statement_id])
        return rows[0] if rows else None

    def open_statements(self, limit: int) -> list[StatementRow]:
        """Statements no online answer has confirmed yet, oldest first."""
        return self._rows("WHERE resolved_at = '' ORDER BY created_at, id LIMIT ?", [limit])

    def count_open_statements(self) -> int:
        with self._database.lock:
            row = self._db.execute("SELECT COUNT(*) FROM statements WHERE resolved_at = ''")
            return int(row.fetchone()[0])

    @reserve_on_full
    def resolve_statement(self, statement_id: int, *, actor: str) -> bool:
        """A person confirmed the patient's qualification by other means; False when the
        statement is not open (closed already, or none)."""
        with self._database.write() as db:
            changed = db.execute(
                "UPDATE statements SET resolved_at = ?, resolved_by = ?"
                " WHERE id = ? AND resolved_at = ''",
                [instant_text(self._now()), actor, statement_id],
            ).rowcount
            if changed:
                self._audit.append(actor, "statement.resolved", f"statement:{statement_id}", "")
        return bool(changed)

    def resolve_for_card(self, card_index: bytes, answer_id: int, *, actor: str) -> int:
        """An online answer for the card of `card_index` (its keyed tag) closes the open
        statements made from that card's offline visits; how many. Runs inside the caller's
        write (the answer's own transaction)."""
        if not card_index:
            return 0
        with self._database.write() as db:
            ids = [
                int(r[0])
                for r in db.execute(
                    "SELECT id FROM statements WHERE resolved_at = '' AND confirmation_id IN"
                    " (SELECT id FROM confirmations WHERE bi_card = ? AND source = 'offline')",
                    [card_index],
                ).fetchall()
            ]
            for statement_id in ids:
                db.execute(
                    "UPDATE statements SET resolved_at = ?, answer_id = ? WHERE id = ?",
                    [instant_text(self._now()), answer_id, statement_id],
                )
                self._audit.append(
                    actor,
                    "statement.answered",
                    f"statement:{statement_id}",
                    f"confirmation:{answer_id}",
                )
        return len(ids)

    def _rows(self, where: str, params: list[object]) -> list[StatementRow]:
        with self._database.reading():
            rows = self._db.execute(
                "SELECT id, ref, created_at, actor, visit_id, confirmation_id, enc_body,"
                f" resolved_at, resolved_by, answer_id FROM statements {where}",
                params,
            ).fetchall()
        found = []
        for row in rows:
            fields = json.loads(self._database.cipher.decrypt(row[6], _binding(row[1])))
            found.append(
                StatementRow(
                    int(row[0]),
                    str(row[1]),
                    instant_of(row[2]),
                    str(row[3]),
                    row[4],
                    row[5],
                    {str(k): str(v) for k, v in fields.items()},
                    instant_of(row[7]) if row[7] else None,
                    str(row[8]),
                    row[9],
                )
            )
        return found

    # -- retention (sync/store/retention.py runs these inside its one transaction) --------
    def aged(self, bound: str) -> tuple[int, int]:
        """(statements made before `bound`, all statements): what a purge would delete."""
        with self._database.lock:
            old, total = self._db.execute(
                "SELECT (SELECT COUNT(*) FROM statements WHERE created_at < ?), COUNT(*)"
                " FROM statements",
                [bound],
            ).fetchone()
        return int(old), int(total)

    def purge_before(self, bound: str, limit: int = -1) -> int:
        """Delete the statements made before `bound` (instant text), oldest first, at most
        `limit` (-1: all); inside a caller's write block it joins that transaction. The audit
        entry is the caller's."""
        with self._database.write() as db:
            return int(
                db.execute(
                    "DELETE FROM statements WHERE id IN (SELECT id FROM statements"
                    " WHERE created_at < ? ORDER BY created_at LIMIT ?)",
                    [bound, limit],
                ).rowcount
            )


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """One ciphertext and its binding, for the key check at start (none before the table
    exists: a store opened with an earlier schema)."""
    if not db["statements"].exists():
        return None
    row = db.execute("SELECT ref, enc_body FROM statements LIMIT 1").fetchone()
    return (bytes(row[1]), _binding(str(row[0]))) if row else None
