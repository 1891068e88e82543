"""The audit log's hash chain: how an entry's hash is made and how a chain is checked.

No SQL here (sync/store.py reads and writes the rows): each entry's hash covers its content
and the previous entry's hash, so changing, deleting, inserting or reordering an entry breaks
the chain at that entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

GENESIS_HASH = "0" * 64  # the "previous hash" of the first entry

AUDIT_CONTENT_CHANGED = (
    "内容が書き換えられています（ハッシュ不一致） / contents changed: the hash does not match"
)
AUDIT_LINK_BROKEN = (
    "直前の記録とつながっていません（削除・挿入・並べ替え） / "
    "not linked to the entry before it: an entry was deleted, inserted or reordered"
)


def entry_hash(prev_hash: str, at: str, actor: str, action: str, subject: str, detail: str) -> str:
    canonical = json.dumps([prev_hash, at, actor, action, subject, detail], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    checked: int  # entries that hold, from the first
    first_bad_id: int | None
    reason: str  # AUDIT_CONTENT_CHANGED or AUDIT_LINK_BROKEN; "" when ok


class ChainCheck:
    """Fed the entries in id order, from the first, in as many slices as the caller likes."""

    def __init__(self) -> None:
        self._prev = GENESIS_HASH
        self.checked = 0
        self.broken: AuditVerdict | None = None

    def feed(self, entry: ChainedEntry) -> bool:
        """False once the chain is broken (at this entry or before)."""
        if self.broken is not None:
            return False
        expected = entry_hash(
            entry.prev_hash, entry.at, entry.actor, entry.action, entry.subject, entry.detail
        )
        if entry.hash != expected:
            self.broken = AuditVerdict(False, self.checked, entry.id, AUDIT_CONTENT_CHANGED)
        elif entry.prev_hash != self._prev:
            self.broken = AuditVerdict(False, self.checked, entry.id, AUDIT_LINK_BROKEN)
        else:
            self._prev = entry.hash
            self.checked += 1
            return True
        return False

    def verdict(self) -> AuditVerdict:
        return self.broken or AuditVerdict(True, self.checked, None, "")
