"""The appliance's local state in one SQLite file — the only module that speaks SQL.

One connection, one lock: every read and write goes through it, so there is exactly one writer
(the system SQLite predates the WAL-reset fix of 3.51.3; one writer never races). WAL with
synchronous=FULL: whatever a caller was told is saved survives kill -9 and power loss.
Personal data lives only inside the encrypted raw answer (AES-GCM bound to its row); searching
uses keyed hashes (blind indexes) of kana, birth date and insurance numbers. Medical information
fetched under consent is cached encrypted the same way, bound to (confirmation, kind).
Users and sessions are plain rows here; the policy (hashing, timeouts, roles) is device/accounts.py.
Instants are stored as UTC text of one fixed width, so text order is time order.
The database keeps a check of its key (store_meta.key_check) and never opens with another key;
the audit chain is keyed and its head anchored in a file beside the database (sync/auditchain.py).
Files are private whatever the umask: the directory 0700, the database, its -wal/-shm, the key
and the anchor 0600.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlite_utils

from sync.auditchain import (
    GENESIS_HASH,
    AnchoredHead,
    AnchorReading,
    AuditAnchor,
    AuditUncheckable,
    AuditVerdict,
    ChainCheck,
    Checkpoint,
    entry_hash,
    keyed_hash_of,
    legacy_entry_hash,
)
from sync.clock import JST, utc_now
from sync.codes import badge
from sync.fieldcrypt import DecryptError, FieldCipher, KeyMismatchError
from sync.reserve import DiskReserve, DiskState
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
    """
    CREATE TABLE store_meta (
        name TEXT PRIMARY KEY,          -- key_check, audit_chain, audit_base
        value TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE retention_state (
        name TEXT PRIMARY KEY,          -- 'newest_seen': the newest row the last purge run saw
        value TEXT NOT NULL,
        changed_at TEXT NOT NULL
    );
    """,
)

log = logging.getLogger(__name__)

# Tables whose rows mean "this database holds data": a key is never made for it.
_DATA_TABLES = ("confirmations", "visits", "audit", "users", "settings", "store_meta")
AUDIT_CHAIN_KEYED = "hmac-sha256-v1"  # store_meta.audit_chain once the chain is keyed


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


class RetentionRefused(Exception):
    """A retention purge that would have deleted rows a wrong clock makes look old; nothing was
    deleted. `rule` is "share" (too large a part of a table) or "newer_than_seen" (rows newer
    than the newest row the previous run saw); the counts are what the run would have deleted."""

    def __init__(
        self,
        *,
        rule: str,
        before: str,
        newest_seen: str,
        confirmations: int,
        confirmations_total: int,
        visits: int,
        visits_total: int,
        newer: int,
    ) -> None:
        super().__init__(
            f"retention purge refused ({rule}): would delete confirmations "
            f"{confirmations}/{confirmations_total}, visits {visits}/{visits_total}, "
            f"{newer} newer than the last run saw ({newest_seen or 'none'}); before={before}"
        )
        self.rule = rule
        self.before = before
        self.newest_seen = newest_seen
        self.confirmations = confirmations
        self.confirmations_total = confirmations_total
        self.visits = visits
        self.visits_total = visits_total
        self.newer = newer


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


class StoreFullError(Exception):
    """The disk is full: the write was rolled back whole, nothing of it is stored.

    `free_bytes` is the space left (-1 unknown); `reserve_left` says whether the disk reserve
    can still be given up (False once it has been used)."""

    def __init__(self, free_bytes: int, reserve_left: bool) -> None:
        super().__init__(f"disk full: {free_bytes} bytes free, nothing was written")
        self.free_bytes = free_bytes
        self.reserve_left = reserve_left


_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _disk_full(exc: BaseException, reserve: DiskReserve | None) -> bool:
    """SQLITE_FULL or ENOSPC; an I/O error counts when the disk is in fact (nearly) full."""
    if isinstance(exc, OSError):
        return exc.errno in (28, 122)  # ENOSPC, EDQUOT
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return "disk is full" in str(exc)
    if code & 0xFF == _SQLITE_FULL:
        return True
    if code & 0xFF == _SQLITE_IOERR and reserve is not None:
        return 0 <= reserve.free_bytes() < 64 * 1024
    return False


def _reserve_on_full(
    method: Callable[Concatenate[Store, _P], _R],
) -> Callable[Concatenate[Store, _P], _R]:
    """A write that found the disk full is run once more after the reserve is released: the
    failed attempt was rolled back whole, so running it again cannot store anything twice."""

    @functools.wraps(method)
    def write(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except StoreFullError as full:
            if not full.reserve_left or self._reserve is None:
                raise
            self._reserve.release("SQLite reported the disk full")
            return method(self, *args, **kwargs)

    return write


def _audit_slice(conn: sqlite3.Connection, after_id: int) -> list[Any]:
    """The next slice of the chain after `after_id`, in order: the chain is walked in slices so
    a check of millions of entries never holds them all in memory."""
    return conn.execute(
        "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit"
        " WHERE id > ? ORDER BY id LIMIT ?",
        [after_id, _AUDIT_VERIFY_SLICE],
    ).fetchall()


def numbers_key(insurer_number: str, symbol: str, number: str) -> str:
    """What identifies an insured person's card for lookups: insurer, symbol, number."""
    return "|".join([insurer_number.strip().lstrip("0"), symbol.strip(), number.strip()])


class Store:
    def __init__(
        self,
        path: Path | str,
        cipher: FieldCipher,
        clock: Callable[[], datetime] = utc_now,
        *,
        reserve_bytes: int = 0,
        anchor_path: Path | None = None,
    ):
        """`reserve_bytes`: disk held back beside the database for a full disk (sync.reserve);
        `anchor_path`: the audit anchor file (default <database>.anchor; none in memory)."""
        self._cipher = cipher
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0  # nested _write blocks; the anchor is written after the outermost
        self._pending_head: AnchoredHead | None = None  # the head once this block commits
        self._pending_base: Checkpoint | None = None  # the base once this block commits
        self._anchor_mode = "append"  # or restart (the file was lost), compact (retention)
        self._base = Checkpoint()
        self._audit_count = 0
        self._reserve: DiskReserve | None = None
        in_memory = str(path) == ":memory:"
        if not in_memory:
            _private_files(Path(path))
            self._reserve = DiskReserve(Path(path).parent, reserve_bytes)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db = sqlite_utils.Database(conn)
        if not in_memory:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._anchor = (
            None
            if in_memory
            else AuditAnchor(anchor_path_of(Path(path), anchor_path), cipher.audit_key)
        )
        try:
            self._migrate()
            self._check_key()
            self._key_audit_chain()
        except BaseException:
            self.close()
            raise

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
        """One transaction; a full disk rolls it back whole and raises StoreFullError. The audit
        anchor is written after the outermost commit."""
        with self._lock:
            if self._reserve is not None and self._depth == 0:
                self._reserve.before_write()
            self._depth += 1
            try:
                with self._db.atomic() as db:
                    yield db
            except BaseException as exc:
                if self._depth == 1:  # rolled back: nothing to anchor
                    self._pending_head = self._pending_base = None
                    self._anchor_mode = "append"
                if isinstance(exc, sqlite3.OperationalError | OSError) and _disk_full(
                    exc, self._reserve
                ):
                    reserve = self._reserve
                    raise StoreFullError(
                        reserve.free_bytes() if reserve else -1,
                        reserve is not None and reserve.held,
                    ) from exc
                raise
            finally:
                self._depth -= 1
            if self._depth == 0:
                self._anchor_head()

    def disk_state(self) -> DiskState | None:
        """Free space and the reserve, for the status page (None for an in-memory store)."""
        return self._reserve.state() if self._reserve is not None else None

    def close(self) -> None:
        with self._lock:
            if self._anchor is not None:
                self._anchor.close()
            self._db.close()

    # -- the key check ------------------------------------------------------------------
    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM store_meta WHERE name = ?", [name]).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO store_meta (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            [name, value],
        )

    def _check_key(self) -> None:
        """KeyMismatchError unless this key is the database's: its stored key check, or (for a
        database from before the check) an encrypted row that must decrypt; then the check is
        written, so a later open with another key is refused even before any row is read."""
        with self._lock:
            stored = self._meta("key_check")
            if stored is not None:
                if not self._cipher.is_key_check(stored):
                    raise KeyMismatchError(
                        "鍵がこのデータベースのものではありません / "
                        "the key is not this database's key"
                    )
                return
            sample = _encrypted_sample(self._db)
            if sample is not None:
                blob, binding = sample
                try:
                    self._cipher.decrypt(blob, binding)
                except DecryptError as exc:
                    raise KeyMismatchError(
                        "鍵で記録を復号できません / the key does not decrypt the stored rows"
                    ) from exc
            with self._db.atomic():
                self._set_meta("key_check", self._cipher.key_check())

    # -- visits and confirmations -------------------------------------------------------
    @_reserve_on_full
    def record_visit(self, visit: VisitRecord, actor: str = "reader") -> None:
        """A visit that ended without an answer (aborted or failed): no personal data."""
        with self._write():
            self._insert_visit(visit)
            self._append_audit(actor, f"visit.{visit.state}", f"visit:{visit.id}", visit.reason)

    @_reserve_on_full
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
        result: QualificationResult | None = None,
    ) -> Confirmation:
        """Store an answer (and the visit it ended) in one transaction, with its audit entry.
        `result` is `raw_result` as the transport already parsed it."""
        if result is None:
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

    def purge_older_than(
        self,
        before: datetime,
        *,
        actor: str,
        max_share: float = 1.0,
        small_run: int = 0,
    ) -> tuple[int, int]:
        """Delete confirmations created and visits ended before `before`; (confirmations, visits).

        Consents and cached medical data go with their confirmation (ON DELETE CASCADE). One
        transaction with one audit entry when anything was deleted; the audit log is kept.
        Rows hold isoformat() text, whose order is time order only while every row has the same
        offset: julianday() compares the instants themselves (to the millisecond).

        A clock set far ahead makes every row look old, so a run deletes nothing and raises
        RetentionRefused when it would delete more than `max_share` of a table (runs of at most
        `small_run` rows aside) or any row newer than the newest row the previous run saw. Every
        run that gets this far records the newest row it saw (retention_state), refused or not.
        """
        if before.tzinfo is None:  # astimezone() would take a naive time as local time
            raise ValueError("aware datetime required")
        bound = before.astimezone(UTC).isoformat()
        refused: RetentionRefused | None = None
        confirmations = visits = 0
        with self._write() as db:
            if db.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
                raise RuntimeError("foreign keys are off: consents would outlive their rows")
            row = db.execute(
                "SELECT value FROM retention_state WHERE name = 'newest_seen'"
            ).fetchone()
            watermark = str(row[0]) if row else ""
            refused = self._purge_refusal(bound, watermark, max_share, small_run)
            if refused is None:
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
            newest = self._newest_row(watermark)
            if newest:
                db.execute(
                    "INSERT INTO retention_state (name, value, changed_at)"
                    " VALUES ('newest_seen', ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " value = excluded.value, changed_at = excluded.changed_at",
                    [newest, _instant(self._clock())],
                )
        if refused is not None:
            raise refused
        return confirmations, visits

    def _purge_refusal(
        self, bound: str, watermark: str, max_share: float, small_run: int
    ) -> RetentionRefused | None:
        counts: dict[str, tuple[int, int, int]] = {}
        for table, column in (("confirmations", "created_at"), ("visits", "ended_at")):
            old, total, newer = self._db.execute(
                f"SELECT COALESCE(SUM(julianday({column}) < julianday(?)), 0), COUNT(*),"
                f" COALESCE(SUM(julianday({column}) < julianday(?)"
                f" AND julianday({column}) > julianday(?)), 0) FROM {table}",
                [bound, bound, watermark or bound],
            ).fetchone()
            counts[table] = (int(old), int(total), int(newer) if watermark else 0)
        (c_old, c_total, c_newer), (v_old, v_total, v_newer) = counts.values()
        rule = ""
        if c_newer or v_newer:
            rule = "newer_than_seen"
        elif any(old > small_run and old > max_share * total for old, total, _ in counts.values()):
            rule = "share"
        if not rule:
            return None
        return RetentionRefused(
            rule=rule,
            before=bound,
            newest_seen=watermark,
            confirmations=c_old,
            confirmations_total=c_total,
            visits=v_old,
            visits_total=v_total,
            newer=c_newer + v_newer,
        )

    def _newest_row(self, watermark: str) -> str:
        """The newest time of any confirmation or visit, or of the watermark, as instant text."""
        candidates = [datetime.fromisoformat(watermark)] if watermark else []
        for table, column in (("confirmations", "created_at"), ("visits", "ended_at")):
            row = self._db.execute(
                f"SELECT {column} FROM {table} ORDER BY julianday({column}) DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                candidates.append(datetime.fromisoformat(row[0]))
        return _instant(max(candidates)) if candidates else ""

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
    @_reserve_on_full
    def audit(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        with self._write():
            self._append_audit(actor, action, subject, detail)

    def _append_audit(self, actor: str, action: str, subject: str, detail: str) -> None:
        """Inside a _write block: the entry, keyed and linked; its head is anchored after the
        outermost block commits."""
        pending = self._pending_head
        base = self._pending_base or self._base
        row = self._db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        last_id, prev = (int(row[0]), str(row[1])) if row else (base.id, base.hash)
        entry_id = last_id + 1
        at = self._clock().isoformat()
        digest = entry_hash(
            self._cipher.audit_key, entry_id, prev, at, actor, action, subject, detail
        )
        self._db.execute(
            "INSERT INTO audit (id, at, actor, action, subject, detail, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [entry_id, at, actor, action, subject, detail, prev, digest],
        )
        count = (pending.count if pending is not None else self._audit_count) + 1
        self._pending_head = AnchoredHead(base.id, entry_id, count, digest)

    def _anchor_head(self) -> None:
        """After a commit: the new head to the anchor file (fsync'd). A failure to write it is
        logged, never raised: the entry is committed, and the verifier reports the gap."""
        head, self._pending_head = self._pending_head, None
        base, self._pending_base = self._pending_base, None
        mode, self._anchor_mode = self._anchor_mode, "append"
        if head is None:
            return
        self._audit_count = head.count
        if base is not None:
            self._base = base
        if self._anchor is None:
            return
        try:
            if mode == "restart":
                self._anchor.start(replace(head, restarted=True))
            elif mode == "compact":
                restart = self._anchor.read().restart
                kept = [restart] if restart is not None and restart.head_id > head.base_id else []
                self._anchor.rewrite([*kept, head])
            else:
                self._anchor.append(head)
        except OSError as exc:
            log.error(
                "監査アンカーを書けません / cannot write the audit anchor %s: %s",
                self._anchor.path,
                exc,
            )

    def _key_audit_chain(self) -> None:
        """Once per database: key the chain (re-keying an existing one from its first entry,
        said in the log) and start its anchor. Later opens load the base and the count."""
        with self._lock:
            self._pending_base = None
            self._audit_count = int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
            keyed = self._meta("audit_chain") == AUDIT_CHAIN_KEYED
            sealed = self._meta("audit_base")
            self._base = (
                Checkpoint.unseal(self._cipher.audit_key, sealed) or _lenient_base(sealed)
                if sealed
                else Checkpoint()
            )
            anchor_there = self._anchor is not None and self._anchor.exists()
            if keyed:
                if self._anchor is not None and not anchor_there:
                    log.error(
                        "監査アンカーがありません。作り直します / the audit anchor %s is missing;"
                        " recreating it (the verifier will report from where)",
                        self._anchor.path,
                    )
                    with self._write():
                        self._anchor_mode = "restart"
                        self._append_audit(
                            "system",
                            "audit.anchor_restarted",
                            "audit",
                            f"anchor file missing; recreated after entry {self._last_audit_id()}",
                        )
                return
            anchor_there = self._anchor is not None and self._anchor.holds_heads()
            if self._anchor is not None and not anchor_there:
                # Made (empty) before the chain is marked keyed: a crash between the commit and
                # the first head leaves an anchor, never a keyed chain without one.
                self._anchor.create_empty()
            self._rekey(anchor_there)

    def _rekey(self, anchor_there: bool) -> None:
        key = self._cipher.audit_key
        legacy_problem = ""
        rekeyed = 0
        legacy_prev = GENESIS_HASH
        prev = GENESIS_HASH
        with self._write():
            last_id = 0
            while True:
                rows = _audit_slice(self._db.conn, last_id)
                if not rows:
                    break
                for row in rows:
                    old = AuditEntry(*row)
                    if not legacy_problem:
                        expected = legacy_entry_hash(
                            old.prev_hash, old.at, old.actor, old.action, old.subject, old.detail
                        )
                        if old.hash != expected:
                            legacy_problem = f"legacy chain: contents changed at id {old.id}"
                        elif old.prev_hash != legacy_prev:
                            legacy_problem = f"legacy chain: link broken at id {old.id}"
                        legacy_prev = old.hash
                    new = keyed_hash_of(key, replace(old, prev_hash=prev))
                    self._db.execute(
                        "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
                        [prev, new, old.id],
                    )
                    prev = new
                    last_id = old.id
                    rekeyed += 1
            self._set_meta("audit_chain", AUDIT_CHAIN_KEYED)
            self._set_meta("audit_base", Checkpoint().seal(key))
            if rekeyed or anchor_there:
                detail = f"re-keyed {rekeyed} entries from the first (HMAC-SHA256)"
                detail += (
                    f"; {legacy_problem} before keying" if legacy_problem else "; legacy chain held"
                )
                if anchor_there:
                    detail += "; an anchor file existed already (the chain's marker was removed)"
                self._append_audit("system", "audit.chain_keyed", "audit", detail)
            else:
                self._pending_head = AnchoredHead(0, 0, 0, GENESIS_HASH)
        if legacy_problem:
            log.error("監査ログ / audit log: %s (recorded when keying the chain)", legacy_problem)

    def _last_audit_id(self) -> int:
        row = self._db.execute("SELECT MAX(id) FROM audit").fetchone()
        return int(row[0]) if row and row[0] is not None else self._base.id

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
        """The whole chain from its base, keyed, and against the head in the anchor file: how
        many entries hold, the first that does not, why.

        Read in slices so a five-year log neither fills the memory nor holds the lock (and so
        the card flow) for the whole check; entries appended meanwhile are checked too. The
        anchor is read first: every head it names was committed before the entries are read.
        """
        while True:
            verdict = self._verify_from_base()
            if verdict is not None:
                return verdict  # else retention moved the base meanwhile: again from the new one

    def _verify_from_base(self) -> AuditVerdict | None:
        with self._lock:
            anchor = self._anchor.read() if self._anchor is not None else None
            sealed = self._meta("audit_base")
        base = _sealed_base(self._cipher.audit_key, sealed)
        chain = ChainCheck(self._cipher.audit_key, base, anchor)
        last_id = base.id if base is not None else 0
        while True:
            with self._lock:
                if self._meta("audit_base") != sealed:
                    return None
                rows = _audit_slice(self._db.conn, last_id)
            if not rows:
                return chain.verdict()
            for row in rows:
                if not chain.feed(AuditEntry(*row)):
                    return chain.verdict()
                last_id = row[0]

    def purge_audit_before(self, before: datetime, *, actor: str) -> int:
        """Remove the oldest entries written before `before`, as a prefix of the chain (never
        the newest entry); the last one removed becomes the signed checkpoint the first kept
        entry links to, and the anchor file is rewritten to the new head. How many went."""
        if before.tzinfo is None:
            raise ValueError("aware datetime required")
        bound = before.astimezone(UTC).isoformat()
        key = self._cipher.audit_key
        # Removing entries and rewriting the anchor would also remove the evidence of any
        # tampering: a chain that does not verify is kept whole for an admin to look at.
        verdict = self.verify_audit_detail()
        if not verdict.ok:
            log.error(
                "監査ログの保存期間処理を見送りました / audit retention skipped: the chain does not"
                " verify at entry %s: %s",
                verdict.first_bad_id,
                verdict.reason,
            )
            self.audit(
                actor,
                "audit.retention_skipped",
                "audit",
                f"the chain does not verify at id={verdict.first_bad_id}",
            )
            return 0
        with self._write() as db:
            newest = self._last_audit_id()
            row = db.execute(
                "SELECT MIN(id) FROM audit WHERE julianday(at) >= julianday(?)", [bound]
            ).fetchone()
            first_kept = int(row[0]) if row[0] is not None else newest
            last_removed = min(first_kept, newest) - 1
            if last_removed <= self._base.id:
                return 0
            found = db.execute("SELECT hash FROM audit WHERE id = ?", [last_removed]).fetchone()
            if found is None:  # a hole in the chain: leave it to the verifier to report
                return 0
            removed = int(db.execute("DELETE FROM audit WHERE id <= ?", [last_removed]).rowcount)
            checkpoint = Checkpoint(last_removed, str(found[0]))
            self._set_meta("audit_base", checkpoint.seal(key))
            head = db.execute("SELECT hash FROM audit WHERE id = ?", [newest]).fetchone()
            self._pending_base = checkpoint
            self._pending_head = AnchoredHead(
                checkpoint.id, newest, self._audit_count - removed, str(head[0])
            )
            self._anchor_mode = "compact"
            self._append_audit(
                actor,
                "audit.retention",
                "audit",
                f"removed={removed} through id={last_removed} before={bound}",
            )
        return removed

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


def anchor_path_of(database: Path, anchor_path: Path | None = None) -> Path:
    """Where a database's audit anchor lives: beside it, <database>.anchor, unless given."""
    return anchor_path if anchor_path is not None else database.with_name(database.name + ".anchor")


def holds_data(path: Path) -> bool:
    """Whether a database file has anything in it that a new key would lose (read-only; a file
    that cannot be read counts as holding data)."""
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return True
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return any(
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
            for table in _DATA_TABLES
            if table in tables
        )
    except sqlite3.Error:
        return True
    finally:
        conn.close()


def verify_audit_file(
    path: Path,
    cipher: FieldCipher,
    *,
    anchor_path: Path | None = None,
    busy_timeout_s: float = 30.0,
) -> AuditVerdict:
    """Check a database's audit chain from another process while the appliance writes to it.

    Read-only (never a write lock, nothing written, no migration), with a busy timeout, from
    one snapshot: a read transaction sees the chain as it was at one commit. The anchor is read
    before the snapshot starts, so the head it names is inside the snapshot.
    KeyMismatchError when the key is not the database's; AuditUncheckable when it cannot tell.
    """
    try:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=busy_timeout_s, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise AuditUncheckable(f"データベースを開けません / cannot open {path}: {exc}") from exc
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "store_meta" not in tables or "audit" not in tables:
            raise AuditUncheckable(_NOT_MIGRATED)
        meta = dict(conn.execute("SELECT name, value FROM store_meta").fetchall())
        stored = meta.get("key_check")
        if stored is not None and not cipher.is_key_check(str(stored)):
            raise KeyMismatchError("鍵がこのデータベースのものではありません / wrong key")
        if meta.get("audit_chain") != AUDIT_CHAIN_KEYED or stored is None:
            raise AuditUncheckable(_NOT_MIGRATED)
        key = cipher.audit_key
        anchor: AnchorReading = AuditAnchor(anchor_path_of(path, anchor_path), key).read()
        conn.execute("BEGIN")  # one snapshot from the first read to COMMIT
        row = conn.execute("SELECT value FROM store_meta WHERE name = 'audit_base'").fetchone()
        base = _sealed_base(key, None if row is None else str(row[0]))
        chain = ChainCheck(key, base, anchor)
        last_id = base.id if base is not None else 0
        while chain.broken is None:
            rows = _audit_slice(conn, last_id)
            if not rows:
                break
            for entry in rows:
                if not chain.feed(AuditEntry(*entry)):
                    break
                last_id = entry[0]
        conn.execute("COMMIT")
        return chain.verdict()
    except sqlite3.Error as exc:
        raise AuditUncheckable(f"読み取れません / could not read {path}: {exc}") from exc
    finally:
        conn.close()


_NOT_MIGRATED = (
    "このデータベースはまだ新しい形式になっていません。一度 onshi run で起動してください / "
    "this database has not been opened by this version yet: start the appliance once (onshi run)"
)


def _sealed_base(key: bytes, sealed: str | None) -> Checkpoint | None:
    """The chain's base, or None when its seal does not hold (or it was removed)."""
    return Checkpoint.unseal(key, sealed) if sealed else None


def _lenient_base(sealed: str) -> Checkpoint:
    """The base as written, seal unchecked: appends go on; the verifier reports the seal."""
    parts = sealed.split()
    return (
        Checkpoint(int(parts[0]), parts[1])
        if len(parts) == 3 and parts[0].isdigit()
        else Checkpoint()
    )


def _encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """One encrypted value and its row binding, to tell whether a key is the database's."""
    row = db.execute("SELECT file_id, enc_result FROM confirmations LIMIT 1").fetchone()
    if row is not None:
        return bytes(row[1]), f"confirmations.enc_result:{row[0]}"
    row = db.execute(
        "SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL LIMIT 1"
    ).fetchone()
    if row is not None:
        return bytes(row[1]), _totp_binding(int(row[0]))
    row = db.execute(
        "SELECT confirmation_id, kind, enc_data FROM clinical_cache LIMIT 1"
    ).fetchone()
    if row is not None:
        return bytes(row[2]), _cache_binding(int(row[0]), str(row[1]))
    return None


def _private_files(path: Path) -> None:
    """The database's directory 0700 and its files 0600, whatever the umask: made so, and
    narrowed when an older version left them wider."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.chmod(directory, 0o700)
    except PermissionError:
        log.warning("cannot make %s private (0700): not its owner", directory)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    # SQLite gives -wal and -shm the database file's mode when it creates them.
    for suffix in ("-wal", "-shm", ".anchor"):
        other = path.with_name(path.name + suffix)
        if other.exists():
            os.chmod(other, 0o600)
