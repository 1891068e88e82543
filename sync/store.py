"""The appliance's local state in one SQLite file — the only module that speaks SQL.

One connection, one lock: every read and write goes through it, so there is exactly one writer
(the system SQLite predates the WAL-reset fix of 3.51.3; one writer never races). WAL with
synchronous=FULL: whatever a caller was told is saved survives kill -9 and power loss.
Personal data lives only inside the encrypted raw answer (AES-GCM bound to its row); searching
uses keyed hashes (blind indexes) of kana, birth date and insurance numbers. Medical information
fetched under consent is cached encrypted the same way, bound to (confirmation, kind).
Users and sessions are plain rows here; the policy (hashing, timeouts, roles) is device/accounts.py.
Instants are stored as UTC text of one fixed width, so text order is time order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from sync.auditchain import GENESIS_HASH, AuditVerdict, ChainCheck, entry_hash
from sync.clock import JST, utc_now
from sync.codes import badge
from sync.fieldcrypt import FieldCipher
from sync.xmlmsg import ConsentState, QualificationResult, parse_result

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
    """
    ALTER TABLE visits ADD COLUMN staff TEXT NOT NULL DEFAULT '';  -- staff user of a visual check
    CREATE TABLE consents (
        confirmation_id INTEGER NOT NULL REFERENCES confirmations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        flag TEXT NOT NULL,
        consented_at TEXT NOT NULL DEFAULT '',
        available_until TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (confirmation_id, kind)
    );
    CREATE TABLE clinical_cache (
        confirmation_id INTEGER NOT NULL REFERENCES confirmations(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        enc_data BLOB NOT NULL,
        PRIMARY KEY (confirmation_id, kind)
    );
    CREATE INDEX clinical_cache_expires ON clinical_cache(expires_at);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        roles TEXT NOT NULL,            -- comma-separated role names
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,    -- sha256 of the cookie value, never the value
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    """,
    """
    ALTER TABLE users ADD COLUMN totp_secret BLOB;  -- encrypted TOTP seed; NULL = none enrolled
    ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;  -- codes work once
    ALTER TABLE users ADD COLUMN password_changed_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,          -- a name of device.config.SETTINGS
        value TEXT NOT NULL,            -- as typed in the admin page, validated before saving
        changed_at TEXT NOT NULL,
        changed_by TEXT NOT NULL
    );
    CREATE INDEX audit_subject ON audit(subject);
    CREATE INDEX audit_action ON audit(action);
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
    staff: str = ""  # the staff user who checked the holder visually ('' for PIN visits)


@dataclass(frozen=True)
class ConsentRecord:
    """A consent flag as the central answered it for one confirmation."""

    confirmation_id: int
    kind: str  # "drug" | "checkup" | "diagnosis" | "surgery" (codes.CONSENT_FLAG_TAG keys)
    flag: str  # …ConsFlg as answered: "1" yes, "0" no, other values kept as given
    consented_at: datetime | None  # …ConsTime (JST on the wire), aware
    available_until: datetime | None  # …AvailableTime, aware

    @property
    def agreed(self) -> bool:
        return self.flag == "1"


@dataclass(frozen=True)
class CachedClinical:
    data: bytes
    fetched_at: datetime
    expires_at: datetime


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


SETTING_DEFAULT_MARK = "(既定 / default)"
_AUDIT_VERIFY_SLICE = 5000
_AUDIT_PAGE_MAX = 1000


def _instant(at: datetime) -> str:
    """Fixed-width UTC text: comparing these strings compares the instants."""
    if at.tzinfo is None:
        raise ValueError("aware datetime required")
    # isoformat pads the year to four digits; strftime's %Y does not below 1000 (glibc).
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _wire_time(value: str) -> datetime | None:
    """YYYYMMDDHHmmss in Japan time → aware datetime; None when empty or not a real time."""
    try:
        at = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=JST)
        at.astimezone(UTC)  # the first hours of year 1 in Japan have no UTC instant
    except (ValueError, OverflowError):
        return None
    return at


