"""The keyed audit chain, its anchor file, re-keying of old chains, retention that keeps the
chain verifiable, and the read-only verifier beside a writer."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.cli import EXIT_AUDIT_BROKEN, EXIT_OK, EXIT_UNCHECKED, main
from sync.auditchain import (
    AUDIT_ANCHOR_FORGED,
    AUDIT_BASE_FORGED,
    AUDIT_CONTENT_CHANGED,
    AUDIT_CUT_SHORT,
    AUDIT_LINK_BROKEN,
    AUDIT_WENT_BACK,
    GENESIS_HASH,
    AnchoredHead,
    AuditAnchor,
    AuditUncheckable,
    AuditVerdict,
    ChainCheck,
    ChainedEntry,
    legacy_entry_hash,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, anchor_path_of, verify_audit_file

START = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


class StepClock:
    """Each reading `step` after the last."""

    def __init__(self, start: datetime, step: timedelta = timedelta(minutes=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def keys() -> FieldKeys:
    return FieldKeys.generate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "onshi.db"


def filled(path: Path, keys: FieldKeys, n: int = 10, clock: StepClock | None = None) -> None:
    store = Store(path, FieldCipher(keys), clock=clock or StepClock(START))
    for i in range(1, n + 1):
        store.audit("admin", "login.success", f"user:{i}", f"n={i}")
    store.close()


def sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def checked(path: Path, keys: FieldKeys) -> AuditVerdict:
    """The read-only verdict (what `onshi audit verify` prints)."""
    return verify_audit_file(path, FieldCipher(keys))


def in_process(path: Path, keys: FieldKeys) -> AuditVerdict:
    """The appliance's own verdict (the admin page's verifier)."""
    store = Store(path, FieldCipher(keys))
    try:
        return store.verify_audit_detail()
    finally:
        store.close()


def test_a_clean_chain_holds_both_ways(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    assert checked(path, keys) == AuditVerdict(True, 10, None, "")
    assert in_process(path, keys) == AuditVerdict(True, 10, None, "")


def test_the_anchor_file_holds_signed_heads(path: Path, keys: FieldKeys) -> None:
    filled(path, keys, n=3)
    lines = anchor_path_of(path).read_text().splitlines()
    assert len(lines) == 4  # the empty chain when it was made, then each entry
    key = FieldCipher(keys).audit_key
    heads = [AnchoredHead.parse(key, line) for line in lines]
    assert [(h.head_id, h.count) for h in heads if h] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert AnchoredHead.parse(FieldCipher(FieldKeys.generate()).audit_key, lines[-1]) is None


@pytest.mark.parametrize("removed", [1, 3])
def test_deleting_the_newest_entries_is_reported(path: Path, keys: FieldKeys, removed: int) -> None:
    filled(path, keys)
    sql(path, f"DELETE FROM audit WHERE id > {10 - removed}")
    reason = AUDIT_CUT_SHORT.format(head=10, count=10)
    assert checked(path, keys) == AuditVerdict(False, 10 - removed, 11 - removed, reason)
    assert in_process(path, keys).reason == reason


def test_a_wiped_table_is_reported(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    sql(path, "DELETE FROM audit")
    assert checked(path, keys) == AuditVerdict(
        False, 0, 1, AUDIT_CUT_SHORT.format(head=10, count=10)
    )


def test_deleting_the_newest_and_writing_one_in_its_place_is_reported(
    path: Path, keys: FieldKeys
) -> None:
    filled(path, keys)
    sql(path, "DELETE FROM audit WHERE id > 8")
    store = Store(path, FieldCipher(keys), clock=StepClock(START + timedelta(hours=1)))
    store.audit("admin", "logout", "user:1")  # entry 9 again, linked correctly, other content
    store.close()
    verdict = checked(path, keys)
    assert (verdict.ok, verdict.first_bad_id) == (False, 1)
    assert verdict.reason == AUDIT_WENT_BACK.format(head=10, line=12, back=9)


def test_a_chain_recomputed_without_the_key_is_reported(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, at, actor, action, subject, detail FROM audit ORDER BY id")
    prev = GENESIS_HASH
    with conn:
        for entry_id, at, actor, action, subject, detail in rows.fetchall():
            actor = "someone" if entry_id == 4 else actor
            digest = legacy_entry_hash(prev, at, actor, action, subject, detail)
            conn.execute(
                "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (actor, prev, digest, entry_id),
            )
            prev = digest
    conn.close()
    assert checked(path, keys) == AuditVerdict(False, 0, 1, AUDIT_CONTENT_CHANGED)


def test_reordered_entries_are_reported(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    sql(
        path,
        "UPDATE audit SET id = -7 WHERE id = 7",
        "UPDATE audit SET id = 7 WHERE id = 8",
        "UPDATE audit SET id = 8 WHERE id = -7",
    )
    assert checked(path, keys) == AuditVerdict(False, 6, 7, AUDIT_CONTENT_CHANGED)


def test_a_chain_checked_with_another_key_does_not_hold(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    other = FieldCipher(FieldKeys.generate())
    with pytest.raises(Exception, match="wrong key"):
        verify_audit_file(path, other)


# -- the anchor file itself ---------------------------------------------------------------
def test_a_missing_anchor_is_reported_and_recreating_it_is_too(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    anchor = anchor_path_of(path)
    anchor.unlink()
    sql(path, "DELETE FROM audit WHERE id > 7")  # and the newest entries with it
    verdict = checked(path, keys)
    assert (verdict.ok, verdict.first_bad_id) == (False, 1)
    assert str(anchor) in verdict.reason and "missing" in verdict.reason
    store = Store(path, FieldCipher(keys), clock=StepClock(START + timedelta(hours=1)))
    newest = store.audit_entries(1)[0]
    assert (newest.action, newest.detail) == (
        "audit.anchor_restarted",
        "anchor file missing; recreated after entry 7",
    )
    store.audit("admin", "login.success", "user:1")
    store.close()
    assert anchor.stat().st_mode & 0o777 == 0o600
    for verdict in (checked(path, keys), in_process(path, keys)):
        assert not verdict.ok and "recreated at entry 8" in verdict.reason


def test_an_altered_anchor_line_is_reported(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    anchor = anchor_path_of(path)
    lines = anchor.read_text().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(" 10 10 ", " 12 12 ")
    anchor.write_text("".join(lines))
    reason = AUDIT_ANCHOR_FORGED.format(path=anchor, line=len(lines))
    assert checked(path, keys) == AuditVerdict(False, 0, 1, reason)


def test_a_line_torn_by_a_power_loss_is_ignored(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    with anchor_path_of(path).open("a") as f:
        f.write("v1 head 0 11 11 ab")  # no newline: the write did not finish
    assert checked(path, keys).ok


def test_after_a_torn_line_the_next_head_starts_its_own_line(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    anchor = anchor_path_of(path)
    with anchor.open("a") as f:
        f.write("v1 head 0 11 11 ab")  # killed in the middle of the write
    store = Store(path, FieldCipher(keys))
    store.audit("admin", "logout", "user:1")
    store.close()
    assert checked(path, keys) == AuditVerdict(True, 11, None, "")
    key = FieldCipher(keys).audit_key
    assert all(AnchoredHead.parse(key, line) for line in anchor.read_text().splitlines())


def test_a_head_not_yet_anchored_still_holds(path: Path, keys: FieldKeys) -> None:
    """The entry is committed before its head is appended: a crash between the two leaves
    the anchor one behind, which is not tampering."""
    filled(path, keys)
    anchor = anchor_path_of(path)
    lines = anchor.read_text().splitlines(keepends=True)
    anchor.write_text("".join(lines[:-1]))
    assert checked(path, keys) == AuditVerdict(True, 10, None, "")


# -- re-keying chains written before the chain was keyed ----------------------------------
def make_legacy(path: Path, keys: FieldKeys, *, break_at: int | None = None) -> None:
    """Turn a database into what the previous version left: unkeyed SHA-256 chain, no meta
    rows for the chain, no anchor."""
    filled(path, keys)
    conn = sqlite3.connect(path)
    prev = GENESIS_HASH
    rows = conn.execute("SELECT id, at, actor, action, subject, detail FROM audit ORDER BY id")
    with conn:
        for entry_id, at, actor, action, subject, detail in rows.fetchall():
            digest = hashlib.sha256(
                json.dumps([prev, at, actor, action, subject, detail], ensure_ascii=False).encode()
            ).hexdigest()
            conn.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, entry_id)
            )
            prev = digest
        conn.execute("DELETE FROM store_meta WHERE name IN ('audit_chain', 'audit_base')")
        if break_at is not None:
            conn.execute(f"UPDATE audit SET detail = 'edited' WHERE id = {break_at}")
    conn.close()
    anchor_path_of(path).unlink()


def test_an_old_chain_is_re_keyed_from_its_first_entry_and_says_so(
    path: Path, keys: FieldKeys
) -> None:
    make_legacy(path, keys)
    with pytest.raises(AuditUncheckable, match="start the appliance once"):
        checked(path, keys)  # the read-only verifier never migrates
    store = Store(path, FieldCipher(keys), clock=StepClock(START + timedelta(hours=1)))
    entry = store.audit_entries(1)[0]
    assert (entry.id, entry.action) == (11, "audit.chain_keyed")
    assert entry.detail == "re-keyed 10 entries from the first (HMAC-SHA256); legacy chain held"
    store.close()
    assert checked(path, keys) == AuditVerdict(True, 11, None, "")


def test_a_broken_old_chain_is_re_keyed_and_the_break_recorded(path: Path, keys: FieldKeys) -> None:
    make_legacy(path, keys, break_at=4)
    store = Store(path, FieldCipher(keys))
    detail = store.audit_entries(1)[0].detail
    store.close()
    assert "legacy chain: contents changed at id 4 before keying" in detail


def test_removing_the_keyed_marker_to_re_key_a_tampered_chain_is_reported(
    path: Path, keys: FieldKeys
) -> None:
    filled(path, keys)
    sql(
        path,
        "DELETE FROM audit WHERE id > 8",
        "DELETE FROM store_meta WHERE name IN ('audit_chain', 'audit_base')",
    )
    store = Store(path, FieldCipher(keys))  # re-keys what is left...
    assert "an anchor file existed already" in store.audit_entries(1)[0].detail
    store.close()
    verdict = checked(path, keys)  # ...but the anchor named entry 10 before
    assert not verdict.ok and "up to entry 10" in verdict.reason


# -- retention --------------------------------------------------------------------------
def time_of(store: Store, entry_id: int) -> datetime:
    (entry,) = [e for e in store.audit_entries() if e.id == entry_id]
    return datetime.fromisoformat(entry.at)


def test_retention_removes_a_prefix_and_the_chain_still_verifies(
    path: Path, keys: FieldKeys
) -> None:
    clock = StepClock(START, timedelta(days=1))
    filled(path, keys, n=10, clock=clock)  # one entry a day
    store = Store(path, FieldCipher(keys), clock=clock)
    bound = time_of(store, 5) - timedelta(hours=1)
    assert store.purge_audit_before(bound, actor="system") == 4
    assert store.purge_audit_before(bound, actor="system") == 0
    newest = store.audit_entries(1)[0]
    assert (newest.id, newest.action) == (11, "audit.retention")
    assert newest.detail == f"removed=4 through id=4 before={bound.isoformat()}"
    assert store.verify_audit_detail() == AuditVerdict(True, 7, None, "")
    store.audit("admin", "logout", "user:1")
    store.close()
    assert checked(path, keys) == AuditVerdict(True, 8, None, "")
    lines = anchor_path_of(path).read_text().splitlines()
    assert len(lines) == 2  # rewritten at retention, then one more entry


def test_retention_never_removes_the_newest_entry(path: Path, keys: FieldKeys) -> None:
    filled(path, keys, n=3)
    store = Store(path, FieldCipher(keys), clock=StepClock(START + timedelta(days=3)))
    assert store.purge_audit_before(START + timedelta(days=2), actor="system") == 2  # all old
    assert [e.id for e in store.audit_entries()] == [4, 3]
    store.close()
    assert checked(path, keys).ok


def test_a_moved_checkpoint_is_reported(path: Path, keys: FieldKeys) -> None:
    clock = StepClock(START, timedelta(days=1))
    filled(path, keys, n=10, clock=clock)
    store = Store(path, FieldCipher(keys), clock=clock)
    assert store.purge_audit_before(time_of(store, 5) - timedelta(hours=1), actor="system") == 4
    store.close()
    sql(path, "DELETE FROM audit WHERE id = 5")
    sql(path, "UPDATE store_meta SET value = '5' || substr(value, 2) WHERE name = 'audit_base'")
    assert checked(path, keys) == AuditVerdict(False, 0, 6, AUDIT_BASE_FORGED)


def test_removing_the_oldest_entries_without_a_checkpoint_is_reported(
    path: Path, keys: FieldKeys
) -> None:
    filled(path, keys)
    sql(path, "DELETE FROM audit WHERE id <= 3")
    assert checked(path, keys) == AuditVerdict(False, 0, 4, AUDIT_LINK_BROKEN)


# -- the read-only verifier beside a writer -----------------------------------------------
def test_verify_writes_nothing(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)

    def files() -> dict[str, bytes]:  # not -shm/-wal: shared memory and an empty log
        return {p.name: p.read_bytes() for p in path.parent.iterdir() if "-" not in p.name}

    before = files()
    assert checked(path, keys).ok
    assert files() == before


def test_verify_beside_a_busy_writer_never_fails(path: Path, keys: FieldKeys) -> None:
    filled(path, keys, n=50)
    store = Store(path, FieldCipher(keys))
    stop = threading.Event()
    written = [0]

    def hammer() -> None:
        while not stop.is_set():
            store.audit("reader", "visit.done", f"visit:{written[0]}", "x" * 40)
            written[0] += 1

    writer = threading.Thread(target=hammer)
    writer.start()
    try:
        while written[0] < 5 and writer.is_alive():  # the writer is under way
            time.sleep(0.001)
        verdicts = [checked(path, keys) for _ in range(20)]
    finally:
        stop.set()
        writer.join()
        store.close()
    assert all(v.ok for v in verdicts), [v for v in verdicts if not v.ok][:1]
    assert written[0] > 0
    assert checked(path, keys) == AuditVerdict(True, 50 + written[0], None, "")


@pytest.fixture
def cli_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "cli"
    monkeypatch.setenv("ONSHI_DATA_DIR", str(data))
    monkeypatch.delenv("ONSHI_CONFIG", raising=False)
    yield data


def test_cli_exit_codes_keep_broken_apart_from_unchecked(
    cli_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from device.config import load_config
    from device.parts import open_store

    store = open_store(load_config(None, environ={}, overrides={"data_dir": cli_data}))
    for i in range(5):
        store.audit("admin", "login.success", f"user:{i}")
    store.close()
    db = cli_data / "onshi.db"
    assert main(["audit", "verify"]) == EXIT_OK
    assert "OK 5 entries" in capsys.readouterr().out
    sql(db, "DELETE FROM audit WHERE id = 5")
    assert main(["audit", "verify"]) == EXIT_AUDIT_BROKEN
    assert "newest entries were removed" in capsys.readouterr().err
    (cli_data / "onshi.db-wal").unlink(missing_ok=True)
    (cli_data / "onshi.db-shm").unlink(missing_ok=True)
    db.write_bytes(os.urandom(8192))  # unreadable: no verdict either way
    assert main(["audit", "verify"]) == EXIT_UNCHECKED
    assert "could not check" in capsys.readouterr().err


def test_an_anchor_reading_of_a_missing_file(tmp_path: Path) -> None:
    reading = AuditAnchor(tmp_path / "none.anchor", b"k" * 32).read()
    assert reading.missing and reading.last is None


def test_a_replaced_anchored_head_is_reported(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    sql(path, "UPDATE audit SET hash = 'x' || substr(hash, 2), detail = 'y' WHERE id = 10")
    verdict = checked(path, keys)
    assert (verdict.ok, verdict.first_bad_id) == (False, 10)
    store = Store(path, FieldCipher(keys))
    assert store.verify_audit_detail().first_bad_id == 10
    store.close()


def test_retention_keeps_a_chain_that_does_not_verify(path: Path, keys: FieldKeys) -> None:
    filled(path, keys)
    sql(path, "DELETE FROM audit WHERE id = 10")
    store = Store(path, FieldCipher(keys), clock=StepClock(START + timedelta(days=30)))
    assert store.purge_audit_before(START + timedelta(days=20), actor="system") == 0
    assert store.audit_entries(1)[0].action == "audit.retention_skipped"
    assert len(store.audit_entries()) == 10  # 1..9 and the skip
    store.close()
    assert not checked(path, keys).ok  # the evidence is still there


def test_retention_between_two_slices_of_a_check_is_not_a_break(
    path: Path, keys: FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sync.store.auditlog

    clock = StepClock(START, timedelta(days=1))
    filled(path, keys, n=10, clock=clock)
    store = Store(path, FieldCipher(keys), clock=clock)
    bound = time_of(store, 6)
    monkeypatch.setattr(sync.store.auditlog, "_AUDIT_VERIFY_SLICE", 3)
    feed = ChainCheck.feed
    purged: list[int] = []

    def feed_then_purge(self: ChainCheck, entry: ChainedEntry) -> bool:
        held = feed(self, entry)
        if entry.id == 3 and not purged:  # the daily job runs between two slices
            monkeypatch.setattr(ChainCheck, "feed", feed)
            purged.append(store.purge_audit_before(bound, actor="system"))
            monkeypatch.setattr(ChainCheck, "feed", feed_then_purge)
        return held

    monkeypatch.setattr(ChainCheck, "feed", feed_then_purge)
    assert store.verify_audit_detail() == AuditVerdict(True, 6, None, "")
    assert purged == [5]
    store.close()


def test_a_crash_right_after_keying_leaves_no_false_alarm(
    path: Path, keys: FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_legacy(path, keys)

    def killed(self: AuditAnchor, head: AnchoredHead) -> None:
        raise OSError("killed before the first head was written")

    monkeypatch.setattr(AuditAnchor, "append", killed)
    Store(path, FieldCipher(keys)).close()  # keyed and committed; no head in the anchor
    monkeypatch.undo()
    assert anchor_path_of(path).read_text() == ""
    store = Store(path, FieldCipher(keys))  # the next start: not a lost anchor
    assert store.audit_entries(1)[0].action == "audit.chain_keyed"
    store.audit("admin", "login.success", "user:1")
    store.close()
    assert checked(path, keys) == AuditVerdict(True, 12, None, "")


def test_a_head_a_full_disk_cut_short_leaves_no_fragment_before_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = b"k" * 32
    anchor = AuditAnchor(tmp_path / "onshi.db.anchor", key)
    anchor.start(AnchoredHead(0, 1, 1, "a" * 64))
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        if len(data) > 20:
            return real_write(fd, data[:20])  # the disk took a part of the line
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError):
        anchor.append(AnchoredHead(0, 2, 2, "b" * 64))
    monkeypatch.setattr(os, "write", real_write)
    anchor.append(AnchoredHead(0, 2, 2, "c" * 64))  # space again: the head written after
    reading = anchor.read()
    assert reading.forged_line == 0  # no line reads as altered
    assert reading.last is not None and reading.last.head_hash == "c" * 64
