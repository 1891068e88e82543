"""Group commit of audit entries written on their own (sync/store/auditqueue.py): concurrent views
share one commit, in the order they came, the chain and its anchor verify; a failed commit
reaches every waiter of its group and leaves nothing of it; a card save waits for one group at
most. Threads are held with the store's own lock and released by events: no timing asserts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, StoreFullError
from sync.store.auditqueue import AuditQueue
from sync.xmlmsg import build_result, parse_result

from .test_disk_full import RESERVE, fail_commits
from .test_web import qualification, result


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), reserve_bytes=RESERVE)
    yield s
    s.close()


def queue_of(store: Store) -> AuditQueue:
    return getattr(store, "_audit").queue  # type: ignore[no-any-return]  # noqa: B009


def lock_of(store: Store) -> Any:
    return getattr(store, "_database").lock  # noqa: B009


def until(done: Callable[[], bool]) -> None:
    """Wait for another thread to reach a state (a bound only so a bug hangs no test run)."""
    for _ in range(20000):
        if done():
            return
        time.sleep(0.001)
    raise AssertionError("the other thread never got there")


def commits(store: Store) -> list[int]:
    counted: list[int] = []
    getattr(store, "_database").on_commit(lambda: counted.append(1), lambda: None)  # noqa: B009
    return counted


class Views:
    """View threads, each auditing one entry and keeping what it raised."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.threads: list[threading.Thread] = []
        self.errors: dict[str, BaseException] = {}

    def start(self, subject: str) -> None:
        def view() -> None:
            try:
                self.store.audit("reception", "confirmation.view", subject)
            except BaseException as exc:  # noqa: BLE001 - kept for the assertion
                self.errors[subject] = exc

        thread = threading.Thread(target=view)
        self.threads.append(thread)
        thread.start()

    def queued_in_order(self, subjects: list[str]) -> None:
        """Start one view per subject, each queued before the next starts (the lock is held)."""
        queue = queue_of(self.store)
        for n, subject in enumerate(subjects, start=1):
            self.start(subject)
            until(lambda n=n: queue.pending() == n)  # type: ignore[misc]

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


def viewed(store: Store) -> list[str]:
    entries = sorted(store.audit_entries(), key=lambda e: e.id)
    return [e.subject for e in entries if e.action == "confirmation.view"]


def test_concurrent_views_share_one_commit_in_the_order_they_came(store: Store) -> None:
    counted = commits(store)
    views = Views(store)
    subjects = [f"confirmation:{n}" for n in range(1, 11)]
    with lock_of(store):  # a write in progress: every view arriving meanwhile waits
        views.queued_in_order(subjects)
        until(lambda: lock_of(store).waiting() == 1)  # the leader, for the lock
    views.join()
    assert views.errors == {}
    assert len(counted) == 1
    assert queue_of(store).groups == 1
    assert viewed(store) == subjects
    verdict = store.verify_audit_detail()
    assert verdict.ok, verdict  # the chain, and the head in the anchor file


def test_a_failed_commit_reaches_every_waiter_and_keeps_nothing_of_the_group(
    store: Store,
) -> None:
    store.audit("reception", "confirmation.view", "confirmation:0")
    failing = fail_commits(store, times=100)
    views = Views(store)
    subjects = [f"confirmation:{n}" for n in range(1, 6)]
    with lock_of(store):
        views.queued_in_order(subjects)
    views.join()
    assert sorted(views.errors) == subjects
    assert all(isinstance(e, StoreFullError) for e in views.errors.values())
    assert viewed(store) == ["confirmation:0"]
    assert store.verify_audit_detail().ok
    failing.times = 0  # space again: the queue was not left stuck
    store.audit("reception", "confirmation.view", "confirmation:6")
    assert viewed(store) == ["confirmation:0", "confirmation:6"]
    assert store.verify_audit_detail().ok


def save_card(store: Store) -> None:
    raw = build_result(result(qualification(), file_id="card"))
    store.save_confirmation(
        file_id="card",
        raw_result=raw,
        result=parse_result(raw),
        kind="card",
        method="face",
        actor="reader",
    )


def test_a_card_save_waits_for_at_most_one_group_of_views(store: Store) -> None:
    queue = queue_of(store)
    queue.max_group = 2
    counted = commits(store)
    views = Views(store)
    lock = lock_of(store)
    subjects = [f"confirmation:{n}" for n in range(1, 7)]
    with lock:
        views.queued_in_order(subjects[:1])
        until(lambda: lock.waiting() == 1)  # the leader of the first group
        saver = threading.Thread(target=save_card, args=(store,))
        saver.start()
        until(lambda: lock.waiting() == 2)  # the card save, behind it
        for n, subject in enumerate(subjects[1:], start=2):
            views.start(subject)
            until(lambda n=n: queue.pending() == n)  # type: ignore[misc]
    views.join()
    saver.join()
    assert views.errors == {}
    entries = sorted(store.audit_entries(), key=lambda e: e.id)
    order = [e.subject if e.action == "confirmation.view" else e.action for e in entries]
    assert order.index("confirmation.stored") <= 2  # behind one group of two, at most
    assert [s for s in order if s.startswith("confirmation:")] == subjects
    assert len(counted) == 4  # three groups of two and the save
    assert store.verify_audit_detail().ok


def test_an_entry_asked_for_while_holding_the_lock_is_written_at_once(store: Store) -> None:
    with lock_of(store):
        store.audit("reception", "confirmation.view", "confirmation:1")
        assert viewed(store) == ["confirmation:1"]
    assert store.verify_audit_detail().ok


def test_a_pages_entries_share_the_group_commit_and_are_never_split(store: Store) -> None:
    queue = queue_of(store)
    queue.max_group = 3
    counted = commits(store)
    errors: list[BaseException] = []

    def page(subjects: list[str]) -> None:
        try:
            store.audit_all("reception", [("desk.list", s, "") for s in subjects])
        except BaseException as exc:  # noqa: BLE001 - kept for the assertion
            errors.append(exc)

    pages = [["a1"], ["b1", "b2", "b3"], ["c1"], ["d1"]]
    threads = [threading.Thread(target=page, args=(subjects,)) for subjects in pages]
    with lock_of(store):  # a write in progress: every page arriving meanwhile waits
        for n, thread in enumerate(threads, start=1):
            thread.start()
            until(lambda n=n: queue.pending() == n)  # type: ignore[misc]
    for thread in threads:
        thread.join()
    assert errors == []
    entries = sorted(store.audit_entries(), key=lambda e: e.id)
    assert [e.subject for e in entries if e.action == "desk.list"] == [
        "a1",
        "b1",
        "b2",
        "b3",
        "c1",
        "d1",
    ]
    # [a1] alone (b's three would make four), [b1 b2 b3], then [c1 d1]
    assert len(counted) == 3 and queue.groups == 3
    assert store.verify_audit_detail().ok
