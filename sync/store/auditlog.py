"""The audit log: a keyed hash chain, its head anchored in a file beside the database.

Each write and its audit entry go in one transaction (callers append inside their write block);
the head is written to the anchor file (sync/auditchain.py) after the outermost commit. An entry's
`at` is part of its hash, so it stays exactly as written: entries from before migration 6 may
carry another text form, and time filters here compare instants with julianday().
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from sync.fieldcrypt import FieldCipher, KeyMismatchError
from sync.store.auditqueue import AuditQueue, QueuedEntry
from sync.store.database import Database, Part
from sync.store.instant import instant_text

log = logging.getLogger(__name__)

AUDIT_CHAIN_KEYED = "hmac-sha256-v1"  # store_meta.audit_chain once the chain is keyed
_AUDIT_VERIFY_SLICE = 250  # entries read under the lock at a time (a few ms from a cold cache)
_AUDIT_PAGE_MAX = 1000
AUDIT_PURGE_BATCH = 500  # entries a retention batch removes: one short write
# A slice of the walk that finds where audit retention stops: by id (the primary key), each
# entry's time compared as an instant (bound, after id, newest id, slice size).
RETENTION_WALK_SQL = (
    "SELECT id, julianday(at) >= julianday(?) FROM audit WHERE id > ? AND id <= ?"
    " ORDER BY id LIMIT ?"
)


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


class AuditLog(Part):
    def __init__(self, database: Database, anchor: AuditAnchor | None) -> None:
        """`anchor`: the file the chain's head is written to (None for an in-memory store)."""
        super().__init__(database)
        self._anchor = anchor
        self._pending_head: AnchoredHead | None = None  # the head once this block commits
        self._pending_base: Checkpoint | None = None  # the base once this block commits
        self._anchor_mode = "append"  # or restart (the file was lost), compact (retention)
        self._compact_restart: AnchoredHead | None = None  # the restart line a compaction keeps
        self._base = Checkpoint()
        self._audit_count = 0
        self._pending_removed = 0  # entries a retention batch removed, once it commits
        database.on_commit(self._anchor_head, self._forget_pending)
        self.queue = AuditQueue(database, self.append)

    def close(self) -> None:
        if self._anchor is not None:
            self._anchor.close()

    # -- writing ------------------------------------------------------------------------
    def record(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        """One entry on its own: returned once it is committed and anchored, in a commit
        shared with the entries other threads asked for meanwhile (sync/store/auditqueue.py);
        StoreFullError (after the reserve) when that commit failed, and then it is not kept."""
        self.queue.record([QueuedEntry(actor, action, subject, detail)])

    def record_all(self, actor: str, entries: Sequence[tuple[str, str, str]]) -> None:
        """Several (action, subject, detail) entries of one view, committed together, in the
        group commit shared with other threads' entries like one entry (`record`)."""
        self.queue.record([QueuedEntry(actor, *entry) for entry in entries])

    def append(self, actor: str, action: str, subject: str, detail: str) -> None:
        """Inside a write block: the entry, keyed and linked; its head is anchored after the
        outermost block commits."""
        pending = self._pending_head
        base = self._pending_base or self._base
        row = self._db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        last_id, prev = (int(row[0]), str(row[1])) if row else (base.id, base.hash)
        entry_id = last_id + 1
        at = instant_text(self._now())
        key = self._database.cipher.audit_key
        digest = entry_hash(key, entry_id, prev, at, actor, action, subject, detail)
        self._db.execute(
            "INSERT INTO audit (id, at, actor, action, subject, detail, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [entry_id, at, actor, action, subject, detail, prev, digest],
        )
        count = (pending.count if pending is not None else self._audit_count) + 1
        self._pending_head = AnchoredHead(base.id, entry_id, count, digest)

    def _forget_pending(self) -> None:
        """The block was rolled back: nothing to anchor."""
        self._pending_head = self._pending_base = None
        self._pending_removed = 0
        self._anchor_mode = "append"

    def _anchor_head(self) -> None:
        """After a commit: the new head to the anchor file (fsync'd). A failure to write it is
        logged, never raised: the entry is committed, and the verifier reports the gap."""
        head, self._pending_head = self._pending_head, None
        base, self._pending_base = self._pending_base, None
        mode, self._anchor_mode = self._anchor_mode, "append"
        removed, self._pending_removed = self._pending_removed, 0
        if base is not None:
            self._base = base
        if head is None:
            self._audit_count -= removed  # a retention batch: the head stays as anchored
            return
        self._audit_count = head.count
        if self._anchor is None:
            return
        try:
            if mode == "restart":
                self._anchor.start(replace(head, restarted=True))
            elif mode == "compact":
                restart = self._compact_restart
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

    # -- keying the chain at open ---------------------------------------------------------
    def key_chain(self) -> None:
        """Once per database: key the chain (re-keying an existing one from its first entry,
        said in the log) and start its anchor. Later opens load the base and the count."""
        with self._database.lock:
            self._pending_base = None
            self._audit_count = int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
            keyed = self._database.meta("audit_chain") == AUDIT_CHAIN_KEYED
            sealed = self._database.meta("audit_base")
            self._base = (
                Checkpoint.unseal(self._database.cipher.audit_key, sealed) or _lenient_base(sealed)
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
                    with self._database.write():
                        self._anchor_mode = "restart"
                        self.append(
                            "system",
                            "audit.anchor_restarted",
                            "audit",
                            f"anchor file missing; recreated after entry {self._last_id()}",
                        )
                return
            anchor_there = self._anchor is not None and self._anchor.holds_heads()
            if self._anchor is not None and not anchor_there:
                # Made (empty) before the chain is marked keyed: a crash between the commit and
                # the first head leaves an anchor, never a keyed chain without one.
                self._anchor.create_empty()
            self._rekey(anchor_there)

    def _rekey(self, anchor_there: bool) -> None:
        key = self._database.cipher.audit_key
        legacy_problem = ""
        rekeyed = 0
        legacy_prev = GENESIS_HASH
        prev = GENESIS_HASH
        with self._database.write():
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
            self._database.set_meta("audit_chain", AUDIT_CHAIN_KEYED)
            self._database.set_meta("audit_base", Checkpoint().seal(key))
            if rekeyed or anchor_there:
                detail = f"re-keyed {rekeyed} entries from the first (HMAC-SHA256)"
                detail += (
                    f"; {legacy_problem} before keying" if legacy_problem else "; legacy chain held"
                )
                if anchor_there:
                    detail += "; an anchor file existed already (the chain's marker was removed)"
                self.append("system", "audit.chain_keyed", "audit", detail)
            else:
                self._pending_head = AnchoredHead(0, 0, 0, GENESIS_HASH)
        if legacy_problem:
            log.error("監査ログ / audit log: %s (recorded when keying the chain)", legacy_problem)

    def _last_id(self) -> int:
        row = self._db.execute("SELECT MAX(id) FROM audit").fetchone()
        return int(row[0]) if row and row[0] is not None else self._base.id

    # -- checking -----------------------------------------------------------------------
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
        key = self._database.cipher.audit_key
        with self._database.lock:
            sealed = self._database.meta("audit_base")
        # Read outside the lock (a line per commit since the last retention run): a retention
        # batch that moves the base meanwhile is seen at the first slice, and the check starts
        # again.
        anchor = self._anchor.read() if self._anchor is not None else None
        base = _sealed_base(key, sealed)
        chain = ChainCheck(key, base, anchor)
        last_id = base.id if base is not None else 0
        while True:
            with self._database.lock:
                if self._database.meta("audit_base") != sealed:
                    return None
                rows = _audit_slice(self._db.conn, last_id)
            if not rows:
                return chain.verdict()
            for row in rows:
                if not chain.feed(AuditEntry(*row)):
                    return chain.verdict()
                last_id = row[0]

    # -- retention ----------------------------------------------------------------------
    def purge_audit_before(
        self, before: datetime, *, actor: str, batch: int = AUDIT_PURGE_BATCH
    ) -> int:
        """Remove the oldest entries written before `before`, as a prefix of the chain (never
        the newest entry); the last one removed becomes the signed checkpoint the first kept
        entry links to, and the anchor file is rewritten to the new head. How many went.

        The chain is verified once, first; then entries go `batch` at a time, oldest first, each
        batch with its checkpoint in its own short transaction, and every thread waiting for
        the store's lock gets it between two batches. One `audit.retention` entry after the
        last batch says what the run removed; the WAL is checkpointed and truncated. Stopped
        between two batches, the chain verifies from the checkpoint reached and the next run
        goes on from there."""
        if before.tzinfo is None:
            raise ValueError("aware datetime required")
        shown = before.astimezone(UTC).isoformat()  # as the audit entry has always said it
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
            self.record(
                actor,
                "audit.retention_skipped",
                "audit",
                f"the chain does not verify at id={verdict.first_bad_id}",
            )
            return 0
        last_removed = self._retention_end(instant_text(before))
        removed = 0
        while self._base.id < last_removed:
            went = self._remove_through(min(self._base.id + batch, last_removed))
            if not went:  # a hole in the chain: leave it to the verifier to report
                break
            removed += went
            self._database.between_batches()
        if not removed:
            return 0
        # The anchor's restart line is read before the lock is taken (the file holds a line per
        # commit since the last run): only an open writes one, so none appears meanwhile.
        self._compact_restart = self._anchor.read().restart if self._anchor is not None else None
        with self._database.write():
            # The anchor is rewritten to the head this entry makes, from the new base.
            self._anchor_mode = "compact"
            self.append(
                actor,
                "audit.retention",
                "audit",
                f"removed={removed} through id={self._base.id} before={shown}",
            )
        self._database.checkpoint()
        return removed

    def _retention_end(self, bound: str) -> int:
        """The last entry a retention run before `bound` removes: the one before the first
        entry written at or after it, never the newest entry. Walked from the base by id
        (the primary key), a slice at a time under the lock: only what goes is read.
        julianday(): entries signed before migration 6 keep the text form they were hashed
        in, so `at` is compared as an instant, row by row, never as indexed text."""
        with self._database.lock:
            newest = self._last_id()
            after = self._base.id
        while True:
            with self._database.lock:
                rows = self._db.execute(
                    RETENTION_WALK_SQL,
                    [bound, after, newest, _AUDIT_VERIFY_SLICE],
                ).fetchall()
            if not rows:
                return after
            for entry_id, kept in rows:
                if kept or entry_id == newest:
                    return int(entry_id) - 1
            after = int(rows[-1][0])

    def _remove_through(self, last_removed: int) -> int:
        """One batch of a retention run: the entries from the base through `last_removed` go,
        and it becomes the signed checkpoint the first kept entry links to, in one short
        transaction. The anchor keeps its heads until the run's entry rewrites it: a head
        anchored from an older base still names an entry kept, and is checked by its hash.
        How many went (0: `last_removed` is not there)."""
        key = self._database.cipher.audit_key
        with self._database.write() as db:
            found = db.execute("SELECT hash FROM audit WHERE id = ?", [last_removed]).fetchone()
            if found is None:
                return 0
            removed = int(
                db.execute(
                    "DELETE FROM audit WHERE id > ? AND id <= ?", [self._base.id, last_removed]
                ).rowcount
            )
            checkpoint = Checkpoint(last_removed, str(found[0]))
            self._database.set_meta("audit_base", checkpoint.seal(key))
            self._pending_base = checkpoint
            self._pending_removed = removed
        return removed

    # -- reading ------------------------------------------------------------------------
    def audit_entries(self, limit: int = 1000) -> list[AuditEntry]:
        with self._database.lock:
            rows = self._db.execute(
                "SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]
            ).fetchall()
        return [AuditEntry(*row) for row in rows]

    def audit_for_subject(self, subject: str, limit: int = 200) -> list[AuditEntry]:
        """Who did what to one subject ("confirmation:7"), newest first (index audit_subject)."""
        with self._database.reading():
            rows = self._db.execute(
                "SELECT * FROM audit WHERE subject = ? ORDER BY id DESC LIMIT ?", [subject, limit]
            ).fetchall()
        return [AuditEntry(*row) for row in rows]

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
        # julianday(): entries signed before migration 6 keep the text form they were hashed in.
        if since is not None:
            where.append("julianday(at) >= julianday(?)")
            params.append(instant_text(since))
        if until is not None:
            where.append("julianday(at) < julianday(?)")
            params.append(instant_text(until))
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._database.lock:
            rows = self._db.execute(
                "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit"
                f" {clause} ORDER BY id DESC LIMIT ?",
                [*params, max(1, min(limit, _AUDIT_PAGE_MAX))],
            ).fetchall()
        return [AuditEntry(*row) for row in rows]

    def audit_actions(self) -> list[str]:
        """Every action that occurs in the log, for the viewer's filter."""
        with self._database.lock:
            rows = self._db.execute("SELECT DISTINCT action FROM audit ORDER BY action").fetchall()
        return [str(row[0]) for row in rows]


def _audit_slice(conn: sqlite3.Connection, after_id: int) -> list[Any]:
    """The next slice of the chain after `after_id`, in order: the chain is walked in slices so
    a check of millions of entries never holds them all in memory."""
    return conn.execute(
        "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit"
        " WHERE id > ? ORDER BY id LIMIT ?",
        [after_id, _AUDIT_VERIFY_SLICE],
    ).fetchall()


def anchor_path_of(database: Path, anchor_path: Path | None = None) -> Path:
    """Where a database's audit anchor lives: beside it, <database>.anchor, unless given."""
    return anchor_path if anchor_path is not None else database.with_name(database.name + ".anchor")


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
