"""device/backup.py and sync/store/backup.py: a backup restores every row with its audit chain;
a wrong passphrase, a cut or altered file, a broken chain or a store in use change nothing."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from device import backup, backupfile
from device.backup import BackupTargetError, RestoreRefused, StoreInUse
from device.backupfile import BackupUnreadable, KdfParams, PassphraseError, WrongPassphrase
from device.clocktrust import ClockTrust
from device.config import Config, ConfigError, load_config
from device.jobs import Jobs
from device.parts import open_store, store_keys
from device.services import Services
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, VisitRecord
from sync.xmlmsg import parse_result
from tests.unit.test_store import answer
from tests.unit.test_store_tags import written_before_tags

PASSPHRASE = "さくら色の診察券 2026 spring"
FAST = KdfParams(n=2**14, r=8, p=1)  # the smallest cost a file may ask for: quick tests
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 03:00 in Japan


def config_at(tmp_path: Path, **overrides: Any) -> Config:
    (tmp_path / "usb").mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "backup_dir": tmp_path / "usb",
        "backup_keep": 3,
        "backup_passphrase_file": tmp_path / "pass",  # made where a test needs it
    }
    values.update(overrides)
    return load_config(environ={}, overrides=values)


def fill(config: Config, confirmations: int = 30) -> list[int]:
    """Representative rows through the store's API: visits, answers, a user, a statement,
    a queued re-check, audit entries; the ids of the answers."""
    store = open_store(config, clock=lambda: NOW)
    ids = []
    try:
        for i in range(confirmations):
            visit = VisitRecord(
                id=f"v{i}",
                started_at=NOW,
                ended_at=NOW,
                reader="r",
                method="pin",
                state="done",
                file_id=f"f{i}",
            )
            raw = answer(f"f{i}")
            ids.append(
                store.save_confirmation(
                    file_id=f"f{i}",
                    raw_result=raw,
                    result=parse_result(raw),
                    kind="card",
                    method="pin",
                    actor="reader",
                    visit=visit,
                    card=f"card-{i}",
                ).id
            )
        store.add_user("admin1", "管理者", ("admin",), "hash")
        store.save_statement({"name": "髙橋 花子", "birthdate": "19800401"}, actor="desk")
        store.audit("admin1", "settings.change", "setting:language", "ja -> en")
    finally:
        store.close()
    return ids


def read_all(config: Config, ids: list[int]) -> Store:
    store = open_store(config, clock=lambda: NOW)
    for confirmation_id in ids:
        row = store.confirmation(confirmation_id)
        assert row is not None and row.result.results[0].name == "髙橋 花子"
        assert store.confirmation_raw(confirmation_id) == answer(row.file_id)
    assert store.user_by_username("admin1") is not None
    assert len(store.open_statements()) == 1
    verdict = store.verify_audit_detail()
    assert verdict.ok, verdict.reason
    return store


def write(config: Config, now: datetime = NOW, **kwargs: Any) -> backup.BackupWritten:
    return backup.write_backup(config, PASSPHRASE, now=now, kdf=FAST, **kwargs)


def restore(config: Config, file: Path, passphrase: str = PASSPHRASE, **kwargs: Any) -> Any:
    return backup.restore_backup(
        config, file, passphrase, now=NOW + timedelta(hours=1), actor="cli:test", **kwargs
    )


def snapshot_of(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_backup_wipe_restore_reads_every_row_and_the_audit_chain_holds(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    ids = fill(config)
    written = write(config, chunk=4096)  # many chunks: the stream is exercised, not one block
    assert written.path.name == "onshi-20261120T180000Z.backup"
    assert written.counts["confirmations"] == 30
    assert written.path.stat().st_mode & 0o777 != 0  # written whole, renamed into place
    assert not list(config.data_dir.glob(".backup-*"))  # the plain copy is gone
    assert not list(config.backup_dir.glob(".*partial"))
    shutil.rmtree(config.data_dir)  # the SD card died: database, anchor and key gone

    done = restore(config, written.path)

    assert done.counts["confirmations"] == 30 and done.audit_checked > 30
    assert done.replaced is None and not done.key_replaced
    store = read_all(config, ids)
    try:
        restored = store.audit_search(action=backup.BACKUP_RESTORED)
        assert len(restored) == 1 and restored[0].actor == "cli:test"
    finally:
        store.close()
    assert not list(config.data_dir.glob(".restoring-*"))
    assert config.store_key_path.stat().st_mode & 0o777 == 0o600


def test_a_wrong_passphrase_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 3)
    written = write(config)
    before = snapshot_of(config.data_dir)
    with pytest.raises(WrongPassphrase, match="passphrase is wrong: nothing was changed"):
        restore(config, written.path, "not the passphrase at all")
    assert snapshot_of(config.data_dir) == before


@pytest.mark.parametrize(
    "damage",
    ["header_cut", "chunk_cut", "boundary_cut", "last_chunk_dropped", "body_byte", "header_field"],
)
def test_a_cut_or_altered_file_is_refused_and_nothing_changes(tmp_path: Path, damage: str) -> None:
    config = config_at(tmp_path)
    fill(config, 3)
    written = write(config, chunk=4096)
    data = written.path.read_bytes()
    header_end = data.index(b"}") + 1
    first = header_end + 4096 + 16  # end of the first chunk
    damaged = {
        "header_cut": data[:20],
        "chunk_cut": data[: first + 100],
        "boundary_cut": data[: first + 4096 + 16],  # whole chunks, the last one missing
        "last_chunk_dropped": data[: len(data) - (len(data) - header_end) % (4096 + 16)],
        "body_byte": data[: first + 7] + bytes([data[first + 7] ^ 1]) + data[first + 8 :],
        "header_field": data.replace(b'"created_at":"2026', b'"created_at":"2027', 1),
    }[damage]
    assert damaged != data
    written.path.write_bytes(damaged)
    before = snapshot_of(config.data_dir)
    with pytest.raises(BackupUnreadable, match="damaged, cut short or altered|not an onshi"):
        restore(config, written.path)
    assert snapshot_of(config.data_dir) == before


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    other = tmp_path / "photo.jpg"
    other.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    with pytest.raises(BackupUnreadable, match="not an onshi backup"):
        restore(config, other)


def test_a_broken_audit_chain_in_the_backup_is_refused(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 3)
    db = sqlite3.connect(config.database_path)
    db.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
    db.commit()
    db.close()
    written = write(config)
    shutil.rmtree(config.data_dir)
    with pytest.raises(RestoreRefused, match="audit chain does not hold \\(id 2\\)"):
        restore(config, written.path)
    assert not config.database_path.exists()


def test_generations_beyond_backup_keep_are_removed_oldest_first(tmp_path: Path) -> None:
    config = config_at(tmp_path, backup_keep=2)
    fill(config, 1)
    stranger = config.backup_dir / "notes.txt"
    stranger.write_text("not ours")
    names = [write(config, NOW + timedelta(days=day)).path.name for day in range(4)]
    kept = sorted(p.name for p in config.backup_dir.glob("onshi-*.backup"))
    assert kept == names[2:]
    assert stranger.exists()


def test_backup_dir_missing_is_an_error_and_never_created(tmp_path: Path) -> None:
    config = config_at(tmp_path, backup_dir=tmp_path / "stick-not-mounted")
    fill(config, 1)
    with pytest.raises(BackupTargetError, match="mounted"):
        write(config)
    assert not (tmp_path / "stick-not-mounted").exists()
    with pytest.raises(BackupTargetError, match="backup_dir is not set"):
        write(config_at(tmp_path, backup_dir="", backup_passphrase_file=""))


def test_a_short_passphrase_is_refused_for_a_new_backup(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 1)
    with pytest.raises(PassphraseError, match="at least 12"):
        backup.write_backup(config, "short", now=NOW, kdf=FAST)
    assert not list(config.backup_dir.iterdir())


def test_a_store_in_use_is_not_replaced(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 2)
    written = write(config)
    running = open_store(config)  # the appliance keeps its connection open
    try:
        before = config.database_path.read_bytes()
        with pytest.raises(StoreInUse, match="stop it first"):
            restore(config, written.path)
        assert config.database_path.read_bytes() == before
    finally:
        running.close()


def test_a_store_with_another_key_is_replaced_with_its_key_and_kept_aside(
    tmp_path: Path,
) -> None:
    config = config_at(tmp_path)
    ids = fill(config, 4)
    written = write(config)
    shutil.rmtree(config.data_dir)
    fill(config, 1)  # a fresh install made a new key and a row before the restore
    old_key = config.store_key_path.read_bytes()

    done = restore(config, written.path)

    assert done.key_replaced and done.replaced is not None
    assert (done.replaced / "store.key").read_bytes() == old_key
    assert (done.replaced / "onshi.db").exists() and (done.replaced / "onshi.db.anchor").exists()
    kept = Store(
        done.replaced / "onshi.db", FieldCipher(FieldKeys.load(done.replaced / "store.key"))
    )
    assert kept.count_confirmations() == 1
    kept.close()
    read_all(config, ids).close()


def test_a_key_that_cannot_be_replaced_here_is_refused_or_written_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    config = config_at(tmp_path, key_file=credentials / "store.key")
    ids = fill(config, 2)
    written = write(config)
    os.chmod(config.store_key_path, 0o600)
    shutil.rmtree(config.data_dir)
    config.store_key_path.write_bytes(FieldKeys.generate().encryption * 2)  # another key
    writable = os.access  # like $CREDENTIALS_DIRECTORY (root could write a 0500 directory)
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != credentials and writable(p, mode))
    with pytest.raises(RestoreRefused, match="--key-out"):
        restore(config, written.path)
    assert not config.database_path.exists()
    done = restore(config, written.path, key_out=tmp_path / "restored.key")
    monkeypatch.undo()
    assert done.key_out == tmp_path / "restored.key"
    os.replace(tmp_path / "restored.key", config.store_key_path)  # the admin installs it
    read_all(config, ids).close()


def test_the_nightly_job_runs_once_a_day_after_backup_at(tmp_path: Path) -> None:
    config = config_at(tmp_path, backup_at="02:30")
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    os.chmod(tmp_path / "pass", 0o600)
    fill(config, 1)
    store = open_store(config)
    fast = backup.write_backup

    def write_fast(*args: Any, **kwargs: Any) -> backup.BackupWritten:
        return fast(*args, **{**kwargs, "kdf": FAST})

    def at(instant: datetime) -> ClockTrust:
        return ClockTrust(tolerance_s=30, wall=lambda: instant, synchronised=lambda: True)

    services = cast(Services, type("S", (), {"config": config, "store": store})())
    mp = pytest.MonkeyPatch()
    mp.setattr(backup, "write_backup", write_fast)
    try:
        first = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # 02:00 in Japan
        ran = [
            Jobs(services, at(first + timedelta(minutes=minutes))).run_now("backup")
            for minutes in (
                0,  # no backup yet: one at once
                25,  # 02:25, before backup_at, one already made since yesterday's 02:30
                60,  # 03:00: past backup_at, the newest is from before it
                9 * 60,  # 11:00: today's is made
                25 * 60,  # 03:00 the next day
            )
        ]
        assert ran == [1, 0, 1, 0, 1]
        assert store.audit_search(action=backup.BACKUP_WRITTEN)
    finally:
        mp.undo()
        store.close()
    files = sorted(config.backup_dir.glob("onshi-*.backup"))
    assert len(files) == 3
    restored = restore(config_at(tmp_path / "new-card"), files[-1])
    assert restored.counts["confirmations"] == 1


def test_the_nightly_job_without_its_passphrase_writes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match="needs its passphrase file"):
        config_at(tmp_path, backup_passphrase_file="")
    config = config_at(tmp_path)  # the passphrase file is not there (the credential missing)
    fill(config, 1)
    store = open_store(config)
    services = cast(Services, type("S", (), {"config": config, "store": store})())
    trust = ClockTrust(tolerance_s=30, wall=lambda: NOW, synchronised=lambda: True)
    try:
        assert Jobs(services, trust).run_now("backup") == 0
    finally:
        store.close()
    assert "no passphrase file at" in caplog.text
    assert not list(config.backup_dir.iterdir())
    disabled = config_at(tmp_path, backup_dir="", backup_passphrase_file="")
    assert backup.nightly_backup(disabled, cast(Store, None), NOW) == 0


def test_a_passphrase_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pass"
    path.write_text(PASSPHRASE)
    os.chmod(path, 0o644)
    with pytest.raises(PassphraseError, match="chmod 600"):
        backupfile.read_passphrase_file(path)
    os.chmod(path, 0o600)
    assert backupfile.read_passphrase_file(path) == PASSPHRASE


def test_the_recovery_sheet_key_reads_back_as_the_key(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 1)
    text = backup.recovery_key_text(config)
    assert len(text.splitlines()) == 4
    keys = store_keys(config, create=False)
    assert backup.key_from_sheet(text) == keys.encryption + keys.index
    assert backup.key_from_sheet(backup.recovery_qr_payload(text)) == keys.encryption + keys.index
    with pytest.raises(ValueError):
        backup.key_from_sheet(text[:-4])


def test_a_damaged_store_is_replaced_and_kept_aside(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    ids = fill(config, 2)
    written = write(config)
    config.database_path.write_bytes(b"not a database any more" * 100)
    done = restore(config, written.path)
    assert done.replaced is not None
    assert (done.replaced / "onshi.db").read_bytes().startswith(b"not a database")
    read_all(config, ids).close()


def test_what_an_interrupted_backup_left_is_removed_by_the_next(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 1)
    plain = config.data_dir / ".backup-20261119T180000Z-1-abcd.db"
    partial = config.backup_dir / ".onshi-20261119T180000Z.backup.1.abcd.partial"
    fresh = config.backup_dir / ".onshi-20261120T175900Z.backup.2.abcd.partial"
    for path in (plain, partial, fresh):
        path.write_bytes(b"left over")
    old = time.time() - 86_400  # by the real clock, as the file system stamps them
    os.utime(plain, (old, old))
    os.utime(partial, (old, old))
    os.utime(fresh, (time.time(), time.time()))  # maybe another backup running now
    write(config)
    assert not plain.exists() and not partial.exists() and fresh.exists()


def test_a_backup_taken_while_the_appliance_writes_restores_with_its_chain(
    tmp_path: Path,
) -> None:
    config = config_at(tmp_path)
    ids = fill(config, 5)
    store = open_store(config)
    stop = threading.Event()

    def writer() -> None:  # the appliance's audit entries keep coming during the copy
        n = 0
        while not stop.is_set():
            store.audit("reader", "visit.step", f"visit:{n}")
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        written = [write(config, NOW, snapshot=store.backup_snapshot)]
        written.append(write(config, NOW + timedelta(minutes=9)))  # from a second process's view
    finally:
        stop.set()
        thread.join()
        store.close()
    assert written[1].counts["audit"] > written[0].counts["audit"]  # writes went on meanwhile
    for made in written:
        new_card = config_at(tmp_path / f"new-{made.path.name}")
        done = restore(new_card, made.path)
        assert done.counts["audit"] > 0
        restored = read_all(new_card, ids)  # the chain holds against the copied anchor
        restored.audit("admin1", "after", "restore")
        assert restored.verify_audit_detail().ok
        restored.close()


def test_a_backup_from_a_newer_onshi_is_refused(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 1)
    db = sqlite3.connect(config.database_path)
    db.execute("INSERT INTO schema_migrations VALUES (99, '2027-01-01T00:00:00.000000Z')")
    db.commit()
    db.close()
    written = write(config)
    shutil.rmtree(config.data_dir)
    with pytest.raises(RestoreRefused, match="newer onshi \\(schema 99"):
        restore(config, written.path)
    assert not config.data_dir.joinpath("onshi.db").exists()


def test_a_header_asking_for_too_much_memory_is_refused_before_deriving(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    fill(config, 1)
    written = write(config)
    data = written.path.read_bytes()
    body_start = len(backupfile.MAGIC) + 5
    length = int.from_bytes(data[len(backupfile.MAGIC) + 1 : body_start], "big")
    header = data[body_start : body_start + length].replace(b'"r":8', b'"r":16')
    header = header.replace(b'"n":16384', b'"n":262144')
    assert header != data[body_start : body_start + length]
    forged = data[: len(backupfile.MAGIC) + 1] + len(header).to_bytes(4, "big") + header
    written.path.write_bytes(forged + data[body_start + length :])
    with pytest.raises(BackupUnreadable):
        restore(config, written.path)


def test_with_the_key_as_a_sealed_credential_a_restore_never_writes_a_key_beside_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_at(tmp_path)
    ids = fill(config, 2)
    written = write(config)
    backup_key = config.store_key_path.read_bytes()
    shutil.rmtree(config.data_dir)
    credentials = tmp_path / "credentials"  # what systemd hands onshi-admin's process
    credentials.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))

    # The same key sealed (a restore on this box): the database alone is restored.
    (credentials / "store-key").write_bytes(backup_key)
    os.chmod(credentials / "store-key", 0o600)
    restore(config, written.path)
    assert not config.store_key_path.exists()
    read_all(config, ids).close()

    # A new card sealed a new key: refused, or the backup's key written out to be sealed.
    shutil.rmtree(config.data_dir)
    (credentials / "store-key").write_bytes(FieldKeys.generate().encryption * 2)
    with pytest.raises(RestoreRefused, match="--key-out"):
        restore(config, written.path)
    assert not config.database_path.exists()
    done = restore(config, written.path, key_out=tmp_path / "restored.key")
    assert (tmp_path / "restored.key").read_bytes() == backup_key
    assert not config.store_key_path.exists() and not done.key_replaced
    os.replace(tmp_path / "restored.key", credentials / "store-key")  # sealed again
    read_all(config, ids).close()


def test_a_backup_from_before_migration_24_restores_migrated_and_its_look_ups_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_at(tmp_path)
    with written_before_tags(monkeypatch):  # hex keyed hashes, schema 23
        ids = fill(config, 3)
        written = write(config)
    assert written.schema_version == 23
    shutil.rmtree(config.data_dir)

    done = restore(config, written.path)

    assert done.schema_version == 23 and done.counts["confirmations"] == 3
    store = read_all(config, ids)
    try:
        assert store.schema_version == 24
        newest_first = sorted(ids, reverse=True)
        assert [c.id for c in store.find_by_kana("タカハシ ハナコ")] == newest_first
        assert [c.id for c in store.find_by_numbers("06139015", "記号１", "73920418")] == (
            newest_first
        )
        card = store.last_card_answer("card-1")
        assert card is not None and card.id == ids[1]
    finally:
        store.close()
