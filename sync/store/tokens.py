"""Tokens of the read API for other systems: rows only (making secrets, hashing, verifying and
how often a use is noted are device/apitokens.py's).

Only the SHA-256 of a secret is stored, never the secret. Each token made or revoked is written
with its audit entry in one transaction; a revoked token stays in the table, so the list still
says who made it, who ended it and when it was last used.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, StoreError, reserve_on_full
from sync.store.instant import instant_of, instant_text, optional_instant_of


class TokenHashTaken(StoreError):
    """A token with this hash exists (a secret made twice): nothing was written."""


@dataclass(frozen=True)
class ApiTokenRow:
    id: int
    name: str
    token_hash: str  # hex SHA-256 of the secret
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str = ""
    last_used_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


_COLUMNS = "id, name, token_hash, created_at, created_by, revoked_at, revoked_by, last_used_at"


class Tokens(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    @reserve_on_full
    def add_token(self, name: str, token_hash: str, *, actor: str) -> ApiTokenRow:
        """The new token and its audit entry (its name, never its secret or hash)."""
        created = self._now()
        try:
            with self._database.write() as db:
                token_id = int(
                    db.execute(
                        "INSERT INTO api_tokens (name, token_hash, created_at, created_by)"
                        " VALUES (?,?,?,?)",
                        [name, token_hash, instant_text(created), actor],
                    ).lastrowid
                    or 0
                )
                self._audit.append(actor, "api_token.created", f"api_token:{token_id}", name)
        except sqlite3.IntegrityError as exc:  # token_hash is UNIQUE: nothing else can fail
            raise TokenHashTaken("token hash exists") from exc
        return ApiTokenRow(token_id, name, token_hash, created, actor)

    @reserve_on_full
    def revoke_token(self, token_id: int, *, actor: str) -> bool:
        """True when the token was active and is now revoked (with its audit entry); False for
        an unknown or already revoked token (nothing written)."""
        with self._database.write() as db:
            row = db.execute(
                "SELECT name FROM api_tokens WHERE id = ? AND revoked_at = ''", [token_id]
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                [instant_text(self._now()), actor, token_id],
            )
            self._audit.append(actor, "api_token.revoked", f"api_token:{token_id}", str(row[0]))
        return True

    def token_by_hash(self, token_hash: str) -> ApiTokenRow | None:
        return self._token("token_hash = ?", token_hash)

    def token(self, token_id: int) -> ApiTokenRow | None:
        return self._token("id = ?", token_id)

    def list_tokens(self) -> list[ApiTokenRow]:
        """Active tokens first, then revoked ones; newest first within each."""
        with self._database.lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM api_tokens ORDER BY revoked_at != '', id DESC"
            ).fetchall()
        return [_row(row) for row in rows]

    def touch_token(self, token_id: int, at: datetime) -> None:
        """Note a use (not audited: every use is audited by the request it served)."""
        with self._database.write() as db:
            db.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                [instant_text(at), token_id],
            )

    def _token(self, where: str, value: object) -> ApiTokenRow | None:
        with self._database.lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM api_tokens WHERE {where}", [value]
            ).fetchone()
        return None if row is None else _row(row)


def _row(row: Any) -> ApiTokenRow:
    return ApiTokenRow(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        instant_of(row[3]),
        str(row[4]),
        optional_instant_of(row[5]),
        str(row[6]),
        optional_instant_of(row[7]),
    )
