"""The parts of the appliance that need no web: settings, the store and its key, the central
transport and its circuit breaker, the reader backend.

`onshi run` assembles them with the pages in device/appliance.py; the commands that serve no
pages (card info/check, admin create-user, audit verify) build only what they need from here,
so they never load Flask.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from device.cardtrust import CardTrust, load_roots, root_file_given
from device.config import Config, load_config
from device.sdnotify import still_starting
from device.storekey import credential_keys, credential_path, credential_wrong_message
from reader.backend import ReaderBackend, load_backend
from sync.breaker import BreakerChange, CircuitBreaker
from sync.central import CentralClient, tls_context
from sync.clock import utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys, KeyFileError, KeyMismatchError
from sync.folders import FolderTransport
from sync.store import Store, holds_data
from sync.transport import QualificationTransport

log = logging.getLogger(__name__)


def open_store(config: Config, clock: Callable[[], datetime] = utc_now) -> Store:
    """The store with its key. A key is made only for a new, empty database; a database that
    holds data opens only with its own key (KeyFileError / KeyMismatchError, exit 78)."""
    keys = store_keys(config, create=True)
    try:
        return Store(
            config.database_path,
            FieldCipher(keys),
            clock=clock,
            reserve_bytes=config.disk_reserve_mb * 1024 * 1024,
            migrating=still_starting,  # a large store's migration may outlast the start timeout
        )
    except KeyMismatchError as exc:
        raise KeyMismatchError(wrong_key_message(config)) from exc


def store_keys(config: Config, *, create: bool) -> FieldKeys:
    """The systemd credential's keys when there is one (device/storekey.py), else the key
    file's; a new key file only when `create`, the database is new/empty and no credential."""
    from_credential = credential_keys(config)
    if from_credential is not None:
        return from_credential
    key_path = config.store_key_path
    if key_path.exists() or not create or holds_data(config.database_path):
        try:
            return FieldKeys.load(key_path)
        except KeyFileError as exc:
            if key_path.exists():
                raise
            raise KeyFileError(missing_key_message(config)) from exc
    log.info("new database: creating its key file %s", key_path)
    return FieldKeys.create(key_path)


def missing_key_message(config: Config) -> str:
    key, db = config.store_key_path, config.database_path
    return (
        f"鍵ファイル {key} がありません。データベース {db} には記録があるため、新しい鍵は作りません"
        "（作ると保存済みの記録がすべて読めなくなります）。バックアップから鍵ファイルを戻すか、"
        "設定 key_file / data_dir を確認してください。\n"
        f"The key file {key} is missing, and the database {db} holds data: no new key is made "
        "(it could not read anything stored). Restore the key file from the backup, or correct "
        "the key_file / data_dir setting."
    )


def wrong_key_message(config: Config) -> str:
    if credential_path() is not None:
        return credential_wrong_message(config)
    key, db = config.store_key_path, config.database_path
    return (
        f"鍵ファイル {key} はデータベース {db} の鍵ではありません（鍵の確認値が一致しません）。"
        "このデータベースの鍵ファイルをバックアップから戻すか、設定 key_file を確認してください。"
        "起動を中止しました。\n"
        f"The key file {key} is not the key of the database {db} (its key check does not "
        "match). Restore this database's key file from the backup, or correct the key_file "
        "setting. The appliance did not start."
    )


def connect_central(
    config: Config, *, timeout_s: float | None = None, retries: int | None = None
) -> CentralClient:
    """The central client with this appliance's certificate and the pinned central CA."""
    timeout = config.central_timeout_s if timeout_s is None else timeout_s
    return CentralClient(
        config.central_url,
        verify=tls_context(config.central_ca, config.device_cert, config.device_key),
        timeout_s=timeout,
        # A shorter leash (the status page's) is the whole call's, not only each read's.
        deadline_s=config.central_deadline_s if timeout_s is None else timeout,
        retries=config.central_retries if retries is None else retries,
        connect_timeout_s=min(config.central_connect_timeout_s, timeout),
    )


def qualification_transport(config: Config, central: CentralClient) -> QualificationTransport:
    """What carries qualification requests, by `central_mode`: the HTTPS client itself (api), or
    the official terminal's shared folders under `terminal_root` (folders)."""
    if config.central_mode == "folders":
        return FolderTransport(
            config.terminal_root,
            timeout_s=config.terminal_timeout_s,
            rescan_s=config.terminal_rescan_s,
            medical_institution_code=config.medical_institution_code,
        )
    return central


def central_breaker(
    config: Config,
    transport: QualificationTransport,
    listener: Callable[[BreakerChange], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CircuitBreaker:
    """The one circuit breaker in front of the central: every caller that asks the central
    shares it, so what one learns (the central is down, it is back) the others know at once."""
    return CircuitBreaker(
        transport,
        failures=config.central_breaker_failures,
        open_s=config.central_breaker_open_s,
        clock=clock,
        listener=listener,
    )


def card_trust(config: Config, clock: Callable[[], datetime]) -> CardTrust:
    """The check of card certificates against the JPKI root(s) of `jpki_root_file`, at `clock`
    (the appliance's trusted clock). An empty setting gives a CardTrust with no root (every
    check says NO_ROOT; the status page says what to set); a named file that cannot be used
    stops the start (JpkiRootError, a ConfigError: exit 78)."""
    path = config.jpki_root_file
    roots = load_roots(path) if root_file_given(path) else []
    return CardTrust(roots, clock)


def reader_backend(config: Config) -> ReaderBackend:
    """The kind of card reader the `reader_backend` setting names."""
    return load_backend(config.reader_backend)


def load_settings(
    path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """The configuration including the values saved on the admin page.

    The database is found from the file/environment layers alone (data_dir and key_file are not
    editable), then everything is loaded again with the stored values in their place.
    """
    environ = os.environ if environ is None else environ
    first = load_config(path, environ, overrides)
    store = open_store(first)
    try:
        stored = store.stored_settings()
    finally:
        store.close()
    return load_config(path, environ, overrides, stored=stored)
