"""The reception ticket (受付票): its daily number and its ESC/POS bytes.

The bytes are composed with python-escpos (its `Dummy` printer collects them) and sent by
device/signal.py through pyserial, so every port URL pyserial knows (`/dev/ttyUSB0`,
`socket://`, `loop://`) prints the same way and only signal.py touches a port.

Japanese text: python-escpos encodes text through single-byte code pages, which have no kanji.
The ticket therefore switches the printer into kanji mode itself: FS C 1 (code system
Shift_JIS), FS & (kanji mode on), the Shift_JIS bytes, FS . (off). This is what Japanese-model
ESC/POS printers (Epson TM-T88 J models, Star's ESC/POS mode, most 58/80 mm Japanese-market
thermal printers) understand; ASCII lines go through python-escpos as usual.

No personal data: a ticket carries its number, the time and the clinic's notice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.clock import JST, utc_now

FS_KANJI_SHIFT_JIS = b"\x1cC\x01"  # FS C 1: kanji code system Shift_JIS
FS_KANJI_ON = b"\x1c&"
FS_KANJI_OFF = b"\x1c."
DEFAULT_NOTICE = "お呼びするまでお待ちください"
NOTICE_MAX = 120  # characters: a few lines on 80 mm paper


@dataclass(frozen=True)
class Ticket:
    number: int  # 受付番号: 1, 2, … from the first ticket of the day (JST)
    at: datetime


class TicketBook:
    """Numbers tickets per day in Japan. Kept in memory: a restart during the day starts at 1
    again, which a clinic sees as a repeated number (docs/signal.md says so)."""

    def __init__(self, *, clock: Callable[[], datetime] = utc_now, notice: str = "") -> None:
        self._clock = clock
        self.notice = notice or DEFAULT_NOTICE
        self._lock = threading.Lock()
        self._day: date | None = None
        self._last = 0

    def next(self) -> Ticket:
        at = self._clock()
        day = at.astimezone(JST).date()
        with self._lock:
            if day != self._day:
                self._day, self._last = day, 0
            self._last += 1
            return Ticket(self._last, at)


def _kanji(printer: Any, text: str) -> None:
    printer._raw(FS_KANJI_ON + text.encode("cp932", "replace") + FS_KANJI_OFF + b"\n")


def ticket_bytes(ticket: Ticket, notice: str) -> bytes:
    """The ticket as ESC/POS: a heading, the number large, the time, the notice, a cut."""
    # Imported when the first ticket is printed, not at start: python-escpos loads its printer
    # profiles on import (0.2 s) and caches them in a new temporary directory each process.
    from escpos.printer import Dummy

    printer = Dummy()
    printer._raw(b"\x1b@" + FS_KANJI_SHIFT_JIS)  # ESC @ initialise, then the kanji code system
    printer.set(align="center")
    _kanji(printer, "受付番号")
    printer.set(align="center", double_height=True, double_width=True, bold=True)
    printer.text(f"{ticket.number}\n")
    printer.set_with_default(align="center")
    printer.text(f"{ticket.at.astimezone(JST):%Y-%m-%d %H:%M}\n")
    printer.set_with_default(align="left")
    for line in notice[:NOTICE_MAX].splitlines() or [""]:
        _kanji(printer, line)
    printer.cut()
    return bytes(printer.output)
