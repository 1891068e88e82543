"""The SQL side of backups: a consistent copy of the database, and the checks a copy passes
before it may replace the store.

A copy is taken with SQLite's online backup API from a read-only connection of its own, in one
step (one read transaction): under WAL the appliance goes on writing meanwhile, and the copy is
the database as it was at one commit. The audit anchor (the file beside the database naming the
chain's head) is read before the copy starts, so every head it names is inside the copy — the
same order as verify_audit_file. Encryption, the backup file and its generations are the
device's (device/backup.py); nothing here knows a passphrase.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sync.auditchain import AuditUncheckable, AuditVerdict
from sync.fieldcrypt import FieldCipher, KeyMismatchError
from sync.store.auditlog import anchor_path_of, verify_audit_file
from sync.store.schema import MIGRATIONS

# Tables counted in a backup's report (what an admin recognises).
COUNTED_TABLES = ("confirmations", "visits", "audit", "users", "statements", "outbox")


class SnapshotError(Exception):
    """The database could not be copied (missing, unreadable, not this key's)."""


class RestoredCopyRefused(Exception):
    """A restored copy fails a check: it must not replace the store. `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    anchor: bytes  # the anchor file as read before the copy (b"" when there is none)
    schema_version: int
    counts: dict[str, int]


@dataclass(frozen=True)
class CopyChecked:
    schema_version: int
    counts: dict[str, int]
    audit: AuditVerdict


def snapshot_file(
    database: Path,
    target: Path,
    cipher: FieldCipher,
    *,
    anchor_path: Path | None = None,
    busy_timeout_s: float = 30.0,
) -> Snapshot:
    """Copy `database` into `target` (made 0600, must not exist) beside a running appliance.

    KeyMismatchError when `cipher` is not the database's key: a backup never carries a key that
    cannot read it."""
    if not database.exists():
        raise SnapshotError(f"データベースがありません / no database at {database}")
    anchor_file = anchor_path_of(database, anchor_path)
    try:
        anchor = anchor_file.read_bytes()
    except FileNotFoundError:
        anchor = b""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=busy_timeout_s)
    except sqlite3.Error as exc:
        raise SnapshotError(f"データベースを開けません / cannot open {database}: {exc}") from exc
    try:
        _check_key(source, cipher)
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)  # pages=-1: the whole database in one step, one snapshot
            # The copy stands alone: no -wal beside it on the backup medium or in a restore.
            copy.execute("PRAGMA journal_mode=DELETE")
            version = _schema_version(copy)
            counts = _counts(copy)
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise SnapshotError(
            f"データベースを複製できません / cannot copy {database}: {exc}"
        ) from exc
    finally:
        source.close()
    return Snapshot(anchor, version, counts)


def check_copy(path: Path, cipher: FieldCipher, *, anchor_path: Path) -> CopyChecked:
    """The checks a restored copy passes before it replaces the store: SQLite's own
    integrity_check, a schema this version can open, the key's check value, and the audit
    chain against its anchor. RestoredCopyRefused (with the reason, ja / en) otherwise;
    KeyMismatchError when `cipher` is not the copy's key. Read-only."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise RestoredCopyRefused(f"開けません / cannot open the copy: {exc}") from exc
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if rows != ["ok"]:
            raise RestoredCopyRefused(
                "データベースが壊れています (integrity_check) / the database is damaged "
                f"(integrity_check): {'; '.join(rows[:3])}"
            )
        version = _schema_version(conn)
        if version > len(MIGRATIONS):
            raise RestoredCopyRefused(
                f"新しい版で作られたバックアップです（スキーマ {version}）。onshi を更新してから"
                f"戻してください / the backup was made by a newer onshi (schema {version}, this "
                f"one knows {len(MIGRATIONS)}): update onshi first"
            )
        _check_key(conn, cipher)
        counts = _counts(conn)
    except sqlite3.DatabaseError as exc:
        raise RestoredCopyRefused(f"読めません / cannot read the copy: {exc}") from exc
    finally:
        conn.close()
    try:
        verdict = verify_audit_file(path, cipher, anchor_path=anchor_path)
    except AuditUncheckable as exc:
        raise RestoredCopyRefused(
            f"監査ログを検査できません / the audit log cannot be checked: {exc}"
        ) from exc
    if not verdict.ok:
        where = f" (id {verdict.first_bad_id})" if verdict.first_bad_id is not None else ""
        raise RestoredCopyRefused(
            f"監査ログの連鎖が成り立ちません / the audit chain does not hold{where}: "
            f"{verdict.reason}"
        )
    return CopyChecked(version, counts, verdict)


def take_sole_access(database: Path, timeout_s: float = 2.0) -> bool:
    """Whether this process is the database's only user: leaving WAL mode needs every other
    connection closed (a running appliance keeps one open). On success the WAL is folded into
    the file, so it can be moved aside whole. False when another process has it open."""
    try:
        conn = sqlite3.connect(str(database), timeout=timeout_s, isolation_level=None)
    except sqlite3.Error:
        return True  # cannot be opened at all: nobody uses it; it is moved aside whole
    try:
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()
        return mode is not None and str(mode[0]).lower() == "delete"
    except sqlite3.OperationalError as exc:
        return not any(word in str(exc) for word in ("locked", "busy"))
    except sqlite3.DatabaseError:
        return True  # not a database (damaged): nobody can be using it
    finally:
        conn.close()


def _check_key(conn: sqlite3.Connection, cipher: FieldCipher) -> None:
    try:
        row = conn.execute("SELECT value FROM store_meta WHERE name = 'key_check'").fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is None or not cipher.is_key_check(str(row[0])):
        raise KeyMismatchError(
            "鍵がこのデータベースのものではありません / the key is not this database's key"
        )


def _schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return {
        table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in COUNTED_TABLES
        if table in tables
    }
