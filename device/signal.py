"""Serial peripherals: the port and the keeper that holds a device open in the background.

The only module that imports pyserial (DESIGN.md). Transport apart from protocol (STYLE.md 5):
- transport: `SerialPort` opens any pyserial URL (`/dev/ttyUSB0`, `socket://host:port`,
  `loop://`) and moves bytes; every failure is one `PortUnplugged`.
- policy: `Peripheral` keeps a device in the background: a caller only says what it wants
  shown or printed, never waits for a port. A write that fails marks the device unplugged;
  it is tried again with a doubling backoff, so a replugged device recovers without a restart.
The devices say what is wanted and speak their own protocol over a `Port`: the status light
(device/light.py) and the ticket printer (device/printer.py); device/peripherals.py holds the
configured ones. Both are outputs that may be lost: they follow the event bus (DESIGN.md Seams).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import serial

from device.events import Event, EventBus
from sync.clock import utc_now

log = logging.getLogger(__name__)

BAUD = 115200  # the firmware sketch in docs/signal.md uses the same
PORT_TIMEOUT_S = 1.0  # a write or an answer that takes longer: the device is not there
RETRY_BASE_S = 0.5  # first retry after a failure; doubled each time up to RETRY_MAX_S
RETRY_MAX_S = 10.0
KEEPALIVE_S = 5.0  # a device is asked again this often when idle: an unplug shows, a reset heals


class PortUnplugged(Exception):
    """The port cannot be opened, written or did not answer: the device is not usable now."""


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
