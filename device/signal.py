"""Serial peripherals: the status light / buzzer and the reception-ticket printer.

The only module that imports pyserial (DESIGN.md). Three layers, kept apart (STYLE.md 5):
- transport: `SerialPort` opens any pyserial URL (`/dev/ttyUSB0`, `socket://host:port`,
  `loop://`) and moves bytes; every failure is one `PortUnplugged`.
- protocol: the light's line protocol (docs/signal.md) and the printer's ESC/POS bytes
  (device/ticket.py builds them with python-escpos, this module sends them).
- policy: `Peripheral` keeps a device in the background: a caller only says what it wants
  shown or printed, never waits for a port. A write that fails marks the device unplugged;
  it is tried again with a doubling backoff, so a replugged device recovers without a restart.

Both devices are outputs that may be lost: they follow the event bus (DESIGN.md Seams).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import serial

from device.events import (
    CentralDown,
    CentralUp,
    ConfirmationStored,
    ConsentRequested,
    Event,
    EventBus,
    PinBlocked,
    PinRequested,
    ReaderStatus,
    StaffHelpRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.ticket import Ticket, TicketBook, ticket_bytes
from sync.clock import utc_now

log = logging.getLogger(__name__)

BAUD = 115200  # the firmware sketch in docs/signal.md uses the same
PORT_TIMEOUT_S = 1.0  # a write or an answer that takes longer: the device is not there
RETRY_BASE_S = 0.5  # first retry after a failure; doubled each time up to RETRY_MAX_S
RETRY_MAX_S = 10.0
KEEPALIVE_S = 5.0  # a light is told its state again this often: an unplug shows, a reset heals
CONFIRMED_HOLD_S = 8.0  # "confirmed" stays this long, or until the card is taken
BUZZ_MS = 300
TICKET_STALE_S = 120.0  # a ticket not printed by then is dropped: nobody waits for it any more
TICKETS_PENDING_MAX = 20

# The light's line protocol (docs/signal.md). ASCII lines ending in "\n"; one answer per line.
LIGHT_HELLO = b"H\n"
LIGHT_HELLO_ANSWER = b"ONSHI-LIGHT 1"  # then a space and the firmware's own version
LIGHT_OK = b"OK"
# ESC/POS real-time status (DLE EOT 1): bits 1 and 4 are always set; bit 3 = offline.
PRINTER_STATUS = b"\x10\x04\x01"


class PortUnplugged(Exception):
    """The port cannot be opened, written or did not answer: the device is not usable now."""


class LightState(StrEnum):
    IDLE = "idle"
    READING = "reading"  # a card is being read or confirmed
    WAITING = "waiting"  # for the patient: PIN or consent
    CONFIRMED = "confirmed"
    STAFF = "staff"  # needs staff: asked for, PIN blocked, a visit failed
    DOWN = "down"  # the central is unreachable (shown while no visit is running)


class PeripheralKind(StrEnum):
    LIGHT = "light"
    PRINTER = "printer"


class Port(Protocol):
    echoes: bool

    def write(self, data: bytes) -> None: ...
    def read_line(self) -> bytes: ...
    def read(self, size: int) -> bytes: ...
    def close(self) -> None: ...


class SerialPort:
    """Bytes over a pyserial URL. `loop://` echoes what is written (no device answers there):
    the protocols then check the echo instead of an answer, so the link itself is tested."""

    def __init__(self, url: str, timeout_s: float = PORT_TIMEOUT_S) -> None:
        self.url = url
        self.echoes = url.startswith("loop://")
        try:
            self._port = serial.serial_for_url(
                url, baudrate=BAUD, timeout=timeout_s, write_timeout=timeout_s
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortUnplugged(f"{url}: {exc}") from exc
        sock = getattr(self._port, "_socket", None)  # socket://: short lines go out at once
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortUnplugged(f"{self.url}: {exc}") from exc

    def read_line(self) -> bytes:
        try:
            line = bytes(self._port.readline())
        except (serial.SerialException, OSError) as exc:
            raise PortUnplugged(f"{self.url}: {exc}") from exc
        if not line.endswith(b"\n"):
            raise PortUnplugged(f"{self.url}: no answer within {PORT_TIMEOUT_S:g} s")
        return line.rstrip(b"\r\n")

    def read(self, size: int) -> bytes:
        try:
            data = bytes(self._port.read(size))
        except (serial.SerialException, OSError) as exc:
            raise PortUnplugged(f"{self.url}: {exc}") from exc
        if len(data) < size:
            raise PortUnplugged(f"{self.url}: no answer within {PORT_TIMEOUT_S:g} s")
        return data

    def close(self) -> None:
        # pyserial 3.5's socket:// close() skips socket.close() when shutdown() fails, as it
        # does once the peer is gone: close the socket here too (closing twice is harmless).
        sock = getattr(self._port, "_socket", None)
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass
        if sock is not None:
            sock.close()


def light_line(state: LightState) -> bytes:
    return f"L {state.value}\n".encode("ascii")


def buzz_line(ms: int) -> bytes:
    return f"B {ms}\n".encode("ascii")


def _command(port: Port, line: bytes) -> bytes:
    """One line out, its answer back (or, on an echoing port, the line itself)."""
    port.write(line)
    answer = port.read_line()
    if port.echoes:
        if answer != line.rstrip(b"\n"):
            raise PortUnplugged(f"echo differs: {answer[:40]!r}")
        return LIGHT_OK
    return answer


def light_hello(port: Port) -> str:
    """The firmware's version; PortUnplugged when what answers is not a status light."""
    answer = _command(port, LIGHT_HELLO)
    if port.echoes:
        return "loop"
    if not answer.startswith(LIGHT_HELLO_ANSWER):
        raise PortUnplugged(f"not a status light: {answer[:40]!r}")
    return answer[len(LIGHT_HELLO_ANSWER) :].strip().decode("ascii", "replace")


