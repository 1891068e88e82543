"""The status light / buzzer: its line protocol (docs/signal.md) and what it shows.

The light follows the event bus: a visit's events say reading, waiting for the patient,
confirmed or staff needed; the central down shows while no visit runs; staff needed buzzes.
The newest wanted state wins. The port and the background keeper are device/signal.py's.
"""

from __future__ import annotations

import time
from enum import StrEnum

from device.events import (
    CentralDown,
    CentralUp,
    ConfirmationStored,
    ConsentRequested,
    Event,
    PinBlocked,
    PinRequested,
    ReaderStatus,
    StaffHelpRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.signal import Peripheral, PeripheralKind, Port, PortUnplugged

CONFIRMED_HOLD_S = 8.0  # "confirmed" stays this long, or until the card is taken
BUZZ_MS = 300

# The light's line protocol (docs/signal.md). ASCII lines ending in "\n"; one answer per line.
LIGHT_HELLO = b"H\n"
LIGHT_HELLO_ANSWER = b"ONSHI-LIGHT 1"  # then a space and the firmware's own version
LIGHT_OK = b"OK"


class LightState(StrEnum):
    IDLE = "idle"
    READING = "reading"  # a card is being read or confirmed
    WAITING = "waiting"  # for the patient: PIN or consent
    CONFIRMED = "confirmed"
    STAFF = "staff"  # needs staff: asked for, PIN blocked, a visit failed
    DOWN = "down"  # the central is unreachable (shown while no visit is running)


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
