"""Builds every part of the appliance once and starts/stops them in order.

This is the composition root used by `onshi run` and `onshi demo` (device/cli.py parses the
command line and hands over here). Nothing is a singleton: each part is constructed here and
passed to the parts that use it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from device.accounts import Accounts
from device.checks import ManualChecks
from device.clinical import ClinicalRecords
from device.clocktrust import ClockTrust
from device.config import Config, load_config
from device.confirm import Confirmations
from device.errors_log import RecentErrors
from device.events import EventBus, ReaderStatus
from device.flow import VisitFlow
from device.inputs import VisitInputs
from device.jobs import Jobs
from device.sandbox import CardSandbox
from device.services import Services
from device.status import ApplianceStatus
from device.tls import staff_certificate
from reader.events import CardInserted, CardRemovedEvent, PcscDown, PcscUp, ReaderEvent
from reader.pcsc import PcscReaders, ReaderMonitor
from sync.central import CentralClient, tls_context
from sync.clock import utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys, KeyFileError, KeyMismatchError
from sync.store import Store, holds_data
from web.app import create_kiosk_app, create_staff_app
from web.server import WebServer

log = logging.getLogger(__name__)

# The status page probes the central on its own short leash: a page must not hang for the
# full request timeout and retries of the visit flow's client while the central is down.
STATUS_TIMEOUT_S = 3.0


def forbidden_apdu_logger(apdu: bytes) -> None:
    # Only the command header: a refused APDU may carry an AID but never a PIN.
    log.error("guard refused a card command: %s", apdu[:4].hex(" ").upper())


@dataclass
class Appliance:
    services: Services
    readers: PcscReaders
    monitor: ReaderMonitor
    central: CentralClient
    staff: WebServer
    kiosk: WebServer
    jobs: Jobs
    status: ApplianceStatus
    status_central: CentralClient
    status_readers: PcscReaders  # its own PC/SC context: page requests come from any thread
    clock_trust: ClockTrust

    def start(self) -> None:
        self.staff.start()
        self.kiosk.start()
        self.monitor.start()
        self.jobs.start()
        log.info("staff UI on %s/  kiosk on %s/", self.staff.base_url, self.kiosk.base_url)

    def stop(self) -> None:
        self.jobs.stop()
        self.monitor.stop()
        self.services.flow.stop(5)
        if self.services.sandbox is not None:
            self.services.sandbox.close()
        self.staff.stop()
        self.kiosk.stop()
        self.status.close()
        self.status_central.close()
        self.status_readers.close()
        self.central.close()
        self.readers.close()
        self.services.store.close()


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
        )
    except KeyMismatchError as exc:
        raise KeyMismatchError(wrong_key_message(config)) from exc


def store_keys(config: Config, *, create: bool) -> FieldKeys:
    """The key file's keys; a new key file only when `create` and the database is new/empty."""
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
    )


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


def start_appliance(
    config_path: Path | None,
    *,
    overrides: Mapping[str, Any] | None = None,
    restart: threading.Event | None = None,
    errors: RecentErrors | None = None,
) -> Appliance:
    """Build and start from the saved settings. If that fails, start from the file and the
    environment alone and say so: a value saved on the admin page (a missing certificate, a port
    in use) must never keep the appliance down, or the page to correct it with."""
    config = load_settings(config_path, overrides=overrides)
    try:
        return _started(build_appliance(config, restart=restart, errors=errors))
    except Exception:
        plain = load_config(config_path, overrides=overrides)
        if plain == config:
            raise  # the saved settings are not the cause
        log.exception(
            "could not start with the settings saved on the admin page; starting without them"
        )
        return _started(build_appliance(plain, restart=restart, errors=errors))


def _started(appliance: Appliance) -> Appliance:
    try:
        appliance.start()
    except BaseException:
        appliance.stop()  # nothing half-started keeps a port
        raise
    return appliance


def build_appliance(
    config: Config,
    clock: Callable[[], datetime] = utc_now,
    *,
    restart: threading.Event | None = None,
    errors: RecentErrors | None = None,
) -> Appliance:
    """Every part, built once. `clock` is the one time source of the whole appliance (tests
    move it forward to expire consent and sessions without sleeping). `restart` is the event
    the admin page sets to have the run loop rebuild everything from the saved settings;
    `errors` the ring of recent log records the CLI installed."""
    status_central = connect_central(config, timeout_s=STATUS_TIMEOUT_S, retries=0)
    # Rows, visits and dates of care are stamped with the time the central confirms; the
    # retention purge runs only while the clock is trusted (device/clocktrust.py).
    clock_trust = ClockTrust(
        tolerance_s=config.clock_tolerance_s, wall=clock, central_time=status_central.server_time
    )
    store = open_store(config, clock_trust.now)
    central = connect_central(config)
    bus = EventBus()
    inputs = VisitInputs()
    readers = PcscReaders()
    status_readers = PcscReaders()
    status = ApplianceStatus(
        config=config,
        store=store,
        central=status_central,
        bus=bus,
        list_readers=status_readers.list_readers,
        errors=errors if errors is not None else RecentErrors(),
        clock=clock,
        clock_trust=clock_trust,
    )
    confirmations = Confirmations(transport=central, store=store, bus=bus)
    flow = VisitFlow(
        medical_institution_code=config.medical_institution_code,
        connect=readers.connect,
        confirmations=confirmations,
        store=store,
        bus=bus,
        inputs=inputs,
        pin_timeout_s=config.pin_timeout_s,
        consent_kinds=config.consent_kind_list,
        consent_timeout_s=config.consent_timeout_s,
        staff_timeout_s=config.staff_timeout_s,
        clock=clock_trust.now,
        on_refused=forbidden_apdu_logger,
    )
    sandbox = CardSandbox(config.demo_data) if config.demo else None
    services = Services(
        config,
        store,
        bus,
        flow,
        inputs,
        sandbox,
        accounts=Accounts(store, clock=clock),
        clinical=ClinicalRecords(store, central, config.medical_institution_code, clock),
        checks=ManualChecks(
            medical_institution_code=config.medical_institution_code,
            confirmations=confirmations,
            store=store,
            clock=clock_trust.care_now,
        ),
        status=status,
        restart=restart,
    )

    def on_reader_event(event: ReaderEvent) -> None:
        if isinstance(event, CardInserted):
            bus.publish(ReaderStatus(event.reader, True, True))
        elif isinstance(event, CardRemovedEvent):
            bus.publish(ReaderStatus(event.reader, True, False))
        elif isinstance(event, PcscDown):
            bus.publish(ReaderStatus("", False, False))
        elif isinstance(event, PcscUp):
            for name in event.readers:
                bus.publish(ReaderStatus(name, True, False))
        flow.handle(event)

    monitor = ReaderMonitor(on_reader_event, reader_filter=config.reader)
    certificate, private_key = staff_certificate(config)
    staff = WebServer(
        create_staff_app(config, services),
        config.staff_host,
        config.staff_port,
        config.web_threads,
        certificate=certificate,
        private_key=private_key,
        timeout_s=config.web_timeout_s,
        max_streams=config.event_streams_max,
    )
    kiosk = WebServer(
        create_kiosk_app(config, services),
        "127.0.0.1",
        config.kiosk_port,
        config.web_threads,
        timeout_s=config.web_timeout_s,
        max_streams=config.event_streams_max,
    )
    return Appliance(
        services,
        readers,
        monitor,
        central,
        staff,
        kiosk,
        Jobs(services, clock_trust),
        status,
        status_central,
        status_readers,
        clock_trust,
    )