def light_send(port: Port, line: bytes) -> None:
    answer = _command(port, line)
    if answer != LIGHT_OK:
        raise PortUnplugged(f"light refused {line.strip()!r}: {answer[:40]!r}")


def printer_ready(port: Port) -> None:
    """DLE EOT 1: the printer answers one status byte; PortUnplugged when none or offline."""
    port.write(PRINTER_STATUS)
    if port.echoes:
        if port.read(len(PRINTER_STATUS)) != PRINTER_STATUS:
            raise PortUnplugged("echo differs")
        return
    status = port.read(1)[0]
    if status & 0x93 != 0x12:
        raise PortUnplugged(f"not an ESC/POS printer (status {status:#04x})")
    if status & 0x08:
        raise PortUnplugged("printer offline (cover open or paper out)")


@dataclass(frozen=True)
class PeripheralState:
    """One device as the status page and the sandbox see it."""

    kind: PeripheralKind
    url: str
    connected: bool | None  # None: not tried yet
    error: str  # why it is unplugged ("" when connected)
    since: datetime | None  # unplugged since (the first failure of this run)
    shown: str  # the light's state, or the last ticket number printed

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "url": self.url,
            "connected": self.connected,
            "error": self.error,
            "since": self.since.isoformat() if self.since else None,
            "shown": self.shown,
        }


class Peripheral:
    """A device kept in the background by one thread: open, do what is wanted, on failure close,
    mark unplugged and retry with backoff. Subclasses say what is wanted (`_pending`) and how
    to do it (`_hello`, `_work`)."""

    kind: PeripheralKind

    def __init__(
        self,
        url: str,
        *,
        connect: Callable[[str], Port] = SerialPort,
        clock: Callable[[], datetime] = utc_now,
        retry_base_s: float = RETRY_BASE_S,
        retry_max_s: float = RETRY_MAX_S,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.url = url
        self._connect = connect
        self._clock = clock
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._cond = threading.Condition()
        self._port: Port | None = None
        self._connected: bool | None = None
        self._error = ""
        self._since: datetime | None = None
        self._shown = ""
        self._retry_at = 0.0
        self._backoff_s = retry_base_s
        self._keepalive_s = keepalive_s
        self._checked_at = 0.0
        self._stop = False
        self._thread: threading.Thread | None = None
        self._subscription_thread: threading.Thread | None = None

    # -- what callers see ----------------------------------------------------------------
    def state(self) -> PeripheralState:
        with self._cond:
            return PeripheralState(
                self.kind, self.url, self._connected, self._error, self._since, self._shown
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"signal-{self.kind}", daemon=True)
        self._thread.start()

    def follow(self, bus: EventBus) -> None:
        """Take the bus's events in a thread of its own (a slow port never slows the bus)."""
        subscription = bus.subscribe()

        def listen() -> None:
            try:
                while not self._stop:
                    event = subscription.get(0.5)
                    if event is not None:
                        self.note(event)
            finally:
                subscription.close()

        self._subscription_thread = threading.Thread(
            target=listen, name=f"signal-{self.kind}-bus", daemon=True
        )
        self._subscription_thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in (self._thread, self._subscription_thread):
            if thread is not None:
                thread.join(timeout_s)
        self._close()

    def note(self, event: Event) -> None:
        """One event from the bus; subclasses decide what it means for them."""

    # -- the thread ----------------------------------------------------------------------
    def _pending(self, now: float) -> float | None:
        """0 when there is work now, else seconds until there may be (None: nothing)."""
        raise NotImplementedError

    def _hello(self, port: Port) -> None:
        raise NotImplementedError

    def _work(self, port: Port, now: float) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        """The device was (re)opened: whatever it showed before is unknown."""

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    now = time.monotonic()
                    if self._port is None:
                        wait = self._retry_at - now
                    else:
                        pending = self._pending(now)
                        keep = self._checked_at + self._keepalive_s - now
                        wait = keep if pending is None else min(pending, keep)
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stop:
                    return
                port = self._port
                work = port is not None and self._pending(now) == 0
            try:
                if port is None:
                    self._open()
                elif work:
                    self._work(port, time.monotonic())
                else:
                    self._hello(port)  # nothing to do: is it still there?
                self._checked_at = time.monotonic()
            except PortUnplugged as exc:
                self._failed(str(exc))

    def _open(self) -> Port:
        port = self._connect(self.url)
        try:
            self._hello(port)
        except PortUnplugged:
            port.close()
            raise
        with self._cond:
            self._port = port
            self._reset()
            if self._connected is not True:
                log.info("%s on %s: connected", self.kind, self.url)
            self._connected, self._error, self._since = True, "", None
            self._backoff_s = self._retry_base_s
        return port

    def _failed(self, why: str) -> None:
        self._close()
        with self._cond:
            if self._connected is not False:
                log.warning(
                    "%s on %s: unplugged (%s); retrying in the background", self.kind, self.url, why
                )
                self._since = self._clock()
            self._connected, self._error = False, why[:200]
            self._retry_at = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)

    def _close(self) -> None:
        with self._cond:
            port, self._port = self._port, None
        if port is not None:
            port.close()

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()


