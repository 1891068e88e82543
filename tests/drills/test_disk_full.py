"""Disk-full drill: a real filesystem that really fills (a 4 MiB tmpfs), answers saved through it
the way the desk saves them, until the disk refuses; then the space comes back.

Fails on any loss: every answer the store acknowledged is present and readable, nothing of a
refused one is there (no confirmation, visit or audit entry), the database passes its integrity
check and the audit chain verifies; the reserve lets answers be saved after the disk filled,
and it is made again when space returns. Needs root to mount the tmpfs (CI runs as root); where
mounting is impossible the drill is skipped and says why.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync import reserve as reserve_module
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, StoreFullError, VisitRecord
from sync.xmlmsg import build_result, parse_result
from tests.unit.test_web import qualification, result

FS_BYTES = 4 * 1024 * 1024
RESERVE_BYTES = 512 * 1024
NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of our own, unmounted afterwards."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root); not root here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FS_BYTES},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the filesystem refuses; returns it (delete it to give space back)."""
    filler = directory / "filler"
    block = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


class _Desk:
    """Saves answers the way the visit flow does: one answer, its visit and its audit entry."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.acknowledged: dict[str, int] = {}  # file id → confirmation id, as the store told
        self.refused: list[str] = []
        self._n = 0

    def save(self) -> bool:
        self._n += 1
        file_id = f"drill{self._n:06d}"
        raw = build_result(result(qualification(number=f"{self._n}"), file_id=file_id))
        visit = VisitRecord(file_id, NOW, NOW + timedelta(seconds=20), "reader", "pin", "done")
        try:
            stored = self.store.save_confirmation(
                file_id=file_id,
                raw_result=raw,
                result=parse_result(raw),
                kind="card",
                method="pin",
                actor="reader",
                visit=VisitRecord(**{**visit.__dict__, "file_id": file_id}),
            )
        except StoreFullError:
            self.refused.append(file_id)
            return False
        self.acknowledged[file_id] = stored.id
        return True


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_disk_full_during_saves(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, figure: Callable[[str], None]
) -> None:
    monkeypatch.setattr(reserve_module, "REMAKE_INTERVAL_S", 0.0)  # try again at each write
    path = small_disk / "onshi.db"
    keys = FieldKeys.generate()
    store = Store(path, FieldCipher(keys), clock=lambda: NOW, reserve_bytes=RESERVE_BYTES)
    disk = store.disk_state()
    assert disk is not None and disk.reserve_held
    desk = _Desk(store)
    for _ in range(20):
        assert desk.save()
    filler = _fill(small_disk)
    before_full = len(desk.acknowledged)

    # The disk is full: the reserve carries the answers for a while, then the store refuses.
    refusals_in_a_row = 0
    while refusals_in_a_row < 3:
        refusals_in_a_row = 0 if desk.save() else refusals_in_a_row + 1
        assert len(desk.acknowledged) < 10_000, "the reserve never ran out"
    from_reserve = len(desk.acknowledged) - before_full
    assert from_reserve > 0, "no answer was saved from the reserve"
    disk = store.disk_state()
    assert disk is not None and not disk.reserve_held
    try:  # a small entry may still fit in a page the WAL holds; either way, nothing breaks
        store.audit("reception", "confirmation.list", "confirmations:today")
    except StoreFullError:
        pass
    free_when_refused = disk.free_bytes

    # Nothing of a refused answer is stored; every acknowledged one is there and readable.
    for file_id in desk.refused:
        assert store.visit(file_id) is None
        assert not [e for e in store.audit_entries(100_000) if file_id in e.subject]
    for file_id, confirmation_id in desk.acknowledged.items():
        found = store.confirmation(confirmation_id)
        assert found is not None and found.file_id == file_id
    assert store.count_confirmations() == len(desk.acknowledged)
    assert _integrity(path) == "ok"
    assert store.verify_audit() is None

    # Space returns: saving works again and the reserve is made again.
    filler.unlink()
    assert desk.save()
    disk = store.disk_state()
    assert disk is not None and disk.reserve_held
    store.close()

    reopened = Store(path, FieldCipher(keys), clock=lambda: NOW, reserve_bytes=RESERVE_BYTES)
    try:
        for file_id, confirmation_id in desk.acknowledged.items():
            found = reopened.confirmation(confirmation_id)
            assert found is not None and found.file_id == file_id
        assert reopened.verify_audit_detail().ok, reopened.verify_audit_detail()
    finally:
        reopened.close()
    assert _integrity(path) == "ok"
    figure(
        f"4 MiB tmpfs, {RESERVE_BYTES // 1024} KiB reserve: {before_full} answers before the disk "
        f"filled, {from_reserve} more saved from the reserve, then StoreFullError at "
        f"{free_when_refused} bytes free ({len(desk.refused)} refused, 0 half-written); "
        f"{len(desk.acknowledged)}/{len(desk.acknowledged)} acknowledged readable, integrity ok, "
        "audit verifies; reserve made again when space returned"
    )
