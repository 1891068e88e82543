"""Group commit for audit entries written on their own (views, logins, admin actions).

Every view of personal data is audited before the data leaves the box: the request waits until
its entry is committed (synchronous=FULL, one fsync) and anchored. Done one entry per
transaction, under the store's one lock, concurrent views queue behind each other and a card
save queues behind all of them. Here concurrent entries share one commit:

- a thread that audits enqueues its entries (one, or a page's few, kept together) and waits on
  its own event;
- the first to find nobody leading leads: it takes the store's lock, takes the waiters in the
  order they came, up to `max_group` entries (always at least one waiter), appends their
  entries to the hash chain in ONE transaction (one commit, one fsync, one anchor write) and
  wakes every waiter of that group, with the error when the commit failed (then nothing of the
  group is in the chain and no view is shown);
- it hands the lead to the oldest waiter left. The store's lock is granted in the order it was
  asked for (StoreLock), so a card save already waiting for it goes before the next group: a
  save waits for at most one group.

An entry written inside a write block (a card save's own entry) never comes here: it belongs to
that block's transaction. Neither does one asked for by a thread that holds the store's lock:
it would wait for a leader that needs that lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sync.store.database import Database, StoreFullError

AUDIT_GROUP_MAX = 64  # entries in one commit: what a card save may wait for behind views


@dataclass(frozen=True)
class QueuedEntry:
    actor: str
    action: str
    subject: str
    detail: str


@dataclass
class _Waiter:
    entries: Sequence[QueuedEntry]  # committed together, never split between two groups
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the next group, not because its entry is written
    error: BaseException | None = None


class AuditQueue:
    """Entries waiting for the next group commit. `append` writes one entry inside a write
    block (AuditLog.append)."""

    def __init__(
        self,
        database: Database,
        append: Callable[[str, str, str, str], None],
        *,
        max_group: int = AUDIT_GROUP_MAX,
    ) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._database = database
        self._append = append
        self.max_group = max_group  # public: a test narrows it
        self._mutex = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._leading = False
        self.groups = 0  # groups committed (tests, the bench)

    def pending(self) -> int:
        """Waiters (threads) waiting (those of the group a leader is writing no longer count)."""
        with self._mutex:
            return len(self._queue)

    def record(self, entries: Sequence[QueuedEntry]) -> None:
        """Return once `entries` are committed (in one transaction) and anchored; raise what the
        commit raised (then none of them is in the chain)."""
        if not entries:
            return
        if self._database.lock.held_here():
            self._write(entries)  # inside this thread's own hold: its own (nested) write
            return
        waiter = _Waiter(entries)
        with self._mutex:
            self._queue.append(waiter)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        while True:
            waiter.done.wait()
            if not waiter.lead:
                break
            waiter.lead = False  # handed the lead: its own entry is in the group it writes
            waiter.done.clear()
            self._lead()
        if waiter.error is not None:
            raise waiter.error

    def _lead(self) -> None:
        group: list[_Waiter] = []
        try:
            # The lock is granted in turn: a card save already waiting goes before this group.
            with self._database.lock:
                with self._mutex:  # what came while the lock was awaited joins this group
                    size = 0
                    while self._queue and (
                        not group or size + len(self._queue[0].entries) <= self.max_group
                    ):
                        group.append(self._queue.popleft())
                        size += len(group[-1].entries)
                try:
                    self._write([e for w in group for e in w.entries])
                    self.groups += 1
                except BaseException as exc:  # every waiter of the group gets it
                    for waiter in group:
                        waiter.error = exc
        finally:
            for waiter in group:
                waiter.done.set()
            with self._mutex:
                if self._queue:
                    following = self._queue[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._leading = False

    def _write(self, entries: Sequence[QueuedEntry]) -> None:
        """One transaction; once more after a full disk's reserve is given up (the failed
        attempt was rolled back whole, so nothing can be written twice)."""
        try:
            self._write_once(entries)
        except StoreFullError as full:
            if not self._database.release_reserve(full):
                raise
            self._write_once(entries)

    def _write_once(self, entries: Sequence[QueuedEntry]) -> None:
        with self._database.write():
            for e in entries:
                self._append(e.actor, e.action, e.subject, e.detail)
