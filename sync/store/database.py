"""The one database object: the connection, the lock, the write path, migrations, the key check.

One writer connection, one lock: every write goes through it, so there is exactly one writer
(the system SQLite predates the WAL-reset fix of 3.51.3; one writer never races). Reads that
say so (`reading()`) run on a read-only connection of their own thread instead, without the
lock: in WAL a reader sees the last commit and never waits for a writer's fsync, so the desk's
reads no longer queue behind audit entries and card saves (readers.py). The lock is granted in the
order it was asked for (lock.py) and a long job (the retention purges) writes in short
batches, so a card save never waits for more than one batch. WAL with
synchronous=FULL: whatever a caller was told is saved survives kill -9 and power loss.
A write that finds the disk full is rolled back whole and raises StoreFullError; the disk
reserve beside the database (sync.reserve) can then be given up once and the write run again.
The database keeps a check of its key (store_meta.key_check) and never opens with another key.
Files are private whatever the umask: the directory 0700, the database, its -wal/-shm, the key
and the anchor 0600.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import sqlite_utils

from sync.fieldcrypt import DecryptError, FieldCipher, KeyMismatchError, tag_of_stored
from sync.reserve import DiskReserve, DiskState
from sync.store.instant import instant_text, normalized
from sync.store.lock import StoreLock
from sync.store.readers import Readers
from sync.store.schema import Migration, Rewrite

log = logging.getLogger(__name__)

# Tables whose rows mean "this database holds data": a key is never made for it.
_DATA_TABLES = ("confirmations", "visits", "audit", "users", "settings", "store_meta")
_SQLITE_FULL, _SQLITE_IOERR = 13, 10
# Rows a rewriting migration (schema.Rewrite) updates in one transaction: the WAL grows by
# about that many rows' pages (some 6 MB of answers) whatever the table's size.
REWRITE_BATCH = 5000

# One encrypted value and its row binding, or None: what tells whether a key is the database's.
EncryptedSample = Callable[[sqlite_utils.Database], tuple[bytes, str] | None]


class StoreError(Exception):
    """A store operation refused for a reason its caller can act on (never a sqlite3 error)."""


class StoreFullError(StoreError):
    """The disk is full: the write was rolled back whole, nothing of it is stored.

    `free_bytes` is the space left (-1 unknown); `reserve_left` says whether the disk reserve
    can still be given up (False once it has been used)."""

    def __init__(self, free_bytes: int, reserve_left: bool) -> None:
        super().__init__(f"disk full: {free_bytes} bytes free, nothing was written")
        self.free_bytes = free_bytes
        self.reserve_left = reserve_left


class Database:
    """The connection and what every group of tables shares: the lock, the clock, the cipher,
    the write path. `clock` may be replaced (the appliance's trusted clock, tests)."""

    def __init__(
        self,
        path: Path | str,
        cipher: FieldCipher,
        clock: Callable[[], datetime],
        *,
        migrations: tuple[Migration, ...],
        reserve_bytes: int = 0,
        migrating: Callable[[], object] = lambda: None,
    ) -> None:
        """`migrating` is called after each short transaction of a migration done in batches
        (a large store's first start after an upgrade: the appliance tells systemd it is still
        starting)."""
        self.cipher = cipher
        self.clock = clock
        self.lock = StoreLock()
        self.in_memory = str(path) == ":memory:"
        self.reserve: DiskReserve | None = None
        self._depth = 0  # nested write blocks; the hooks run after the outermost
        self._writer: int | None = None  # the thread inside a write block, if any
        self._after_commit: list[Callable[[], None]] = []
        self._after_rollback: list[Callable[[], None]] = []
        self._migrating = migrating
        if not self.in_memory:
            _private_files(Path(path))
            self.reserve = DiskReserve(Path(path).parent, reserve_bytes)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        # Migration 6 rewrites old instant text with it (microseconds: SQLite's own stop at ms).
        conn.create_function("instant_text", 1, normalized, deterministic=True)
        # Migration 24 cuts the hex blind indexes to tags with it (this SQLite has no unhex).
        conn.create_function("tag_of_stored", 1, tag_of_stored, deterministic=True)
        self.db = sqlite_utils.Database(conn)
        try:
            if not self.in_memory:
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate(migrations)
        except BaseException:
            self.db.close()
            raise
        # After the migrations: a reader never sees a schema half made.
        self.readers = None if self.in_memory else Readers(Path(path))

    # -- schema -----------------------------------------------------------------------
    def _migrate(self, migrations: tuple[Migration, ...]) -> None:
        """Each migration runs once, in order, inside one transaction with its version row (a
        Rewrite of more rows than one batch: in short transactions before its version row's,
        see _rewrite)."""
        with self.lock:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in self.db.execute("SELECT version FROM schema_migrations")}
            ran = False
            for version, migration in enumerate(migrations, start=1):
                if version in done:
                    continue
                ran = True
                if not isinstance(migration, Rewrite):
                    script = migration
                elif self._rows_of(migration) > REWRITE_BATCH:
                    self._rewrite(migration)
                    script = ""
                else:
                    script = migration.whole()
                with self.db.atomic():
                    for statement in _statements(script):
                        self.db.execute(statement)
                    self.db.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)",
                        [version, instant_text(self.clock())],
                    )
            if ran and not self.in_memory:
                # What the migrations wrote is copied into the database and the WAL truncated
                # (a rewrite's batches reused it), so no start leaves a large one on the disk.
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _rewrite(self, migration: Rewrite) -> None:
        """A Rewrite's parts, each a short transaction of its own followed by a passive
        checkpoint (at start nothing else reads: the WAL is copied whole, and the next
        transaction writes it from its start again): each statement of `before`, then
        `UPDATE table SET columns` REWRITE_BATCH rows (by rowid) at a time, then each statement
        of `after`. So the WAL holds one index or one batch, never the tables."""
        for statement in _statements(migration.before):
            self._apart(statement)
        for table, columns in migration.rewrites:
            after = -1
            while True:
                last, count = self.db.execute(
                    f"SELECT MAX(rowid), COUNT(*) FROM (SELECT rowid FROM {table}"
                    " WHERE rowid > ? ORDER BY rowid LIMIT ?)",
                    [after, REWRITE_BATCH],
                ).fetchone()
                if not count:
                    break
                self._apart(
                    f"UPDATE {table} SET {columns} WHERE rowid > ? AND rowid <= ?", [after, last]
                )
                after = int(last)
        for statement in _statements(migration.after):
            self._apart(statement)

    def _rows_of(self, migration: Rewrite) -> int:
        return sum(
            int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table, _ in migration.rewrites
        )

    def _apart(self, statement: str, params: list[object] | None = None) -> None:
        with self.db.atomic():
            self.db.execute(statement, params or [])
        if not self.in_memory:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._migrating()

    def lookup_tag(self, purpose: str, value: str) -> bytes:
        """What a look-up column keeps of `value`: its keyed tag (FieldCipher.blind_tag), or
        the empty BLOB when there is no value."""
        return self.cipher.blind_tag(purpose, value) if value else b""

    @property
    def schema_version(self) -> int:
        with self.lock:
            row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            return int(row[0] or 0)

    # -- the write path -------------------------------------------------------------------
    def on_commit(
        self, after_commit: Callable[[], None], after_rollback: Callable[[], None]
    ) -> None:
        """Run `after_commit` once the outermost write block commits, `after_rollback` when it
        is rolled back (the audit chain anchors its head after the commit)."""
        self._after_commit.append(after_commit)
        self._after_rollback.append(after_rollback)

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One transaction; a full disk rolls it back whole and raises StoreFullError."""
        with self.lock:
            if self.reserve is not None and self._depth == 0:
                self.reserve.before_write()
            self._depth += 1
            self._writer = threading.get_ident()
            try:
                with self.db.atomic() as db:
                    yield db
            except BaseException as exc:
                if self._depth == 1:
                    for hook in self._after_rollback:
                        hook()
                if isinstance(exc, sqlite3.OperationalError | OSError) and _disk_full(
                    exc, self.reserve
                ):
                    reserve = self.reserve
                    raise StoreFullError(
                        reserve.free_bytes() if reserve else -1,
                        reserve is not None and reserve.held,
                    ) from exc
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
            if self._depth == 0:
                for hook in self._after_commit:
                    hook()

    def between_batches(self) -> None:
        """Between two write batches of a long job (the retention purges): what the batch
        wrote is copied from the WAL into the database (a passive checkpoint, a short hold of
        the lock of its own, taken in turn: every thread that asked for the lock during the
        batch has it first, and those asking during the checkpoint before the next batch). So
        no later commit,
        a card save's, finds a WAL grown past the automatic checkpoint's size by the job and
        copies it while others wait, and the WAL stays small whatever the backlog."""
        if self.in_memory:
            return
        with self.lock:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it (after a retention purge): the
        purges checkpoint after each batch, so little is left to copy. Busy when another
        process reads meanwhile: then a later checkpoint does it."""
        if self.in_memory:
            return
        with self.lock:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def release_reserve(self, full: StoreFullError) -> bool:
        """Give up the disk reserve after `full`; False when there is none left to give."""
        if not full.reserve_left or self.reserve is None:
            return False
        self.reserve.release("SQLite reported the disk full")
        return True

    def disk_state(self) -> DiskState | None:
        """Free space and the reserve, for the status page (None for an in-memory store)."""
        return self.reserve.state() if self.reserve is not None else None

    def close(self) -> None:
        with self.lock:
            if self.readers is not None:
                self.readers.close()  # before the writer: never the last connection to go
            self.db.close()

    # -- the read path ----------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read: inside, `Part._db` is this thread's read-only connection, in one read
        transaction (the statements see one snapshot, as under the lock), and the writer's lock
        is not taken. Inside this thread's own write block, or for an in-memory store (whose
        data only its one connection sees), it is the lock and the writer's connection."""
        readers = self.readers
        if readers is None or self._writer == threading.get_ident():
            with self.lock:
                yield
            return
        with readers.transaction():
            yield

    @property
    def connection(self) -> sqlite_utils.Database:
        """The connection for this thread now: its reader inside `reading()`, else the
        writer's (whose use needs the lock)."""
        readers = self.readers
        if readers is not None and self._writer != threading.get_ident() and readers.active():
            return readers.current()
        return self.db

    # -- store_meta and the key check -------------------------------------------------------
    def meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM store_meta WHERE name = ?", [name]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO store_meta (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            [name, value],
        )

    def check_key(self, samples: Iterable[EncryptedSample]) -> None:
        """KeyMismatchError unless this key is the database's: its stored key check, or (for a
        database from before the check) an encrypted row that must decrypt; then the check is
        written, so a later open with another key is refused even before any row is read."""
        with self.lock:
            stored = self.meta("key_check")
            if stored is not None:
                if not self.cipher.is_key_check(stored):
                    raise KeyMismatchError(
                        "鍵がこのデータベースのものではありません / "
                        "the key is not this database's key"
                    )
                return
            sample = next((s for s in (take(self.db) for take in samples) if s is not None), None)
            if sample is not None:
                blob, binding = sample
                try:
                    self.cipher.decrypt(blob, binding)
                except DecryptError as exc:
                    raise KeyMismatchError(
                        "鍵で記録を復号できません / the key does not decrypt the stored rows"
                    ) from exc
            with self.db.atomic():
                self.set_meta("key_check", self.cipher.key_check())


class Part:
    """One group of tables on the shared database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def _db(self) -> sqlite_utils.Database:
        return self._database.connection

    def _now(self) -> datetime:
        return self._database.clock()


class _OnDatabase(Protocol):
    """A part, or the facade writing through several parts in one transaction."""

    _database: Database


_PartT = TypeVar("_PartT", bound=_OnDatabase)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def reserve_on_full(
    method: Callable[Concatenate[_PartT, _P], _R],
) -> Callable[Concatenate[_PartT, _P], _R]:
    """A write that found the disk full is run once more after the reserve is released: the
    failed attempt was rolled back whole, so running it again cannot store anything twice.
    A write made of several parts' writes carries it on the outermost one (the commit that
    finds the disk full is that one's)."""

    @functools.wraps(method)
    def write(self: _PartT, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except StoreFullError as full:
            if not self._database.release_reserve(full):
                raise
            return method(self, *args, **kwargs)

    return write


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


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


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
