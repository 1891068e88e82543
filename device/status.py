"""The appliance at a glance for the admin: readers, pcscd, central, clock, certificate, database,
recent errors. Each item is green, amber or red, with what was found as facts (a Fact and its
numbers); the admin page words them (web/status_rows.py).

`ok` is True (green: fine), None (amber: needs a look soon, or cannot be known) or False (red:
something does not work). The card presence of each reader comes from the ReaderStatus events
on the bus (the monitor publishes them), so the page never touches a card itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509

from device.cardtrust import JpkiRootError, load_roots, root_file_given
from device.clocktrust import ClockReading, ClockTrust
from device.config import Config
from device.errors_log import RecentErrors
from device.events import EventBus, ReaderStatus
from device.reachability import CentralReachability
from device.retention import RETENTION_HELD, RETENTION_REFUSED, last_retention_run
from device.signal import PeripheralKind, PeripheralState
from reader.errors import ReaderError
from sync.breaker import BreakerState
from sync.central import CentralClient, CentralError
from sync.clock import utc_now
from sync.store import Store

log = logging.getLogger(__name__)

CLOCK_WARN_S = 2.0  # more than the round-trip uncertainty: worth a look
CLOCK_BAD_S = 30.0  # cached answers' freshness and audit times are no longer trustworthy
CENTRAL_SLOW_MS = 2000.0
CERT_WARN_DAYS = 30
JPKI_ROOT_WARN_DAYS = 90  # a new root is published long before: time to put it in the file
DISK_WARN_FREE_BYTES = 500 * 1024 * 1024
DISK_FULL_FREE_BYTES = 1024 * 1024  # red even without a reserve: the next write may fail
ERRORS_SHOWN = 10
RECENT_ERROR_WINDOW = timedelta(hours=1)  # red while an ERROR is this fresh
WARNING_WINDOW = timedelta(hours=24)  # amber while anything is this fresh
TIMEDATECTL = ("timedatectl", "show", "-p", "NTPSynchronized", "--value")


class StatusKind(StrEnum):
    """What an item is about, in the order the page lists them."""

    READERS = "readers"
    PCSCD = "pcscd"
    CENTRAL = "central"
    CIRCUIT = "circuit"  # the circuit breaker in front of the central: is the outage known
    CLOCK = "clock"
    CERTIFICATE = "certificate"
    JPKI_ROOT = "jpki_root"  # the root(s) card certificates are checked against on the box
    EXPORT = "export"  # face files for the receipt computer
    DATABASE = "database"
    ERRORS = "errors"
    RETENTION = "retention"
    PERIPHERALS = "peripherals"  # the status light and the ticket printer (device/signal.py)


class Fact(StrEnum):
    """One thing an item found; Finding.values holds its numbers and names (keys in comments)."""

    TEXT = "text"  # text: said by something else (an error, a log line, an audit detail), as is
    UNKNOWN = "unknown"
    ERROR = "error"
    RUNNING = "running"
    NOT_RUNNING = "not_running"
    UNREACHABLE = "unreachable"
    READERS_CONNECTED = "readers_connected"  # count
    READERS_NONE = "readers_none"
    READER_CARD = "reader_card"  # reader, present (True, False, or None: unknown)
    READER_MISSING = "reader_missing"  # reader: the configured name matches none
    CENTRAL_REACHABLE = "central_reachable"  # ms: the round trip
    TERMINAL_FOLDERS = "terminal_folders"  # root: the terminal's folders are there, writable
    TERMINAL_FOLDER_MISSING = "terminal_folder_missing"  # folder: not there, or not writable
    CIRCUIT_CLOSED = "circuit_closed"
    CIRCUIT_OPEN = "circuit_open"  # at: down since
    CIRCUIT_PROBING = "circuit_probing"  # one call is probing whether the central is back
    CIRCUIT_WHAT_TO_DO = "circuit_what_to_do"
    NTP = "ntp"  # synchronised (True, False, or None: cannot tell)
    CLOCK_OFFSET = "clock_offset"  # seconds: this box minus the central (positive: ahead)
    CLOCK_OFFSET_UNKNOWN = "clock_offset_unknown"
    CLOCK_JUMP = "clock_jump"  # seconds, at
    RETENTION_WAITS = "retention_waits"  # retention purges wait until the clock is trusted
    RETENTION_NONE = "retention_none"
    RETENTION_RAN = "retention_ran"  # at
    RETENTION_HELD = "retention_held"  # at
    RETENTION_HELD_WHY = "retention_held_why"
    RETENTION_REFUSED = "retention_refused"  # at
    RETENTION_REFUSED_WHY = "retention_refused_why"
    CERT_UNREADABLE = "cert_unreadable"
    CERT_EXPIRED = "cert_expired"
    CERT_DAYS_LEFT = "cert_days_left"  # days
    CERT_EXPIRES = "cert_expires"  # at
    JPKI_ROOT_NONE = "jpki_root_none"  # jpki_root_file is empty
    JPKI_ROOT_WHAT_TO_DO = "jpki_root_what_to_do"
    EXPORT_OFF = "export_off"  # export_dir is empty: no files are written
    EXPORT_WRITTEN = "export_written"  # count: files written, none waiting
    EXPORT_PENDING = "export_pending"  # count: files waiting to be written
    EXPORT_FOLDER_MISSING = "export_folder_missing"  # folder: cannot be written to
    EXPORT_WHAT_TO_DO = "export_what_to_do"
    DATABASE_SIZE = "database_size"  # size (bytes, database and WAL)
    DATABASE_LABELLED_SIZE = "database_labelled_size"  # size, with the word "database"
    DISK_FREE = "disk_free"  # free (bytes)
    DISK_NEARLY_FULL = "disk_nearly_full"  # free
    DISK_FULL = "disk_full"  # free
    DISK_RESERVE_IN_USE = "disk_reserve_in_use"  # reserve (bytes)
    LOG_RECORDS = "log_records"  # count
    LOG_RECORD = "log_record"  # at, level, logger, message: one recent warning or error
    LOG_NONE = "log_none"
    PERIPHERALS_NONE = "peripherals_none"  # neither signal_light_url nor ticket_printer_url
    PERIPHERALS_CONNECTED = "peripherals_connected"  # count
    PERIPHERALS_UNPLUGGED = "peripherals_unplugged"  # count
    PERIPHERALS_WHAT_TO_DO = "peripherals_what_to_do"
    LIGHT_CONNECTED = "light_connected"  # url, shown: the state the light shows
    LIGHT_UNPLUGGED = "light_unplugged"  # url, at: since
    PRINTER_CONNECTED = "printer_connected"  # url
    PRINTER_UNPLUGGED = "printer_unplugged"  # url, at: since


@dataclass(frozen=True)
class Finding:
    fact: Fact
    values: dict[str, Any] = field(default_factory=dict)


def _text(text: str) -> Finding:
    return Finding(Fact.TEXT, {"text": text})


@dataclass(frozen=True)
class StatusItem:
    kind: StatusKind
    ok: bool | None  # True green, None amber, False red
    value: Finding  # the one line beside the colour
    detail: tuple[Finding, ...] = ()  # the lines under it

    @property
    def key(self) -> str:
        return self.kind.value


def ntp_synchronized() -> bool | None:
    """systemd's view of NTP; None when it cannot tell (no systemd, a container, a timeout)."""
    try:
        done = subprocess.run(TIMEDATECTL, capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    answer = done.stdout.strip()
    if done.returncode != 0 or answer not in ("yes", "no"):
        return None
    return answer == "yes"


class ApplianceStatus:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        central: CentralClient,
        bus: EventBus,
        list_readers: Callable[[], list[str]],
        errors: RecentErrors,
        clock: Callable[[], datetime] = utc_now,
        ntp_synchronized: Callable[[], bool | None] = ntp_synchronized,
        clock_trust: ClockTrust | None = None,
        reachability: CentralReachability | None = None,
        peripherals: Callable[[], list[PeripheralState]] = list,
    ) -> None:
        self._config = config
        self._peripherals = peripherals
        self._store = store
        self._central = central
        self._list_readers = list_readers
        self._errors = errors
        self._clock = clock
        self._reachability = reachability
        # The appliance passes the one ClockTrust its jobs use (jumps seen there show here).
        self._trust = clock_trust or ClockTrust(
            tolerance_s=CLOCK_BAD_S,
            wall=clock,
            synchronised=ntp_synchronized,
            central_time=lambda: central.server_time(),
        )
        self._readers: dict[str, bool] = {}  # reader → card present, as last published
        self._lock = threading.Lock()
        # A thread of its own drains the bus: a queue left for the page to drain would fill up
        # on a day nobody looks and then drop the very reader events this page shows.
        self._subscription = bus.subscribe()
        self._closed = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="status-bus", daemon=True)
        self._listener.start()

    def close(self) -> None:
        """Stop listening; the listener thread ends at its next wake-up (≤ 0.5 s), unwaited."""
        self._closed.set()
        self._subscription.close()

    def _listen(self) -> None:
        while not self._closed.is_set():
            event = self._subscription.get(0.5)
            if isinstance(event, ReaderStatus):
                self.note_reader(event)

    def note_reader(self, event: ReaderStatus) -> None:
        with self._lock:
            if not event.available and not event.reader:  # pcscd went away: nothing is known
                self._readers.clear()
            elif event.available:
                self._readers[event.reader] = event.card_present
            else:
                self._readers.pop(event.reader, None)

    def collect(self) -> list[StatusItem]:
        readers, pcsc = self._pcsc_items()
        central, clock = self._central_items()
        return [
            readers,
            pcsc,
            central,
            *self._circuit_item(),
            clock,
            self._certificate_item(),
            self._jpki_root_item(),
            self._export_item(),
            self._database_item(),
            self._errors_item(),
            self._retention_item(),
            self._peripherals_item(),
        ]

    # -- items ------------------------------------------------------------------------
    def _pcsc_items(self) -> tuple[StatusItem, StatusItem]:
        try:
            names = self._list_readers()
        except ReaderError as exc:
            message = (_text(str(exc)[:200]),)
            return (
                StatusItem(StatusKind.READERS, False, Finding(Fact.UNKNOWN), message),
                StatusItem(StatusKind.PCSCD, False, Finding(Fact.NOT_RUNNING), message),
            )
        pcsc = StatusItem(StatusKind.PCSCD, True, Finding(Fact.RUNNING))
        with self._lock:
            cards = dict(self._readers)
        wanted = self._config.reader
        lines = tuple(
            Finding(Fact.READER_CARD, {"reader": name, "present": cards.get(name)})
            for name in names
        )
        if not names:
            return StatusItem(StatusKind.READERS, False, Finding(Fact.READERS_NONE)), pcsc
        value = Finding(Fact.READERS_CONNECTED, {"count": len(names)})
        if wanted and not any(wanted in name for name in names):
            missing = Finding(Fact.READER_MISSING, {"reader": wanted})
            return StatusItem(StatusKind.READERS, False, value, (missing, *lines)), pcsc
        return StatusItem(StatusKind.READERS, True, value, lines), pcsc

    def _central_items(self) -> tuple[StatusItem, StatusItem]:
        if self._config.central_mode == "folders":
            return self._terminal_item(), self._clock_item(self._trust.measure(ask_central=False))
        try:
            round_trip_ms = self._central.health() * 1000
        except CentralError as exc:
            return (
                StatusItem(
                    StatusKind.CENTRAL,
                    False,
                    Finding(Fact.UNREACHABLE),
                    (_text(str(exc)[:300]),),
                ),
                self._clock_item(self._trust.measure(ask_central=False)),
            )
        central = StatusItem(
            StatusKind.CENTRAL,
            True if round_trip_ms <= CENTRAL_SLOW_MS else None,
            Finding(Fact.CENTRAL_REACHABLE, {"ms": round_trip_ms}),
        )
        return central, self._clock_item(self._trust.measure())

    def _terminal_item(self) -> StatusItem:
        """The official terminal's folders (central_mode = folders): there and writable. Whether
        the terminal answers shows in the circuit item: asking it costs a query to the
        national system, so a page view never does."""
        root = self._config.terminal_root
        missing = [
            str(root / sub)
            for sub in ("req", "res", "face")
            if not ((root / sub).is_dir() and os.access(root / sub, os.W_OK))
        ]
        if missing:
            lines = tuple(Finding(Fact.TERMINAL_FOLDER_MISSING, {"folder": f}) for f in missing)
            return StatusItem(StatusKind.CENTRAL, False, Finding(Fact.UNREACHABLE), lines)
        return StatusItem(
            StatusKind.CENTRAL, True, Finding(Fact.TERMINAL_FOLDERS, {"root": str(root)})
        )

    def _circuit_item(self) -> tuple[StatusItem, ...]:
        """What the circuit breaker knows (none without one: tests building a bare status)."""
        if self._reachability is None:
            return ()
        now = self._reachability.current()
        if now.down_since is None:
            return (StatusItem(StatusKind.CIRCUIT, True, Finding(Fact.CIRCUIT_CLOSED)),)
        lines = [Finding(Fact.CIRCUIT_WHAT_TO_DO)]
        if now.state is BreakerState.HALF_OPEN:
            lines.append(Finding(Fact.CIRCUIT_PROBING))
        if now.cause:
            lines.append(_text(now.cause))
        value = Finding(Fact.CIRCUIT_OPEN, {"at": now.down_since})
        return (StatusItem(StatusKind.CIRCUIT, False, value, tuple(lines)),)

    def _clock_item(self, reading: ClockReading) -> StatusItem:
        offset_s = reading.offset_s  # this box minus the central: positive = this box is ahead
        if offset_s is None:
            ok: bool | None = None
            value = Finding(Fact.CLOCK_OFFSET_UNKNOWN)
        else:
            size = abs(offset_s)
            ok = True if size <= CLOCK_WARN_S else None if size <= reading.tolerance_s else False
            value = Finding(Fact.CLOCK_OFFSET, {"seconds": offset_s})
        if ok is True and reading.synchronised is not True:
            ok = None
        jumps = self._trust.recent_jumps()
        if jumps and ok is True:
            ok = None
        if reading.unconfirmed_jump is not None:
            ok = False
        lines = [Finding(Fact.NTP, {"synchronised": reading.synchronised})]
        if reading.central_problem:
            lines.append(_text(reading.central_problem))
        lines += [Finding(Fact.CLOCK_JUMP, {"seconds": j.seconds, "at": j.at}) for j in jumps]
        if not reading.trusted:
            lines += [_text(reason) for reason in reading.reasons]
            lines.append(Finding(Fact.RETENTION_WAITS))
        return StatusItem(StatusKind.CLOCK, ok, value, tuple(lines))

    def _retention_item(self) -> StatusItem:
        """The newest retention run: purged (or nothing to do), held by the clock, or refused."""
        last = last_retention_run(self._store)
        kind = StatusKind.RETENTION
        if last is None:
            return StatusItem(kind, True, Finding(Fact.RETENTION_NONE))
        when = {"at": last.at}  # as the audit wrote it (ISO 8601)
        detail = (_text(last.detail),)
        if last.action == RETENTION_REFUSED:
            why = Finding(Fact.RETENTION_REFUSED_WHY)
            return StatusItem(kind, False, Finding(Fact.RETENTION_REFUSED, when), (why, *detail))
        if last.action == RETENTION_HELD:
            why = Finding(Fact.RETENTION_HELD_WHY)
            return StatusItem(kind, None, Finding(Fact.RETENTION_HELD, when), (why, *detail))
        return StatusItem(kind, True, Finding(Fact.RETENTION_RAN, when), detail)

    def _certificate_item(self) -> StatusItem:
        path = self._config.device_cert
        try:
            cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            return StatusItem(
                StatusKind.CERTIFICATE,
                False,
                Finding(Fact.CERT_UNREADABLE),
                (_text(f"{path}: {type(exc).__name__}"),),
            )
        expires = cert.not_valid_after_utc
        days = (expires - self._clock()).total_seconds() / 86400
        ok: bool | None = False if days < 0 else None if days < CERT_WARN_DAYS else True
        value = (
            Finding(Fact.CERT_EXPIRED)
            if days < 0
            else Finding(Fact.CERT_DAYS_LEFT, {"days": int(days)})
        )
        detail = (
            _text(cert.subject.rfc4514_string()),
            Finding(Fact.CERT_EXPIRES, {"at": expires}),
        )
        return StatusItem(StatusKind.CERTIFICATE, ok, value, detail)

    def _export_item(self) -> StatusItem:
        """Face files for the receipt computer: green when off or all written, amber while
        some wait, red when the folder cannot be written to or refused the oldest waiting."""
        kind = StatusKind.EXPORT
        folder = self._config.export_dir
        if not str(folder) or folder == Path(""):
            return StatusItem(kind, True, Finding(Fact.EXPORT_OFF))
        counts = self._store.export_counts()
        detail: list[Finding] = []
        writable = folder.is_dir() and os.access(folder, os.W_OK)
        if not writable:
            detail.append(Finding(Fact.EXPORT_FOLDER_MISSING, {"folder": str(folder)}))
        if counts.last_error:
            detail.append(_text(counts.last_error))
        if not writable or counts.last_error:
            detail.append(Finding(Fact.EXPORT_WHAT_TO_DO))
            return StatusItem(
                kind, False, Finding(Fact.EXPORT_PENDING, {"count": counts.pending}), tuple(detail)
            )
        if counts.pending:
            return StatusItem(kind, None, Finding(Fact.EXPORT_PENDING, {"count": counts.pending}))
        return StatusItem(kind, True, Finding(Fact.EXPORT_WRITTEN, {"count": counts.written}))

    def _jpki_root_item(self) -> StatusItem:
        """The JPKI root(s) card certificates are checked against while the central is down:
        amber when none is configured, red when the file cannot be used or every root has
        expired, amber within JPKI_ROOT_WARN_DAYS of the last one's expiry. The file is read
        again each time, so a file changed since the start shows here before the restart."""
        kind = StatusKind.JPKI_ROOT
        path = self._config.jpki_root_file
        if not root_file_given(path):
            what_to_do = (Finding(Fact.JPKI_ROOT_WHAT_TO_DO),)
            return StatusItem(kind, None, Finding(Fact.JPKI_ROOT_NONE), what_to_do)
        try:
            roots = load_roots(path)
        except JpkiRootError as exc:
            return StatusItem(kind, False, Finding(Fact.CERT_UNREADABLE), (_text(str(exc)),))
        roots.sort(key=lambda r: r.not_valid_after_utc)
        days = (roots[-1].not_valid_after_utc - self._clock()).total_seconds() / 86400
        ok: bool | None = False if days < 0 else None if days < JPKI_ROOT_WARN_DAYS else True
        value = (
            Finding(Fact.CERT_EXPIRED)
            if days < 0
            else Finding(Fact.CERT_DAYS_LEFT, {"days": int(days)})
        )
        detail: list[Finding] = []
        for root in roots:
            detail.append(_text(root.subject.rfc4514_string()))
            detail.append(Finding(Fact.CERT_EXPIRES, {"at": root.not_valid_after_utc}))
        return StatusItem(kind, ok, value, tuple(detail))

    def _database_item(self) -> StatusItem:
        path = self._config.database_path
        try:
            self._store.schema_version  # noqa: B018 - the query is the check
            size = _size(path) + _size(Path(f"{path}-wal"))
            free = shutil.disk_usage(path.parent).free
        except Exception as exc:  # noqa: BLE001 - any failure here is the thing to report
            return StatusItem(
                StatusKind.DATABASE, False, Finding(Fact.ERROR), (_text(type(exc).__name__),)
            )
        ok: bool | None = True if free >= DISK_WARN_FREE_BYTES else None
        value = Finding(Fact.DATABASE_SIZE, {"size": size})
        detail: tuple[Finding, ...] = (Finding(Fact.DISK_FREE, {"free": free}),)
        disk = self._store.disk_state()
        if disk is not None and disk.reserve_bytes > 0 and not disk.reserve_held:
            # The reserve is in use (or could not be made): the next answers may not fit.
            ok = False
            value = Finding(Fact.DISK_NEARLY_FULL, {"free": free})
            detail = (
                Finding(Fact.DISK_RESERVE_IN_USE, {"reserve": disk.reserve_bytes}),
                Finding(Fact.DATABASE_LABELLED_SIZE, {"size": size}),
            )
        elif free < DISK_FULL_FREE_BYTES:
            ok = False
            value = Finding(Fact.DISK_FULL, {"free": free})
        return StatusItem(StatusKind.DATABASE, ok, value, detail)

    def _errors_item(self) -> StatusItem:
        records = self._errors.records()
        now = self._clock()
        recent_error = any(
            r.level in ("ERROR", "CRITICAL") and now - r.at <= RECENT_ERROR_WINDOW for r in records
        )
        recent_any = any(now - r.at <= WARNING_WINDOW for r in records)
        ok = False if recent_error else None if recent_any else True
        lines = tuple(
            Finding(
                Fact.LOG_RECORD,
                {"at": r.at, "level": r.level, "logger": r.logger, "message": r.message},
            )
            for r in records[:ERRORS_SHOWN]
        )
        value = (
            Finding(Fact.LOG_RECORDS, {"count": len(records)})
            if records
            else Finding(Fact.LOG_NONE)
        )
        return StatusItem(StatusKind.ERRORS, ok, value, lines)

    def _peripherals_item(self) -> StatusItem:
        """The status light and the ticket printer: green when none is set or all answer,
        amber while one is unplugged (visits go on; it is retried in the background)."""
        kind = StatusKind.PERIPHERALS
        states = self._peripherals()
        if not states:
            return StatusItem(kind, True, Finding(Fact.PERIPHERALS_NONE))
        lines: list[Finding] = []
        for state in states:
            light = state.kind is PeripheralKind.LIGHT
            if state.connected is False:
                fact = Fact.LIGHT_UNPLUGGED if light else Fact.PRINTER_UNPLUGGED
                lines.append(Finding(fact, {"url": state.url, "at": state.since}))
                lines.append(_text(state.error))
            else:
                fact = Fact.LIGHT_CONNECTED if light else Fact.PRINTER_CONNECTED
                lines.append(Finding(fact, {"url": state.url, "shown": state.shown or "-"}))
        unplugged = sum(1 for state in states if state.connected is False)
        if unplugged:
            lines.append(Finding(Fact.PERIPHERALS_WHAT_TO_DO))
            value = Finding(Fact.PERIPHERALS_UNPLUGGED, {"count": unplugged})
            return StatusItem(kind, None, value, tuple(lines))
        value = Finding(Fact.PERIPHERALS_CONNECTED, {"count": len(states)})
        return StatusItem(kind, True, value, tuple(lines))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
