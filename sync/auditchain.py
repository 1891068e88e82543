"""The audit log's keyed hash chain and the anchor of its head kept outside the database.

No SQL here (sync/store/ reads and writes the rows). Each entry's hash is an HMAC, under a key
kept apart from the database (derived from the key file, sync/fieldcrypt.py), of its id, its
content and the previous entry's hash: changing, deleting, inserting or reordering an entry
breaks the chain at that entry, and without the key nobody can compute a chain that holds.

What a chain alone cannot show is that its newest entries were cut off, or the whole table wiped.
So after every committed audit write the store appends the chain's head (entry id, hash, count)
with an HMAC to a small append-only file beside the database (the anchor, fsync'd); the verifier
reads it and reports a chain that ends before the head the anchor names.

Retention removes the oldest entries: the last removed entry becomes a signed checkpoint, the
chain's new base (its hash is what the first kept entry links to).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

GENESIS_HASH = "0" * 64  # the "previous hash" of the first entry
ANCHOR_VERSION = "v1"

AUDIT_CONTENT_CHANGED = (
    "内容が書き換えられています（鍵付きハッシュ不一致：書き換えまたは鍵なしでの再計算） / "
    "contents changed: the keyed hash does not match (edited, or recomputed without the key)"
)
AUDIT_LINK_BROKEN = (
    "直前の記録とつながっていません（削除・挿入・並べ替え） / "
    "not linked to the entry before it: an entry was deleted, inserted or reordered"
)
AUDIT_CUT_SHORT = (
    "最新の記録が削除されています：アンカーファイルには {head} 番（{count} 件）まで"
    "記録されています / "
    "the newest entries were removed: the anchor file records the chain up to entry {head} "
    "({count} entries)"
)
AUDIT_HEAD_REPLACED = (
    "アンカーファイルに記録された {head} 番の記録が差し替えられています / "
    "entry {head}, recorded in the anchor file, was replaced"
)
AUDIT_ANCHOR_MISSING = (
    "アンカーファイル {path} がありません。バックアップから戻してください / "
    "the anchor file {path} is missing: restore it from the backup"
)
AUDIT_ANCHOR_FORGED = (
    "アンカーファイル {path} の {line} 行目が改ざんされています / "
    "line {line} of the anchor file {path} was altered"
)
AUDIT_ANCHOR_RESTARTED = (
    "アンカーファイルは {head} 番の時点で作り直されました（紛失のため）。それ以前の最新記録の削除は"
    "検出できません / the anchor file was recreated at entry {head} after it was lost: removal of "
    "entries before that point cannot be ruled out"
)
AUDIT_WENT_BACK = (
    "アンカーファイルでは記録が {head} 番まであったのに、{line} 行目で {back} 番に戻っています"
    "（最新の記録の削除・差し替え） / the anchor file recorded the chain up to entry {head}, then "
    "at line {line} back at entry {back}: the newest entries were removed or replaced"
)
AUDIT_BASE_FORGED = (
    "保存期間の起点（チェックポイント）が改ざんされています / "
    "the retention checkpoint (the chain's base) was altered"
)


def entry_hash(
    key: bytes,
    entry_id: int,
    prev_hash: str,
    at: str,
    actor: str,
    action: str,
    subject: str,
    detail: str,
) -> str:
    canonical = json.dumps(
        [entry_id, prev_hash, at, actor, action, subject, detail], ensure_ascii=False
    )
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def legacy_entry_hash(
    prev_hash: str, at: str, actor: str, action: str, subject: str, detail: str
) -> str:
    """The unkeyed SHA-256 of chains written before the chain was keyed (checked once, when
    the store re-keys them)."""
    canonical = json.dumps([prev_hash, at, actor, action, subject, detail], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _mac(key: bytes, *fields: object) -> str:
    return hmac.new(key, "|".join(str(f) for f in fields).encode(), hashlib.sha256).hexdigest()


class ChainedEntry(Protocol):
    """One stored entry (sync.store.AuditEntry is one)."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


def keyed_hash_of(key: bytes, entry: ChainedEntry) -> str:
    return entry_hash(
        key,
        entry.id,
        entry.prev_hash,
        entry.at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.detail,
    )


