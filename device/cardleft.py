"""A card left on the reader after its visit ended.

Which readers hold a card is known from the reader's events. When a visit ends with its card
still there, the kiosk asks for it at once (VisitFlow.card_left) and the desk is told
(CardLeftOnReader) once it has stayed `alert_s`; taking the card, or placing another, forgets
it and cancels the wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from device.events import CardLeftOnReader, EventBus


class Alarm(Protocol):
    def cancel(self) -> None: ...


def start_alarm(seconds: float, ring: Callable[[], None]) -> Alarm:
    """Call `ring` on a thread of its own after `seconds`, unless cancelled first."""
    timer = threading.Timer(seconds, ring)
    timer.daemon = True
    timer.name = "card-left"
    timer.start()
    return timer


class CardLeftWatch:
    """The readers with a card on them, and the one card left behind by an ended visit;
    thread-safe (the reader monitor, the visit worker and the alarm all call in)."""

    def __init__(
        self,
        bus: EventBus,
        alert_s: float,
        alarm: Callable[[float, Callable[[], None]], Alarm] = start_alarm,
    ) -> None:
        self._bus = bus
        self._alert_s = alert_s
        self._alarm = alarm
        self._lock = threading.Lock()
        self._present: set[str] = set()  # readers with a card on them
        self._left: tuple[str, str] | None = None  # (visit id, reader) of a card left behind
        self._left_alarm: Alarm | None = None

    @property
    def visit(self) -> str | None:
        """The visit whose card is still on the reader after the visit ended, if any."""
        left = self._left
        return left[0] if left is not None else None

    def placed(self, reader: str) -> None:
        with self._lock:
            self._present.add(reader)
            self._forget()

    def removed(self, reader: str) -> None:
        with self._lock:
            self._present.discard(reader)
            self._forget()

    def visit_ended(self, visit_id: str, reader: str) -> None:
        """If the visit's card is still there, tell the desk once it has stayed `alert_s`."""
        with self._lock:
            if reader not in self._present:
                return
            self._forget()
            self._left = (visit_id, reader)
            self._left_alarm = self._alarm(
                self._alert_s, lambda: self._still_there(visit_id, reader)
            )

    def _still_there(self, visit_id: str, reader: str) -> None:
        with self._lock:
            if self._left != (visit_id, reader):
                return  # taken (or another card placed) as the time ran out
            self._left_alarm = None
        self._bus.publish(CardLeftOnReader(visit_id, reader, self._alert_s))

    def _forget(self) -> None:
        """Under self._lock: the card left behind was taken, or a new visit starts."""
        self._left = None
        if self._left_alarm is not None:
            self._left_alarm.cancel()
            self._left_alarm = None