class SignalLight(Peripheral):
    """The status light: shows what the bus says the desk is doing, buzzes when staff is
    needed. The newest wanted state wins; nothing queues up behind an unplugged light."""

    kind = PeripheralKind.LIGHT

    def __init__(
        self,
        url: str,
        *,
        confirmed_hold_s: float = CONFIRMED_HOLD_S,
        **kwargs: object,
    ) -> None:
        super().__init__(url, **kwargs)  # type: ignore[arg-type]
        self._hold_s = confirmed_hold_s
        self._visit = LightState.IDLE
        self._visit_until: float | None = None  # when a finished visit's light ends
        self._central_down = False
        self._buzz = 0
        self._sent: LightState | None = None
        self.changed_at: float | None = None  # monotonic time of the last state change wanted

    def wanted(self) -> LightState:
        with self._cond:
            return self._wanted(time.monotonic())

    def _wanted(self, now: float) -> LightState:
        if self._visit_until is not None and now >= self._visit_until:
            self._visit, self._visit_until = LightState.IDLE, None
        if self._visit is LightState.IDLE and self._central_down:
            return LightState.DOWN
        return self._visit

    def note(self, event: Event) -> None:
        with self._cond:
            before = self._wanted(time.monotonic())
            if isinstance(event, CentralDown):
                self._central_down = True
            elif isinstance(event, CentralUp):
                self._central_down = False
            elif isinstance(event, ReaderStatus):
                if not event.card_present and self._visit_until is not None:
                    self._visit, self._visit_until = LightState.IDLE, None  # the card is taken
            else:
                light = visit_light(event)
                if light is not None:
                    self._show_visit(light)
                if isinstance(event, StaffHelpRequested | PinBlocked | VisitFailed):
                    self._buzz = BUZZ_MS
            if self._wanted(time.monotonic()) is not before:
                self.changed_at = time.monotonic()
            self._cond.notify_all()

    def _show_visit(self, light: LightState) -> None:
        self._visit = light
        ended = light is LightState.CONFIRMED or light is LightState.STAFF
        # A finished visit's light holds until the card is taken; "confirmed" at most a while.
        if light is LightState.CONFIRMED:
            self._visit_until = time.monotonic() + self._hold_s
        elif ended:
            self._visit_until = float("inf")
        else:
            self._visit_until = None

    def buzz(self, ms: int = BUZZ_MS) -> None:
        with self._cond:
            self._buzz = ms
            self._cond.notify_all()

    def _pending(self, now: float) -> float | None:
        wanted = self._wanted(now)
        if wanted is not self._sent or self._buzz:
            return 0
        if self._visit_until is not None and self._visit_until != float("inf"):
            return max(self._visit_until - now, 0.001)
        return None

    def _hello(self, port: Port) -> None:
        light_hello(port)

    def _reset(self) -> None:
        self._sent = None  # a board resets when its port opens: say the state again

    def _work(self, port: Port, now: float) -> None:
        with self._cond:
            wanted, buzz = self._wanted(now), self._buzz
        light_send(port, light_line(wanted))
        if buzz:
            light_send(port, buzz_line(buzz))
        with self._cond:
            self._sent, self._shown = wanted, wanted.value
            if self._buzz == buzz:
                self._buzz = 0

    def _failed(self, why: str) -> None:
        with self._cond:
            self._sent = None
        super()._failed(why)