@dataclass(frozen=True)
class Checkpoint:
    """The chain's base: the last entry removed by retention (id 0 and the genesis hash when
    nothing was removed), signed so it cannot be moved."""

    id: int = 0
    hash: str = GENESIS_HASH

    def seal(self, key: bytes) -> str:
        return f"{self.id} {self.hash} {_mac(key, 'checkpoint', self.id, self.hash)}"

    @classmethod
    def unseal(cls, key: bytes, text: str) -> Checkpoint | None:
        """None when the text was not sealed with this key."""
        parts = text.split()
        if len(parts) != 3 or not parts[0].isdigit():
            return None
        found = cls(int(parts[0]), parts[1])
        return (
            found
            if hmac.compare_digest(_mac(key, "checkpoint", found.id, found.hash), parts[2])
            else None
        )


@dataclass(frozen=True)
class AnchoredHead:
    """The chain's head as the anchor file records it."""

    base_id: int  # the checkpoint the count starts after
    head_id: int  # 0: no entry yet
    count: int  # entries from the base to the head
    head_hash: str
    restarted: bool = False  # written when the anchor file had been lost

    def line(self, key: bytes) -> str:
        kind = "restart" if self.restarted else "head"
        fields = (ANCHOR_VERSION, kind, self.base_id, self.head_id, self.count, self.head_hash)
        return " ".join(str(f) for f in fields) + " " + _mac(key, "anchor", *fields) + "\n"

    @classmethod
    def parse(cls, key: bytes, line: str) -> AnchoredHead | None:
        """None when the line was not written with this key (altered, or from another box)."""
        parts = line.split()
        if len(parts) != 7 or parts[0] != ANCHOR_VERSION or parts[1] not in ("head", "restart"):
            return None
        if not all(p.isdigit() for p in parts[2:5]):
            return None
        if not hmac.compare_digest(_mac(key, "anchor", *parts[:6]), parts[6]):
            return None
        return cls(int(parts[2]), int(parts[3]), int(parts[4]), parts[5], parts[1] == "restart")


@dataclass(frozen=True)
class AnchorReading:
    path: Path
    last: AnchoredHead | None  # the newest valid head; None when missing or empty
    missing: bool = False
    forged_line: int = 0  # the first complete line whose MAC does not hold (1-based), or 0
    restart: AnchoredHead | None = None  # the line written when a lost anchor was recreated
    went_back: tuple[int, int, int] = (0, 0, 0)  # (highest head, line, head there) or zeros

    @property
    def restarted_at(self) -> int:
        """The entry at which a lost anchor was recreated (0: never)."""
        return self.restart.head_id if self.restart is not None else 0


