"""Backups that restore: `onshi backup`, `onshi restore FILE` and the nightly job.

What a backup holds. One file, `onshi-<UTC stamp>.backup`, with the database (SQLite's online
backup, sync/store/backup.py), its audit anchor and the store key, encrypted together with a
key derived from a passphrase. The store key is in it on purpose: the SD card that dies takes
the key file (or the systemd credential) with it, and a backup that also needs a second secret
kept somewhere else fails exactly when it is needed. So the passphrase alone restores, and the
backup is as strong as the passphrase (scrypt, at least PASSPHRASE_MIN characters; the recovery
sheet, web/recovery.py, keeps the store key on paper for a database copied without a backup).

The file (its format is device/backupfile.py): a header authenticated as the associated data of
every chunk, then the payload in AES-256-GCM chunks; a wrong passphrase is refused at once, a
file cut short or altered anywhere is refused. The payload: a manifest (JSON), then the key, the
anchor and the database, byte for byte.

Where the nightly job's passphrase comes from. From the file `backup_passphrase_file` names,
read when the job runs and never kept: on the appliance a sealed systemd credential
(`LoadCredentialEncrypted=backup-passphrase:...` in a drop-in of onshi.service, the setting
`/run/credentials/onshi.service/backup-passphrase`), like the store key, so it is neither in the
data directory nor in the database nor in a readable file. It is never logged, never stored in the
database and never shown on a page; a file readable by group or others is refused like the key
file. `onshi backup` also takes it from stdin (--passphrase-stdin) or asks for it; `onshi
restore` asks (or reads stdin): restoring is a person's act.

Writing is atomic: the file is written under a temporary name in `backup_dir`, fsync'd, then
renamed; `backup_keep` generations are kept, the oldest removed after a new one is in place.
`backup_dir` is never created: a USB stick that is not mounted must not turn into a folder on
the SD card. The plain copy of the database is made in `data_dir` (private, same disk as the
store) and removed at once.

Restoring verifies everything before anything changes: the passphrase, every chunk's tag, the
copy's integrity_check, its key check and its audit chain. Only then is the store replaced:
the running appliance must be stopped (a database another process has open is refused), the
current database, its WAL, its anchor and (when the backup's key differs) its key are moved
aside into `data_dir/replaced-<stamp>/`, and the restored files renamed into place. The key
always travels with its database: never a new key beside data encrypted with another. A store key
sealed as a systemd credential (device/storekey.py) is never written here: when the backup's key
differs from it the restore refuses unless told where to write the backup's key (--key-out), to be
sealed in its place.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import shutil
import struct
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO

from device.backupfile import (
    CHUNK,
    DAMAGED,
    DEFAULT_KDF,
    BackupError,
    BackupUnreadable,
    Header,
    KdfParams,
    Opener,
    Sealer,
    WrongPassphrase,
    check_new_passphrase,
    derive_key,
    header_bytes,
    read_header,
    read_passphrase_file,
)
from device.config import Config
from device.parts import store_keys
from device.storekey import credential_path
from sync.clock import JST
from sync.fieldcrypt import KEY_FILE_BYTES, FieldCipher, FieldKeys
from sync.store import Store, anchor_path_of
from sync.store.backup import (
    CopyChecked,
    RestoredCopyRefused,
    Snapshot,
    check_copy,
    snapshot_file,
    take_sole_access,
)

log = logging.getLogger(__name__)

MANIFEST_MAX = 64 * 1024
SUFFIX = ".backup"
NAME = re.compile(r"onshi-(\d{8}T\d{6}Z)\.backup")
STAMP = "%Y%m%dT%H%M%SZ"
BACKUP_WRITTEN, BACKUP_RESTORED = "backup.written", "backup.restored"


class BackupTargetError(BackupError):
    """The backup folder is not there or cannot be written (a stick not mounted?)."""


class RestoreRefused(BackupError):
    """The backup decrypted but must not replace the store (its checks, or the store's state)."""


class StoreInUse(RestoreRefused):
    """Another process (the running appliance) has the database open."""


@dataclass(frozen=True)
class BackupWritten:
    path: Path
    size: int
    schema_version: int
    counts: dict[str, int]
    pruned: tuple[Path, ...] = ()


@dataclass(frozen=True)
class RestoreDone:
    created_at: str
    schema_version: int  # of the backup; the store opened migrated to the current one
    counts: dict[str, int]
    audit_checked: int
    replaced: Path | None  # where the replaced store was put aside
    key_replaced: bool
    key_out: Path | None = None


# -- writing a backup ---------------------------------------------------------------------------
Snapshotter = Callable[[Path], Snapshot]


def write_backup(
    config: Config,
    passphrase: str,
    *,
    now: datetime,
    snapshot: Snapshotter | None = None,
    kdf: KdfParams = DEFAULT_KDF,
    chunk: int = CHUNK,
) -> BackupWritten:
    """A new generation in `backup_dir`, then the oldest beyond `backup_keep` removed.

    `snapshot` copies the database into the path it is given (the running appliance's
    Store.backup_snapshot); by default a read-only copy of the configured database file, beside
    whatever process writes to it."""
    check_new_passphrase(passphrase)
    folder = backup_folder(config)
    keys = store_keys(config, create=False)
    cipher = FieldCipher(keys)
    if snapshot is None:

        def snapshot(target: Path) -> Snapshot:
            return snapshot_file(config.database_path, target, cipher)

    stamp = now.astimezone(UTC).strftime(STAMP)
    _remove_stale(config.data_dir, ".backup-*.db")  # a copy a crash or power loss left behind
    _remove_stale(folder, ".onshi-*.partial")
    plain = config.data_dir / f".backup-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.db"
    final = folder / f"onshi-{stamp}{SUFFIX}"
    partial = folder / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.partial"
    try:
        taken = snapshot(plain)
        salt = secrets.token_bytes(16)
        key, check = derive_key(passphrase, salt, kdf)
        header = header_bytes(
            {
                "kdf": "scrypt",
                "n": kdf.n,
                "r": kdf.r,
                "p": kdf.p,
                "salt": salt.hex(),
                "check": check,
                "chunk": chunk,
                "created_at": now.astimezone(UTC).isoformat(),
                "schema_version": taken.schema_version,
            }
        )
        manifest = json.dumps(
            {
                "files": [
                    {"name": "key", "size": KEY_FILE_BYTES},
                    {"name": "anchor", "size": len(taken.anchor)},
                    {"name": "database", "size": plain.stat().st_size},
                ],
                "counts": taken.counts,
            }
        ).encode()
        try:
            with open(partial, "xb") as out:
                out.write(header)
                sealer = Sealer(out, key, header, chunk)
                sealer.write(struct.pack(">I", len(manifest)) + manifest)
                sealer.write(keys.encryption + keys.index)
                sealer.write(taken.anchor)
                with open(plain, "rb") as source:
                    while piece := source.read(CHUNK):
                        sealer.write(piece)
                sealer.close()
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
            _fsync_dir(folder)
        except OSError as exc:
            raise BackupTargetError(
                f"バックアップを書けません（容量・書き込み禁止を確認してください） / cannot write "
                f"the backup in {folder}: {exc.strerror or exc}"
            ) from exc
    finally:
        plain.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    pruned = prune_generations(folder, config.backup_keep)
    log.info("backup written: %s (%d bytes)", final, final.stat().st_size)
    return BackupWritten(final, final.stat().st_size, taken.schema_version, taken.counts, pruned)


def backup_folder(config: Config) -> Path:
    folder = config.backup_dir
    if str(folder) in ("", "."):
        raise BackupTargetError(
            "backup_dir が設定されていません / backup_dir is not set: name the mounted USB stick "
            "or network folder"
        )
    if not folder.is_dir():
        raise BackupTargetError(
            f"バックアップ先 {folder} がありません。USB メモリや共有フォルダがつながっているか"
            f"確認してください / the backup folder {folder} is not there: is the USB stick or "
            "the network share mounted?"
        )
    return folder


STALE_S = 6 * 3600  # older than any backup takes: left by a crash, never one still running


def _remove_stale(folder: Path, pattern: str) -> None:
    for path in folder.glob(pattern):
        try:
            if path.stat().st_mtime < _time.time() - STALE_S:
                path.unlink()
                log.info("removed %s, left by an interrupted backup", path)
        except OSError as exc:
            log.warning("cannot remove %s: %s", path, exc)


def generations(folder: Path) -> list[Path]:
    """The backups in `folder`, oldest first (by the UTC stamp in their names)."""
    found = [p for p in folder.iterdir() if NAME.fullmatch(p.name) and p.is_file()]
    return sorted(found, key=lambda p: p.name)


def prune_generations(folder: Path, keep: int) -> tuple[Path, ...]:
    """Remove all but the newest `keep` backups (never the one just written: keep ≥ 1)."""
    old = generations(folder)[: -max(keep, 1)]
    for path in old:
        try:
            path.unlink()
        except OSError as exc:
            log.warning("cannot remove the old backup %s: %s", path, exc)
    return tuple(old)


def last_backup_at(folder: Path) -> datetime | None:
    found = generations(folder)
    if not found:
        return None
    match = NAME.fullmatch(found[-1].name)
    assert match is not None
    return datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)


