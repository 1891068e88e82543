"""The reception-ticket printer: its ESC/POS status check and the queue of tickets to print.

device/ticket.py numbers a ticket and builds its ESC/POS bytes (python-escpos); this asks the
printer whether it is there and online, and writes the bytes through the port of
device/signal.py, kept in the background like every serial device.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from device.events import Event, VisitStateChanged
from device.signal import Peripheral, PeripheralKind, Port, PortUnplugged
from device.ticket import Ticket, TicketBook, ticket_bytes

log = logging.getLogger(__name__)

TICKET_STALE_S = 120.0  # a ticket not printed by then is dropped: nobody waits for it any more
TICKETS_PENDING_MAX = 20
# ESC/POS real-time status (DLE EOT 1): bits 1 and 4 are always set; bit 3 = offline.
PRINTER_STATUS = b"\x10\x04\x01"


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