class AuditAnchor:
    """The append-only file beside the database holding the chain's signed head.

    A line is appended (and fsync'd) after each committed audit write; a line cut short by a
    power loss (no newline) is ignored. Retention rewrites the file to its newest line.
    """

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key
        self._fd: int | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def holds_heads(self) -> bool:
        """There and not empty (an empty one was made by a start that did not finish)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def create_empty(self) -> None:
        """The file of a chain about to be keyed: 0600, and in its directory for good."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.path.parent)

    def start(self, head: AnchoredHead) -> None:
        """Create the file with its first line (a new chain, a re-keyed one, or a lost anchor)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        self._close()
        self._fd = fd
        self.append(head)
        _fsync_dir(self.path.parent)

    def append(self, head: AnchoredHead) -> None:
        if self._fd is None:
            # No O_CREAT: a lost anchor is recreated only on purpose (start), never by a write.
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            _drop_torn_tail(fd)
            self._fd = fd
        data = head.line(self._key).encode()
        start = os.fstat(self._fd).st_size
        try:
            written = 0
            while written < len(data):  # a nearly full disk may take part of it
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError:
            # Cut what a full disk took of the line, and open afresh next time (which drops a
            # torn tail again): the next head must start a line of its own, or the two read
            # as one altered line.
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            self._close()
            raise

    def rewrite(self, heads: list[AnchoredHead]) -> None:
        """Replace the file by these lines at once (retention: the old heads are gone)."""
        tmp = self.path.with_name(self.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, "".join(h.line(self._key) for h in heads).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._close()

    def read(self) -> AnchorReading:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return AnchorReading(self.path, None, missing=True)
        last: AnchoredHead | None = None
        forged = 0
        restart = None
        went_back = (0, 0, 0)
        lines = text.split("\n")
        for number, line in enumerate(lines[:-1], start=1):  # the part after the last \n is torn
            head = AnchoredHead.parse(self._key, line)
            if head is None:
                forged = forged or number
                continue
            if head.restarted:
                restart = head
            # Heads only move forward (retention rewrites the file): a step back means the
            # newest entries were removed and the appliance wrote on from the shorter chain.
            if (
                last is not None
                and not went_back[0]
                and (
                    head.head_id < last.head_id
                    or (head.head_id == last.head_id and head.head_hash != last.head_hash)
                )
            ):
                went_back = (last.head_id, number, head.head_id)
            if last is None or head.head_id >= last.head_id:
                last = head
        return AnchorReading(
            self.path, last, forged_line=forged, restart=restart, went_back=went_back
        )

    def close(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _drop_torn_tail(fd: int) -> None:
    """Cut a line a power loss left unfinished, so the next head starts a line of its own
    (the fragment never held a head: it has no newline, and the reader ignores it)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    tail = os.pread(fd, min(size, 4096), max(0, size - 4096))
    keep = size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
    os.ftruncate(fd, keep)
    os.fsync(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AuditUncheckable(Exception):
    """The audit log could not be checked (busy, unreadable, not yet migrated): not a verdict."""


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    checked: int  # entries that hold, from the base
    first_bad_id: int | None
    reason: str  # one of the AUDIT_* texts, filled in; "" when ok


class ChainCheck:
    """Fed the entries in id order, from the base, in as many slices as the caller likes.

    `anchor` is what the anchor file said, read before the entries (so a head it names was
    committed before they were read); None when the database has no anchor (in memory).
    """

    def __init__(
        self, key: bytes, base: Checkpoint | None = None, anchor: AnchorReading | None = None
    ) -> None:
        self._key = key
        self._base = base if base is not None else Checkpoint()
        self._prev = self._base.hash
        self._last_id = self._base.id
        self._anchor = anchor
        self._anchored = anchor is None or anchor.last is None
        self.checked = 0
        self.broken: AuditVerdict | None = None
        # A problem of the base or the anchor is named at the first entry fed (if any).
        self._problem = AUDIT_BASE_FORGED if base is None else None
        if self._problem is None and anchor is not None:
            self._problem = self._anchor_problem(anchor)

    def _anchor_problem(self, anchor: AnchorReading) -> str | None:
        path = str(anchor.path)
        if anchor.missing:
            return AUDIT_ANCHOR_MISSING.format(path=path)
        if anchor.forged_line:
            return AUDIT_ANCHOR_FORGED.format(path=path, line=anchor.forged_line)
        if anchor.restarted_at > self._base.id:
            return AUDIT_ANCHOR_RESTARTED.format(head=anchor.restarted_at)
        if anchor.went_back[0]:
            highest, line, back = anchor.went_back
            return AUDIT_WENT_BACK.format(head=highest, line=line, back=back)
        head = anchor.last
        if head is not None and head.head_id <= self._base.id:
            self._anchored = True  # retention removed it since the anchor was read
        return None

    def feed(self, entry: ChainedEntry) -> bool:
        """False once the chain is broken (at this entry or before)."""
        if self.broken is not None:
            return False
        if self._problem is not None:
            self.broken = AuditVerdict(False, 0, entry.id, self._problem)
            return False
        if entry.hash != keyed_hash_of(self._key, entry):
            self.broken = AuditVerdict(False, self.checked, entry.id, AUDIT_CONTENT_CHANGED)
            return False
        if entry.prev_hash != self._prev or entry.id <= self._last_id:
            self.broken = AuditVerdict(False, self.checked, entry.id, AUDIT_LINK_BROKEN)
            return False
        self._prev = entry.hash
        self._last_id = entry.id
        self.checked += 1
        head = self._anchor.last if self._anchor is not None else None
        if head is not None and entry.id == head.head_id:
            same_base = head.base_id == self._base.id
            if entry.hash != head.head_hash or (same_base and self.checked != head.count):
                reason = AUDIT_HEAD_REPLACED.format(head=head.head_id)
                self.broken = AuditVerdict(False, self.checked - 1, entry.id, reason)
                return False
            self._anchored = True
        return True

    def verdict(self) -> AuditVerdict:
        if self.broken is not None:
            return self.broken
        if self._problem is not None:
            return AuditVerdict(False, 0, None, self._problem)
        head = self._anchor.last if self._anchor is not None else None
        if not self._anchored and head is not None and head.head_id > 0:
            reason = AUDIT_CUT_SHORT.format(head=head.head_id, count=head.count)
            return AuditVerdict(False, self.checked, self._last_id + 1, reason)
        return AuditVerdict(True, self.checked, None, "")
