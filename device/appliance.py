"""Assembles the running appliance — parts, pages and listeners — and starts/stops them in order.

This is the composition root used by `onshi run` and `onshi demo` (device/cli.py parses the
command line and hands over here), and the only device module that imports web/. The parts
that need no web are built by device/parts.py. Nothing is a singleton: each part is
constructed here and passed to the parts that use it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from device.accounts import Accounts
from device.apitokens import ApiTokens
from device.appointments import Appointments
from device.bulkrun import BulkRuns
from device.checks import ManualChecks
from device.clinical import ClinicalRecords
from device.clocktrust import TERMINAL_TIME_FRESH_S, ClockTrust, terminal_time
from device.config import Config, load_config
from device.confirm import Confirmations
from device.deskalerts import DeskAlerts
from device.errors_log import RecentErrors
from device.events import EventBus, ReaderStatus
from device.export import FaceExport
from device.facewatch import FaceInbox, FaceWatcher
from device.flow import VisitFlow
from device.inputs import VisitInputs
from device.jobs import Jobs
from device.memory import tune_gc, tune_malloc, tune_switching, tune_threads
from device.offline import OfflineVisits
from device.outbox import Outbox
from device.parts import (
    card_trust,
    central_breaker,
    connect_central,
    load_settings,
    open_store,
    qualification_transport,
    reader_backend,
)
from device.peripherals import Peripherals, build_peripherals
from device.reachability import CentralProbe, CentralReachability
from device.sandbox import CardSandbox
from device.services import Services
from device.setup import FirstStart, shown
from device.statement import Statements
from device.status import ApplianceStatus
from device.tls import staff_certificate
from reader.backend import CardReaders, ReaderWatch
from reader.events import CardInserted, CardRemovedEvent, PcscDown, PcscUp, ReaderEvent
from sync.breaker import CircuitBreaker
from sync.central import CentralClient
from sync.clock import utc_now
from sync.folders import FolderTransport
from sync.transport import QualificationTransport
from web.app import create_kiosk_app, create_staff_app
from web.deskrows import DeskRows, desk_rows
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
    readers: CardReaders
    monitor: ReaderWatch
    central: CentralClient
    staff: WebServer
    kiosk: WebServer
    jobs: Jobs
    status: ApplianceStatus
    status_central: CentralClient
    status_readers: CardReaders  # its own PC/SC context: page requests come from any thread
    clock_trust: ClockTrust
    breaker: CircuitBreaker  # in front of `central`: every qualification call goes through it
    reachability: CentralReachability
    probe: CentralProbe
    export: FaceExport  # face files for the receipt computer (a thread while export_dir is set)
    transport: QualificationTransport  # `central`, or the terminal's folders (central_mode)
    face_watcher: FaceWatcher | None  # the terminal's face/ folder (central_mode = folders)
    # The status light and the ticket printer: follow the bus, never block a visit.
    peripherals: Peripherals = field(default_factory=Peripherals)
    desk_alerts: DeskAlerts | None = None  # alerts kept until acknowledged (a bus listener)
    desk_rows: DeskRows | None = None  # today's desk rows rendered ahead (a bus listener)

    def start(self) -> None:
        if self.desk_alerts is not None:  # first: it must hear the first visit's events
            self.desk_alerts.start()
        self.staff.start()
        self.kiosk.start()
        if self.desk_rows is not None:  # in its own thread: the start does not wait for it
            self.desk_rows.start()
        self.monitor.start()
        self.jobs.start()
        self.probe.start()
        self.export.start(self.services.bus)
        self.peripherals.start(self.services.bus)
        if self.face_watcher is not None:
            self.face_watcher.start()
        log.info("staff UI on %s/  kiosk on %s/", self.staff.base_url, self.kiosk.base_url)
        if self.services.first_start is not None:
            announce_setup_code(self.services.first_start.issue(), self.staff.base_url)

    def stop(self) -> None:
        self.probe.stop()
        self.peripherals.stop()
        self.export.stop()
        if self.face_watcher is not None:
            self.face_watcher.stop()
        self.jobs.stop()
        self.monitor.stop()
        self.services.flow.stop(5)
        if self.services.sandbox is not None:
            self.services.sandbox.close()
        self.staff.stop()
        self.kiosk.stop()
        if self.desk_rows is not None:
            self.desk_rows.stop()
        self.status.close()
        self.status_central.close()
        self.status_readers.close()
        self.central.close()
        if isinstance(self.transport, FolderTransport):
            self.transport.close()  # its file-event observer
        self.readers.close()
        if self.desk_alerts is not None:
            self.desk_alerts.stop()
        self.services.store.close()


def announce_setup_code(code: str | None, staff_url: str) -> None:
    """The first start's setup code, on the console only (stderr: the journal under systemd),
    never through the logger, so it reaches no log file or log shipper."""
    if code is None:
        return
    print(
        f"初期設定コード / first-start setup code: {shown(code)}  "
        f"— 職員画面 {staff_url}/setup で最初の管理者を作成 / create the first admin there "
        "(再起動まで有効・1回限り / one use, until the next restart)",
        file=sys.stderr,
        flush=True,
    )


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
    tune_malloc()  # before any web worker thread exists (device/memory.py)
    tune_threads()
    tune_switching()
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
    tune_gc()  # assembled: what lives for the whole run is left out of collections
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
    `errors` the ring of recent log records the CLI installed. Without a run loop to rebuild
    (tests, bench) `restart` is an event nobody waits for."""
    status_central = connect_central(config, timeout_s=STATUS_TIMEOUT_S, retries=0)
    bus = EventBus()
    central = connect_central(config)
    # One breaker in front of the central for the visits, the desk's checks, the clock check and
    # the probe: what one of them learns (down, back) the others and the pages know at once.
    reachability = CentralReachability(bus, clock)
    transport = qualification_transport(config, central)
    breaker = central_breaker(config, transport, reachability.on_change)
    # While the circuit is open the probe asks whether the central is back: over HTTPS its
    # health call; through the terminal's folders a request for the numbers of nobody (one
    # per open interval, only during an outage).
    folders = isinstance(transport, FolderTransport)
    probe = CentralProbe(
        breaker,
        transport.health if isinstance(transport, FolderTransport) else status_central.health,
    )
    # Rows, visits and dates of care are stamped with the time the central confirms; the
    # retention purge runs only while the clock is trusted (device/clocktrust.py). The
    # terminal's folders have no time call: the stamps of its answers tell the time, and a
    # harmless request asks it when no answer came for an hour.
    if isinstance(transport, FolderTransport):
        harmless = transport.harmless
        clock_trust = ClockTrust(
            tolerance_s=config.clock_tolerance_s,
            wall=clock,
            central_time=lambda: terminal_time(lambda: breaker.call(harmless)),
            observed_fresh_s=TERMINAL_TIME_FRESH_S,
            care_fresh_s=2 * TERMINAL_TIME_FRESH_S,
        )
    else:
        clock_trust = ClockTrust(
            tolerance_s=config.clock_tolerance_s,
            wall=clock,
            central_time=lambda: breaker.call(status_central.server_time),
        )
    # A named JPKI root file that cannot be used stops the start before anything is opened.
    trust = card_trust(config, clock_trust.now)
    store = open_store(config, clock_trust.now)
    inputs = VisitInputs()
    peripherals = build_peripherals(
        config.signal_light_url,
        config.ticket_printer_url,
        notice=config.ticket_notice,
        clock=clock_trust.now,
    )
    backend = reader_backend(config)
    readers = backend.open_readers()
    status_readers = backend.open_readers()
    status = ApplianceStatus(
        config=config,
        store=store,
        central=status_central,
        bus=bus,
        list_readers=status_readers.list_readers,
        errors=errors if errors is not None else RecentErrors(),
        clock=clock,
        clock_trust=clock_trust,
        reachability=reachability,
        peripherals=peripherals.states,
    )
    export = FaceExport(
        store,
        config.export_dir if str(config.export_dir) not in ("", ".") else None,
        config.medical_institution_code,
        retry_s=config.export_retry_s,
        clock=clock_trust.now,
    )
    confirmations = Confirmations(
        transport=breaker,
        store=store,
        bus=bus,
        export=export,
        on_answer=clock_trust.observe_answer,
    )
    outbox = Outbox(
        store=store,
        confirmations=confirmations,
        rate_per_s=config.outbox_rate_per_s,
        backoff_base_s=config.outbox_backoff_base_s,
        backoff_max_s=config.outbox_backoff_max_s,
        give_up_after_h=config.outbox_give_up_h,
        # a round never runs past the next one
        round_limit=max(1, int(config.outbox_rate_per_s * config.outbox_drain_every_s)),
        clock=clock_trust.now,
    )
    checks = ManualChecks(
        medical_institution_code=config.medical_institution_code,
        confirmations=confirmations,
        store=store,
        clock=clock_trust.care_now,
        outbox=outbox,
    )
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
        card_left_alert_s=config.card_left_alert_s,
        clock=clock_trust.now,
        on_refused=forbidden_apdu_logger,
        # While the central is unreachable a card visit is proven on the box and kept offline.
        offline=OfflineVisits(
            card_trust=trust,
            confirmations=confirmations,
            store=store,
            checks=checks,
            central_down=lambda: reachability.current().down,
            # The terminal's folders have no card-signature path: prove here, ask by numbers.
            by_numbers=folders,
        ),
    )
    # Card visits made on the official terminal's reader arrive as its face/ files.
    face_watcher = (
        FaceWatcher(
            FaceInbox(
                folder=config.terminal_root / "face",
                store=store,
                confirmations=confirmations,
                medical_institution_code=config.medical_institution_code,
            ),
            rescan_s=config.terminal_rescan_s,
        )
        if folders
        else None
    )
    sandbox = CardSandbox(config.demo_data) if config.demo else None
    accounts = Accounts(store, clock=clock)
    services = Services(
        config=config,
        store=store,
        bus=bus,
        flow=flow,
        sandbox=sandbox,
        accounts=accounts,
        first_start=FirstStart(accounts, store),
        clinical=ClinicalRecords(  # drug / checkup history the way the answers come
            store,
            transport if isinstance(transport, FolderTransport) else central,
            config.medical_institution_code,
            clock,
            breaker=breaker,
        ),
        checks=checks,
        statements=Statements(store, clock_trust.care_now),
        status=status,
        outbox=outbox,
        restart=restart if restart is not None else threading.Event(),
        reachability=reachability,
        api_tokens=ApiTokens(store, clock),
        appointments=Appointments(store, bus, clock_trust.now),
        peripherals=peripherals,
        # The night-before bulk pre-check of appointments, through the same confirmations.
        bulk=BulkRuns(
            store=store,
            confirmations=confirmations,
            bus=bus,
            medical_institution_code=config.medical_institution_code,
            clock=clock_trust.now,
            batch_size=config.bulk_batch_size,
            poll_max_s=config.bulk_poll_max_s,
            bulk_at=config.bulk_at,
            aid_day=config.aid_day,
            keep_days=config.retention_days,
            # the last reading of the retention job's (no call to the central here)
            clock_trusted=lambda: (r := clock_trust.last_reading()) is not None and r.trusted,
        ),
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

    monitor = backend.watch(on_reader_event, config.reader)
    certificate, private_key = staff_certificate(config)
    staff_app = create_staff_app(config, services)
    staff = WebServer(
        staff_app,
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
        breaker,
        reachability,
        probe,
        export,
        transport,
        face_watcher,
        peripherals,
        desk_alerts=DeskAlerts(store, bus),
        desk_rows=desk_rows(staff_app),
    )