def _optional_instant(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
            for consent in first.consents if first else ():
                self._insert_consent(row_id, consent)
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

    def _insert_consent(self, confirmation_id: int, consent: ConsentState) -> None:
        consented = _wire_time(consent.time)
        until = _wire_time(consent.available_time)
        self._db.execute(
            "INSERT INTO consents (confirmation_id, kind, flag, consented_at, available_until)"
            " VALUES (?,?,?,?,?)",
            [
                confirmation_id,
                consent.kind,
                consent.flag,
                _instant(consented) if consented else "",
                _instant(until) if until else "",
            ],
        )

    def _insert_visit(self, visit: VisitRecord) -> None:
        self._db.execute(
            "INSERT INTO visits (id, started_at, ended_at, reader, method, state, reason, file_id,"
            " staff) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                visit.id,
                visit.started_at.isoformat(),
                visit.ended_at.isoformat(),
                visit.reader,
                visit.method,
                visit.state,
                visit.reason,
                visit.file_id,
                visit.staff,
            ],
        )

    def visit(self, visit_id: str) -> VisitRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, started_at, ended_at, reader, method, state, reason, file_id, staff"
                " FROM visits WHERE id = ?",
                [visit_id],
            ).fetchone()
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
            # created_at is UTC text: the bound must be too, or JST midnight sorts after 00:00 UTC
            [since.astimezone(UTC).isoformat(), limit],
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

    def confirmation_raw(self, confirmation_id: int) -> bytes | None:
        """The answer exactly as central sent it (decrypted), for the admin's raw view."""
        with self._lock:
            row = self._db.execute(
                "SELECT file_id, enc_result FROM confirmations WHERE id = ?", [confirmation_id]
            ).fetchone()
        if row is None:
            return None
        return self._cipher.decrypt(row[1], f"confirmations.enc_result:{row[0]}")

    def audit_for_subject(self, subject: str, limit: int = 200) -> list[AuditEntry]:
        """Who did what to one subject ("confirmation:7"), newest first (index audit_subject)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM audit WHERE subject = ? ORDER BY id DESC LIMIT ?", [subject, limit]
            ).fetchall()
        return [AuditEntry(*row) for row in rows]

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

    def now(self) -> datetime:
        """The clock this store stamps its rows with, for callers that compute bounds on them."""
        return self._clock()

    def purge_older_than(self, before: datetime, *, actor: str) -> tuple[int, int]:
        """Delete confirmations created and visits ended before `before`; (confirmations, visits).

        Consents and cached medical data go with their confirmation (ON DELETE CASCADE). One
        transaction with one audit entry when anything was deleted; the audit log is kept.
        Rows hold isoformat() text, whose order is time order only while every row has the same
        offset: julianday() compares the instants themselves (to the millisecond).
        """
        if before.tzinfo is None:  # astimezone() would take a naive time as local time
            raise ValueError("aware datetime required")
        bound = before.astimezone(UTC).isoformat()
        with self._write() as db:
            if db.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
                raise RuntimeError("foreign keys are off: consents would outlive their rows")
            confirmations = int(
                db.execute(
                    "DELETE FROM confirmations WHERE julianday(created_at) < julianday(?)",
                    [bound],
                ).rowcount
            )
            visits = int(
                db.execute(
                    "DELETE FROM visits WHERE julianday(ended_at) < julianday(?)", [bound]
                ).rowcount
            )
            if confirmations or visits:
                self._append_audit(
                    actor,
                    "retention.purged",
                    "confirmations",
                    f"confirmations={confirmations} visits={visits} before={bound}",
                )
        return confirmations, visits

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

    # -- consents and the clinical cache --------------------------------------------------
    def consents(self, confirmation_id: int) -> list[ConsentRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT confirmation_id, kind, flag, consented_at, available_until FROM consents"
                " WHERE confirmation_id = ? ORDER BY kind",
                [confirmation_id],
            ).fetchall()
        return [
            ConsentRecord(
                row[0], row[1], row[2], _optional_instant(row[3]), _optional_instant(row[4])
            )
            for row in rows
        ]

    def put_clinical_cache(
        self,
        confirmation_id: int,
        kind: str,
        data: bytes,
        fetched_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Keep (replace) the answer for one patient and kind, encrypted, until expires_at."""
        blob = self._cipher.encrypt(data, _cache_binding(confirmation_id, kind))
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO clinical_cache (confirmation_id, kind, fetched_at,"
                " expires_at, enc_data) VALUES (?,?,?,?,?)",
                [confirmation_id, kind, _instant(fetched_at), _instant(expires_at), blob],
            )

    def clinical_cache(
        self, confirmation_id: int, kind: str, now: datetime
    ) -> CachedClinical | None:
        """The cached answer, or None when there is none or it has expired at `now`."""
        with self._lock:
            row = self._db.execute(
                "SELECT fetched_at, expires_at, enc_data FROM clinical_cache"
                " WHERE confirmation_id = ? AND kind = ? AND expires_at > ?",
                [confirmation_id, kind, _instant(now)],
            ).fetchone()
        if row is None:
            return None
        return CachedClinical(
            self._cipher.decrypt(row[2], _cache_binding(confirmation_id, kind)),
            datetime.fromisoformat(row[0]),
            datetime.fromisoformat(row[1]),
        )

    def purge_clinical_cache(self, now: datetime) -> int:
        with self._write() as db:
            cursor = db.execute("DELETE FROM clinical_cache WHERE expires_at <= ?", [_instant(now)])
            return int(cursor.rowcount)

    # -- users and sessions (rows only; policy lives in device/accounts.py) ----------------
    def add_user(
        self,
        username: str,
        display_name: str,
        roles: tuple[str, ...],
        password_hash: str,
    ) -> UserRow:
        """sqlite3.IntegrityError when the username exists."""
        created = self._clock()
        with self._write() as db:
            user_id = int(
                db.execute(
                    "INSERT INTO users (username, display_name, roles, password_hash, disabled,"
                    " created_at) VALUES (?,?,?,?,0,?)",
                    [username, display_name, ",".join(roles), password_hash, _instant(created)],
                ).lastrowid
                or 0
            )
        return UserRow(user_id, username, display_name, tuple(roles), password_hash, False, created)

    def user_by_username(self, username: str) -> UserRow | None:
        return self._user("username = ?", username)

    def user(self, user_id: int) -> UserRow | None:
        return self._user("id = ?", user_id)

    def _user(self, where: str, value: object) -> UserRow | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE {where}",
                [value],
            ).fetchone()
        return None if row is None else _user_row(row)

    def count_users(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        """Disabling also ends every session of the user."""
        with self._write() as db:
            db.execute("UPDATE users SET disabled = ? WHERE id = ?", [int(disabled), user_id])
            if disabled:
                db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])

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
        started = at if at is not None else self._clock()
        with self._write() as db:
            db.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen,"
                " client) VALUES (?,?,?,?,?,?)",
                [token_hash, user_id, csrf_token, _instant(started), _instant(started), client],
            )
        return SessionRow(token_hash, user_id, csrf_token, started, started, client)

    def session(self, token_hash: str) -> SessionRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT token_hash, user_id, csrf_token, created_at, last_seen, client,"
                " second_factor FROM sessions WHERE token_hash = ?",
                [token_hash],
            ).fetchone()
        if row is None:
            return None
        return SessionRow(
            row[0],
            row[1],
            row[2],
            datetime.fromisoformat(row[3]),
            datetime.fromisoformat(row[4]),
            row[5],
            bool(row[6]),
        )

    def touch_session(self, token_hash: str, at: datetime) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
                [_instant(at), token_hash],
            )

    def delete_session(self, token_hash: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])

    # -- second factor and user management (rows only; policy in device/accounts.py) -------
    def set_session_second_factor(self, token_hash: str) -> None:
        with self._write() as db:
            db.execute("UPDATE sessions SET second_factor = 1 WHERE token_hash = ?", [token_hash])

    def delete_sessions_of(self, user_id: int, *, keep: str = "") -> int:
        """End every session of a user (except the one whose hash is `keep`); how many ended."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?", [user_id, keep]
            )
            return int(cursor.rowcount)

    def set_totp_secret(self, user_id: int, secret: bytes | None) -> None:
        """Enrol (encrypted, bound to the user's row) or remove (None) the TOTP seed."""
        blob = None if secret is None else self._cipher.encrypt(secret, _totp_binding(user_id))
        with self._write() as db:
            db.execute("UPDATE users SET totp_secret = ? WHERE id = ?", [blob, user_id])

    def totp_secret(self, user_id: int) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT totp_secret FROM users WHERE id = ?", [user_id]
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return self._cipher.decrypt(row[0], _totp_binding(user_id))

    def use_totp_step(self, user_id: int, step: int) -> bool:
        """Spend a TOTP time step: True only the first time and only when newer than the last."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
                [step, user_id, step],
            )
            return cursor.rowcount == 1

    def set_user_roles(self, user_id: int, roles: tuple[str, ...]) -> None:
        with self._write() as db:
            db.execute("UPDATE users SET roles = ? WHERE id = ?", [",".join(roles), user_id])

    def set_password_hash(self, user_id: int, password_hash: str, *, at: datetime) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                [password_hash, _instant(at), user_id],
            )

    def list_users(self) -> list[UserRow]:
        """Every user by username; TOTP only as enrolled or not (nothing is decrypted)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users ORDER BY username"
            ).fetchall()
        return [_user_row(row) for row in rows]

    def purge_sessions(self, *, seen_before: datetime, created_before: datetime) -> int:
        """Delete sessions idle since seen_before or started before created_before."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM sessions WHERE last_seen <= ? OR created_at <= ?",
                [_instant(seen_before), _instant(created_before)],
            )
            return int(cursor.rowcount)

    # -- audit ------------------------------------------------------------------------
    def audit(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        with self._write():
            self._append_audit(actor, action, subject, detail)

    def _append_audit(self, actor: str, action: str, subject: str, detail: str) -> None:
        row = self._db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        prev = row[0] if row else GENESIS_HASH
        at = self._clock().isoformat()
        digest = entry_hash(prev, at, actor, action, subject, detail)
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
        return self.verify_audit_detail().first_bad_id

    def verify_audit_detail(self) -> AuditVerdict:
        """The whole chain from the genesis: how many entries hold, the first that does not, why.

        Read in slices so a five-year log neither fills the memory nor holds the lock (and so
        the card flow) for the whole check; entries appended meanwhile are checked too.
        """
        chain = ChainCheck()
        last_id = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit"
                    " WHERE id > ? ORDER BY id LIMIT ?",
                    [last_id, _AUDIT_VERIFY_SLICE],
                ).fetchall()
            if not rows:
                return chain.verdict()
            for row in rows:
                if not chain.feed(AuditEntry(*row)):
                    return chain.verdict()
                last_id = row[0]

    # -- settings saved on the admin page (validated by device.config before saving) ---------
    def stored_settings(self) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM settings ORDER BY name").fetchall()
        return {str(name): str(value) for name, value in rows}

    def save_setting(
        self, name: str, value: str, *, actor: str, previous: str | None = None
    ) -> None:
        """Save one value with its audit entry in one transaction; `previous` is the value in
        effect before (default: the one stored). No setting holds personal data."""
        with self._write() as db:
            row = db.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchone()
            old = previous if previous is not None else (str(row[0]) if row else "")
            db.execute(
                "INSERT INTO settings (name, value, changed_at, changed_by) VALUES (?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value,"
                " changed_at = excluded.changed_at, changed_by = excluded.changed_by",
                [name, value, _instant(self._clock()), actor],
            )
            self._append_audit(actor, "setting.changed", f"setting:{name}", f"{old} → {value}")

    def delete_setting(self, name: str, *, actor: str) -> None:
        """Back to the value below the admin page (file or default); audited when one existed."""
        with self._write() as db:
            row = db.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchone()
            if row is None:
                return
            db.execute("DELETE FROM settings WHERE name = ?", [name])
            self._append_audit(
                actor, "setting.changed", f"setting:{name}", f"{row[0]} → {SETTING_DEFAULT_MARK}"
            )

    # -- audit viewer ------------------------------------------------------------------
    def audit_search(
        self,
        *,
        actor: str = "",
        action: str = "",
        subject_prefix: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first; `since` inclusive, `until` exclusive; page on with before_id."""
        where: list[str] = []
        params: list[Any] = []
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if action:
            where.append("action = ?")
            params.append(action)
        if subject_prefix:
            # A range rather than LIKE: exact (LIKE ignores case) and it uses audit_subject.
            where.append("subject >= ? AND subject < ?")
            params += [subject_prefix, subject_prefix + "\U0010ffff"]
        # julianday() reads the offset, so any writer's time zone compares correctly.
        if since is not None:
            where.append("julianday(at) >= julianday(?)")
            params.append(_instant(since))
        if until is not None:
            where.append("julianday(at) < julianday(?)")
            params.append(_instant(until))
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit"
                f" {clause} ORDER BY id DESC LIMIT ?",
                [*params, max(1, min(limit, _AUDIT_PAGE_MAX))],
            ).fetchall()
        return [AuditEntry(*row) for row in rows]

    def audit_actions(self) -> list[str]:
        """Every action that occurs in the log, for the viewer's filter."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT action FROM audit ORDER BY action").fetchall()
        return [str(row[0]) for row in rows]


_USER_COLUMNS = (
    "id, username, display_name, roles, password_hash, disabled, created_at,"
    " totp_secret IS NOT NULL"
)


def _user_row(row: Any) -> UserRow:
    return UserRow(
        row[0],
        row[1],
        row[2],
        tuple(r for r in row[3].split(",") if r),
        row[4],
        bool(row[5]),
        datetime.fromisoformat(row[6]),
        bool(row[7]),
    )


def _totp_binding(user_id: int) -> str:
    return f"users.totp_secret:{user_id}"


def _cache_binding(confirmation_id: int, kind: str) -> str:
    return f"clinical_cache.enc_data:{confirmation_id}:{kind}"


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