_VISIT_STATES: dict[str, LightState] = {
    "card_placed": LightState.READING,
    "reading": LightState.READING,
    "cert_read": LightState.READING,
    "signing": LightState.READING,
    "confirming": LightState.READING,
    "awaiting_pin": LightState.WAITING,
    "awaiting_consent": LightState.WAITING,
    "awaiting_staff": LightState.STAFF,
    "pin_blocked": LightState.STAFF,
    "failed": LightState.STAFF,
    "stored": LightState.CONFIRMED,
    "done": LightState.CONFIRMED,
    "offline_done": LightState.CONFIRMED,
    "aborted": LightState.IDLE,
}


def visit_light(event: Event) -> LightState | None:
    """What a visit's event means for the light (None: nothing)."""
    if isinstance(event, VisitStarted):
        return LightState.READING
    if isinstance(event, PinRequested | ConsentRequested):
        return LightState.WAITING
    if isinstance(event, PinBlocked | StaffHelpRequested | VisitFailed):
        return LightState.STAFF
    if isinstance(event, VisitAborted):
        return LightState.IDLE
    if isinstance(event, ConfirmationStored) and event.visit_id is not None:
        return LightState.CONFIRMED
    if isinstance(event, VisitStateChanged):
        return _VISIT_STATES.get(event.state)
    return None


class TicketPrinter(Peripheral):
    """The reception-ticket printer: a ticket for each card visit that ends with an answer
    (online or kept offline). Tickets wait while the printer is unplugged, at most
    TICKET_STALE_S; older ones are dropped (the patient has long been served)."""

    kind = PeripheralKind.PRINTER

    def __init__(self, url: str, book: TicketBook, **kwargs: object) -> None:
        super().__init__(url, **kwargs)  # type: ignore[arg-type]
        self._book = book
        self._queue: deque[tuple[float, Ticket]] = deque(maxlen=TICKETS_PENDING_MAX)
        self.printed: list[Ticket] = []  # this run's printed tickets, newest last (few a day)

    def note(self, event: Event) -> None:
        if isinstance(event, VisitStateChanged) and event.state in ("done", "offline_done"):
            self.issue()

    def issue(self) -> Ticket:
        """Number a ticket now and print it in the background."""
        ticket = self._book.next()
        with self._cond:
            self._queue.append((time.monotonic(), ticket))
            self._cond.notify_all()
        return ticket

    def _pending(self, now: float) -> float | None:
        while self._queue and now - self._queue[0][0] > TICKET_STALE_S:
            _, dropped = self._queue.popleft()
            log.warning("ticket %s not printed: the printer stayed unplugged", dropped.number)
        return 0 if self._queue else None

    def _hello(self, port: Port) -> None:
        printer_ready(port)

    def _work(self, port: Port, now: float) -> None:
        with self._cond:
            if not self._queue:
                return
            _, ticket = self._queue[0]
        printer_ready(port)  # a write to a vanished socket may still succeed: ask first
        port.write(ticket_bytes(ticket, self._book.notice))
        with self._cond:
            if self._queue and self._queue[0][1] is ticket:
                self._queue.popleft()
            self._shown = str(ticket.number)
            self.printed.append(ticket)


@dataclass
class Peripherals:
    """The configured devices (either may be None); what the status page and sandbox read."""

    light: SignalLight | None = None
    printer: TicketPrinter | None = None

    @property
    def devices(self) -> list[Peripheral]:
        return [d for d in (self.light, self.printer) if d is not None]

    def start(self, bus: EventBus) -> None:
        for device in self.devices:
            device.start()
            device.follow(bus)

    def stop(self) -> None:
        for device in self.devices:
            device.stop()

    def states(self) -> list[PeripheralState]:
        return [d.state() for d in self.devices]

    def snapshot(self) -> dict[str, object]:
        """For the sandbox page: what the light shows and whether each device is there."""
        light = self.light
        return {
            "light": light.wanted().value if light is not None else None,
            "devices": [s.as_json() for s in self.states()],
        }


def build_peripherals(
    light_url: str,
    printer_url: str,
    *,
    notice: str,
    clock: Callable[[], datetime] = utc_now,
) -> Peripherals:
    return Peripherals(
        light=SignalLight(light_url, clock=clock) if light_url else None,
        printer=(
            TicketPrinter(printer_url, TicketBook(clock=clock, notice=notice), clock=clock)
            if printer_url
            else None
        ),
    )
