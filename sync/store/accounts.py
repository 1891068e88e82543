"""Staff users, their sessions and second factor: rows only (hashing, timeouts, roles and every
other policy are device/accounts.py's)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from sync.store.database import Part, StoreError
from sync.store.instant import instant_of, instant_text


class UserExists(StoreError, sqlite3.IntegrityError):
    """A user with this username exists already; nothing was written. (Still the
    sqlite3.IntegrityError it used to be, for callers from before the name.)"""

    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} exists")
        self.username = username


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    password_hash: str
    disabled: bool
    created_at: datetime
    has_totp: bool = False  # a TOTP secret is enrolled (known without decrypting it)


@dataclass(frozen=True)
class SessionRow:
    token_hash: str
    user_id: int
    csrf_token: str
    created_at: datetime
    last_seen: datetime
    client: str
    second_factor: bool = False  # the TOTP step of this sign-in is done


_USER_COLUMNS = (
    "id, username, display_name, roles, password_hash, disabled, created_at,"
    " totp_secret IS NOT NULL"
)


class Accounts(Part):
    # -- users ------------------------------------------------------------------------
    def add_user(
        self,
        username: str,
        display_name: str,
        roles: tuple[str, ...],
        password_hash: str,
    ) -> UserRow:
        """UserExists when the username is taken."""
        created = self._now()
        try:
            with self._database.write() as db:
                user_id = int(
                    db.execute(
                        "INSERT INTO users (username, display_name, roles, password_hash,"
                        " disabled, created_at) VALUES (?,?,?,?,0,?)",
                        [
                            username,
                            display_name,
                            ",".join(roles),
                            password_hash,
                            instant_text(created),
                        ],
                    ).lastrowid
                    or 0
                )
        except sqlite3.IntegrityError as exc:  # users.username is UNIQUE: nothing else can fail
            raise UserExists(username) from exc
        return UserRow(user_id, username, display_name, tuple(roles), password_hash, False, created)

    def user_by_username(self, username: str) -> UserRow | None:
        return self._user("username = ?", username)

    def user(self, user_id: int) -> UserRow | None:
        return self._user("id = ?", user_id)

    def _user(self, where: str, value: object) -> UserRow | None:
        with self._database.reading():
            row = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE {where}",
                [value],
            ).fetchone()
        return None if row is None else _user_row(row)

    def list_users(self) -> list[UserRow]:
        """Every user by username; TOTP only as enrolled or not (nothing is decrypted)."""
        with self._database.reading():
            rows = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users ORDER BY username"
            ).fetchall()
        return [_user_row(row) for row in rows]

    def count_users(self) -> int:
        with self._database.reading():
            return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        """Disabling also ends every session of the user."""
        with self._database.write() as db:
            db.execute("UPDATE users SET disabled = ? WHERE id = ?", [int(disabled), user_id])
            if disabled:
                db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])

    def set_user_roles(self, user_id: int, roles: tuple[str, ...]) -> None:
        with self._database.write() as db:
            db.execute("UPDATE users SET roles = ? WHERE id = ?", [",".join(roles), user_id])

    def set_password_hash(self, user_id: int, password_hash: str, *, at: datetime) -> None:
        with self._database.write() as db:
            db.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                [password_hash, instant_text(at), user_id],
            )

    # -- the second factor --------------------------------------------------------------
    def set_totp_secret(self, user_id: int, secret: bytes | None) -> None:
        """Enrol (encrypted, bound to the user's row) or remove (None) the TOTP seed."""
        cipher = self._database.cipher
        blob = None if secret is None else cipher.encrypt(secret, _totp_binding(user_id))
        with self._database.write() as db:
            db.execute("UPDATE users SET totp_secret = ? WHERE id = ?", [blob, user_id])

    def totp_secret(self, user_id: int) -> bytes | None:
        with self._database.lock:
            row = self._db.execute(
                "SELECT totp_secret FROM users WHERE id = ?", [user_id]
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return self._database.cipher.decrypt(row[0], _totp_binding(user_id))

    def use_totp_step(self, user_id: int, step: int) -> bool:
        """Spend a TOTP time step: True only the first time and only when newer than the last."""
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
                [step, user_id, step],
            )
            return cursor.rowcount == 1

    # -- sessions -----------------------------------------------------------------------
    def add_session(
        self,
        token_hash: str,
        user_id: int,
        csrf_token: str,
        client: str,
        *,
        at: datetime | None = None,
    ) -> SessionRow:
        """`at` defaults to the store's clock; the accounts policy passes its own."""
        started = at if at is not None else self._now()
        with self._database.write() as db:
            db.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen,"
                " client) VALUES (?,?,?,?,?,?)",
                [
                    token_hash,
                    user_id,
                    csrf_token,
                    instant_text(started),
                    instant_text(started),
                    client,
                ],
            )
        return SessionRow(token_hash, user_id, csrf_token, started, started, client)

    def session(self, token_hash: str) -> SessionRow | None:
        with self._database.reading():
            row = self._db.execute(
                "SELECT token_hash, user_id, csrf_token, created_at, last_seen, client,"
                " second_factor FROM sessions WHERE token_hash = ?",
                [token_hash],
            ).fetchone()
        if row is None:
            return None
        return SessionRow(
            row[0], row[1], row[2], instant_of(row[3]), instant_of(row[4]), row[5], bool(row[6])
        )

    def touch_session(self, token_hash: str, at: datetime) -> None:
        with self._database.write() as db:
            db.execute(
                "UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
                [instant_text(at), token_hash],
            )

    def set_session_second_factor(self, token_hash: str) -> None:
        with self._database.write() as db:
            db.execute("UPDATE sessions SET second_factor = 1 WHERE token_hash = ?", [token_hash])

    def delete_session(self, token_hash: str) -> None:
        with self._database.write() as db:
            db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])

    def delete_sessions_of(self, user_id: int, *, keep: str = "") -> int:
        """End every session of a user (except the one whose hash is `keep`); how many ended."""
        with self._database.write() as db:
            cursor = db.execute(
                "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?", [user_id, keep]
            )
            return int(cursor.rowcount)

    def purge_sessions(self, *, seen_before: datetime, created_before: datetime) -> int:
        """Delete sessions idle since seen_before or started before created_before."""
        with self._database.write() as db:
            cursor = db.execute(
                "DELETE FROM sessions WHERE last_seen <= ? OR created_at <= ?",
                [instant_text(seen_before), instant_text(created_before)],
            )
            return int(cursor.rowcount)


def _user_row(row: Any) -> UserRow:
    return UserRow(
        row[0],
        row[1],
        row[2],
        tuple(r for r in row[3].split(",") if r),
        row[4],
        bool(row[5]),
        instant_of(row[6]),
        bool(row[7]),
    )


def _totp_binding(user_id: int) -> str:
    return f"users.totp_secret:{user_id}"


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """An enrolled TOTP seed and its binding, for the key check."""
    row = db.execute(
        "SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL LIMIT 1"
    ).fetchone()
    return None if row is None else (bytes(row[1]), _totp_binding(int(row[0])))