def backup_due(config: Config, now: datetime) -> bool:
    """Whether the nightly backup should run now: `backup_at` (Japan time) has passed today and
    the newest generation is older than it. A box that was off at that hour catches up."""
    hour, minute = (int(part) for part in config.backup_at.split(":"))
    local = now.astimezone(JST)
    today_at = datetime.combine(local.date(), time(hour, minute), tzinfo=JST)
    if local < today_at:
        today_at -= timedelta(days=1)
    last = last_backup_at(backup_folder(config))
    return last is None or last < today_at


# -- restoring ------------------------------------------------------------------------------
@dataclass
class _Staged:
    directory: Path
    key: FieldKeys
    anchor: Path
    database: Path
    counts: dict[str, int] = field(default_factory=dict)


def restore_backup(
    config: Config,
    backup: Path,
    passphrase: str,
    *,
    now: datetime,
    actor: str,
    key_out: Path | None = None,
) -> RestoreDone:
    """Verify `backup` whole, check the copy, then swap it in; the store is unchanged on any
    refusal. `key_out`: where to write the backup's key when the configured key file cannot be
    replaced here (a systemd credential), instead of refusing."""
    stamp = now.astimezone(UTC).strftime(STAMP)
    try:
        file = open(backup, "rb")  # noqa: SIM115 - closed below, after the whole stream
    except OSError as exc:
        raise BackupUnreadable(
            f"バックアップファイルを開けません / cannot open {backup}: {exc.strerror}"
        ) from exc
    with file:
        header = read_header(file)
        key, check = derive_key(passphrase, header.salt, header.kdf)
        if not hmac.compare_digest(check, header.check):
            raise WrongPassphrase(
                "パスフレーズが違います。何も変更していません / the passphrase is wrong: "
                "nothing was changed"
            )
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = config.data_dir / f".restoring-{stamp}-{secrets.token_hex(4)}"
        staging.mkdir(mode=0o700)
        try:
            staged = _unpack(Opener(file, key, header), staging)
            done = _check_and_swap(config, staged, header, stamp, actor, key_out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return done


def _unpack(opener: Opener, staging: Path) -> _Staged:
    (length,) = struct.unpack(">I", opener.read_exactly(4))
    if length > MANIFEST_MAX:
        raise BackupUnreadable(DAMAGED)
    try:
        manifest = json.loads(opener.read_exactly(length))
        sizes = {str(f["name"]): int(f["size"]) for f in manifest["files"]}
        counts = {str(k): int(v) for k, v in manifest.get("counts", {}).items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupUnreadable(DAMAGED) from exc
    if set(sizes) != {"key", "anchor", "database"} or sizes["key"] != KEY_FILE_BYTES:
        raise BackupUnreadable(DAMAGED)
    raw_key = opener.read_exactly(KEY_FILE_BYTES)
    anchor = staging / "onshi.db.anchor"
    database = staging / "onshi.db"
    for path, size in ((anchor, sizes["anchor"]), (database, sizes["database"])):
        with _private_file(path) as out:
            left = size
            while left:
                piece = opener.read_exactly(min(left, CHUNK))
                out.write(piece)
                left -= len(piece)
            out.flush()
            os.fsync(out.fileno())
    opener.finish()  # nothing is used before the last chunk's tag has held
    return _Staged(staging, FieldKeys(raw_key[:32], raw_key[32:]), anchor, database, counts)


def _check_and_swap(
    config: Config,
    staged: _Staged,
    header: Header,
    stamp: str,
    actor: str,
    key_out: Path | None,
) -> RestoreDone:
    cipher = FieldCipher(staged.key)
    try:
        checked: CopyChecked = check_copy(staged.database, cipher, anchor_path=staged.anchor)
    except RestoredCopyRefused as refused:
        raise RestoreRefused(
            f"バックアップの検査で見つかった問題のため戻しません。何も変更していません / the "
            f"backup fails its checks, nothing was changed: {refused.reason}"
        ) from refused
    database = config.database_path
    anchor = anchor_path_of(database)
    key_path = config.store_key_path
    credential = credential_path()
    if credential is not None:
        # The appliance's key: sealed by systemd, never written here (device/storekey.py).
        current_key: bytes | None = credential.read_bytes()
        key_writable = False
    else:
        current_key = key_path.read_bytes() if key_path.exists() else None
        key_writable = os.access(key_path.parent, os.W_OK)
    backup_key = staged.key.encryption + staged.key.index
    key_differs = current_key is not None and not hmac.compare_digest(current_key, backup_key)
    write_key_here = current_key is None or key_differs
    if write_key_here and key_out is None and not key_writable:
        where = f"systemd の資格情報 {credential}" if credential else f"鍵ファイル {key_path}"
        raise RestoreRefused(
            f"バックアップの鍵が今の鍵と違い、{where} はここでは書き換えられません。--key-out で"
            "バックアップの鍵を書き出し、資格情報として封印し直してください (docs/backup.md)。"
            f"何も変更していません / the backup's key differs from the current one, and "
            f"{credential or key_path} cannot be replaced here (a systemd credential): write the "
            "backup's key with --key-out FILE and seal it as the credential (docs/backup.md); "
            "nothing was changed"
        )
    if database.exists() and not take_sole_access(database):
        raise StoreInUse(
            "データベースを別のプログラム（動作中の onshi）が使っています。停止してから戻して"
            "ください (systemctl stop onshi)。何も変更していません / the database is in use by "
            "another process (the running appliance): stop it first (systemctl stop onshi); "
            "nothing was changed"
        )
    replaced_key = key_path if key_differs and credential is None else None
    aside = _put_aside(config, database, anchor, replaced_key, stamp)
    os.replace(staged.database, database)
    os.replace(staged.anchor, anchor)
    written_out = None
    if key_out is not None and write_key_here:
        _write_key(key_out, backup_key, replace=False)
        written_out = key_out
    elif write_key_here:
        _write_key(key_path, backup_key, replace=True)
    _fsync_dir(database.parent)
    _owned_like_data_dir(config, [database, anchor, *([key_path] if write_key_here else [])])
    # Opened once with the backup's own key: migrations of an older backup run now, and the
    # restore is in the audit log it restored.
    store = Store(database, cipher)
    try:
        store.audit(
            actor,
            BACKUP_RESTORED,
            "store",
            f"from backup made {header.created_at}; replaced store kept in {aside}",
        )
    finally:
        store.close()
    _owned_like_data_dir(config, [database, anchor])  # the first open appended to the anchor
    return RestoreDone(
        created_at=header.created_at,
        schema_version=checked.schema_version,
        counts=checked.counts,
        audit_checked=checked.audit.checked,
        replaced=aside,
        key_replaced=key_differs and written_out is None,
        key_out=written_out,
    )


def _owned_like_data_dir(config: Config, paths: list[Path]) -> None:
    """Run as root (sudo onshi restore), the restored files would be root's and the service
    could not open them: they take the data directory's owner."""
    if os.geteuid() != 0:
        return
    owner = config.data_dir.stat()
    for path in paths:
        if path.exists() and path.parent == config.data_dir:
            os.chown(path, owner.st_uid, owner.st_gid)


def _put_aside(
    config: Config, database: Path, anchor: Path, key: Path | None, stamp: str
) -> Path | None:
    """The current store's files into data_dir/replaced-<stamp>/ (the key copied: its path may
    be elsewhere); None when there was nothing to keep."""
    files = [
        p
        for p in (
            database,
            database.with_name(database.name + "-wal"),
            database.with_name(database.name + "-shm"),
            anchor,
        )
        if p.exists()
    ]
    if not files and key is None:
        return None
    aside = config.data_dir / f"replaced-{stamp}"
    aside.mkdir(mode=0o700)
    if key is not None:
        _write_key(aside / key.name, key.read_bytes(), replace=False)
    for path in files:
        os.replace(path, aside / path.name)
    _fsync_dir(aside)
    return aside


def _write_key(path: Path, raw: bytes, *, replace: bool) -> None:
    """A key file written whole under a temporary name, then renamed (or linked, refusing an
    existing file), 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    with _private_file(partial) as out:
        out.write(raw)
        out.flush()
        os.fsync(out.fileno())
    try:
        if replace:
            os.replace(partial, path)
        else:
            os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _private_file(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the recovery sheet -----------------------------------------------------------------------
RECOVERY_PREFIX = "onshi-key-v1:"


def recovery_key_text(config: Config) -> str:
    """The store key as the recovery sheet prints it: hex in groups of four, 8 groups a line."""
    keys = store_keys(config, create=False)
    raw = (keys.encryption + keys.index).hex()
    groups = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    return "\n".join(" ".join(groups[i : i + 8]) for i in range(0, len(groups), 8))


def recovery_qr_payload(key_text: str) -> str:
    return RECOVERY_PREFIX + "".join(key_text.split())


def key_from_sheet(text: str) -> bytes:
    """The 64 key bytes typed or scanned from the sheet (spaces, newlines, the prefix allowed);
    ValueError when it is not a whole key."""
    cleaned = "".join(text.strip().removeprefix(RECOVERY_PREFIX).split())
    raw = bytes.fromhex(cleaned)
    if len(raw) != KEY_FILE_BYTES:
        raise ValueError(f"the key has {KEY_FILE_BYTES} bytes ({KEY_FILE_BYTES * 2} hex digits)")
    return raw


# -- the nightly job ------------------------------------------------------------------------
def nightly_backup(config: Config, store: Store, now: datetime) -> int:
    """The scheduler's run: 1 when a backup was written, 0 when none was due or none is
    configured (backup_dir empty). A failure raises (the scheduler logs it; the next run, a few
    minutes later, tries again); the passphrase file is read here and nowhere kept."""
    if str(config.backup_dir) in ("", "."):
        return 0
    if not backup_due(config, now):
        return 0
    passphrase = read_passphrase_file(config.backup_passphrase_file)
    written = write_backup(config, passphrase, now=now, snapshot=store.backup_snapshot)
    store.audit(
        "system",
        BACKUP_WRITTEN,
        "store",
        f"{written.path.name} {written.size} bytes; {len(written.pruned)} old removed",
    )
    return 1
