"""Typed in-process events and the bus that carries them to the web pages.

Events carry ids and states only, never personal data: a page that wants a name asks the
store for it, and that view is audited.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class VisitStarted:
    visit_id: str
    reader: str
    at: datetime


@dataclass(frozen=True)
class VisitStateChanged:
    """The visit moved to another step of the flow (see device.flow.VisitState)."""

    visit_id: str
    state: str


@dataclass(frozen=True)
class PinRequested:
    visit_id: str
    tries_left: int
    wrong_pin: bool = False  # True when this request follows a wrong PIN


@dataclass(frozen=True)
class PinBlocked:
    visit_id: str


@dataclass(frozen=True)
class StaffHelpRequested:
    """The patient asked for staff instead of risking the last PIN try."""

    visit_id: str


@dataclass(frozen=True)
class VisualCheckChosen:
    """Reception switched the visit to 目視確認; `staff` is the staff user's name."""

    visit_id: str
    staff: str


@dataclass(frozen=True)
class ConsentRequested:
    visit_id: str
    kinds: tuple[str, ...]  # of sync.codes.CONSENT_KINDS, in the clinic's order


@dataclass(frozen=True)
class VisitAborted:
    visit_id: str
    reason: str  # a device.flow.EndReason: "card_removed", "timeout", ...; words are the pages'


@dataclass(frozen=True)
class VisitFailed:
    visit_id: str
    reason: str  # a device.flow.EndReason: "not_jpki", "central_unreadable", ...
    # More about the reason where there is more to say: for "card_untrusted", the
    # device.cardtrust.CardTrustProblem that failed ("expired", "unknown_issuer", ...).
    detail: str = ""


@dataclass(frozen=True)
class ConfirmationStored:
    confirmation_id: int
    visit_id: str | None


@dataclass(frozen=True)
class ReaderStatus:
    reader: str
    available: bool
    card_present: bool


@dataclass(frozen=True)
class CentralDown:
    """The central service is unreachable (the circuit breaker opened): since when, as the
    appliance's clock says (the first failure of the run that opened it)."""

    since: datetime


@dataclass(frozen=True)
class CentralUp:
    """The central service answers again (the circuit closed) at `at`."""

    at: datetime


@dataclass(frozen=True)
class CardExpiring:
    """The card's certificate expires within three months (sync.cardexpiry RENEW_SOON): the
    patient is told to renew it at the city office; the visit goes on."""

    visit_id: str
    expires_on: date


@dataclass(frozen=True)
class CardInGrace:
    """The card's certificate has expired but is within its grace (sync.cardexpiry GRACE): it
    confirms qualification only, so no consent is asked and nothing is shared."""

    visit_id: str
    expired_on: date
    grace_until: date


@dataclass(frozen=True)
class CardGraceOver:
    """The card's certificate expired and its grace is over: the visit ends before the PIN;
    the patient is sent to the desk with their 資格確認書 (a check by insurance numbers)."""

    visit_id: str
    expired_on: date
    grace_ended: date


@dataclass(frozen=True)
class VisitAnswered:
    """The central answered the visit and the answer is stored; `verdict` is its
    sync.codes.Verdict value. The kiosk says "done" only for a VALID one: anything else is for
    the desk to explain."""

    visit_id: str
    verdict: str


@dataclass(frozen=True)
class CardLeftOnReader:
    """The card of a visit that ended is still on the reader `seconds` after the end (the
    setting card_left_alert_s): someone should hand it back."""

    visit_id: str
    reader: str
    seconds: float


@dataclass(frozen=True)
class DeskAlertRaised:
    """A desk alert was kept (device/deskalerts.py) until someone acknowledges it."""

    alert_id: int


@dataclass(frozen=True)
class DeskAlertAcknowledged:
    """A person acknowledged a desk alert; `staff` is their display name."""

    alert_id: int
    staff: str


@dataclass(frozen=True)
class AppointmentsImported:
    """An appointments list was imported (device/appointments.py): how many rows, for which
    days (YYYYMMDD in Japan). No personal data: the page asks the store."""

    rows: int
    days: tuple[str, ...]
    day_count: int


@dataclass(frozen=True)
class BulkProgress:
    """A bulk pre-check run (device/bulkrun.py) moved: `done` of `total` appointments of `day`
    (YYYYMMDD) classified, `normal` of them VALID and `attention` not; `state` is a
    device.bulkrun.RunState value ("running", "waiting" while the central is down, "done",
    "failed")."""

    run_id: int
    day: str
    total: int
    done: int
    normal: int
    attention: int
    state: str


@dataclass(frozen=True)
class PrecheckStored:
    """An appointment's pre-check was stored; `klass` is its sync.precheck.PrecheckClass value."""

    appointment_id: int
    klass: str


@dataclass(frozen=True)
class BulkBatchFailed:
    """A batch of a bulk run ended without answers (refused, unreadable, untrusted): `reason`
    is the CentralFault value with the central's code; its appointments are FAILED."""

    run_id: int
    batch_id: int
    reason: str


Event = (
    VisitStarted
    | VisitStateChanged
    | PinRequested
    | PinBlocked
    | StaffHelpRequested
    | VisualCheckChosen
    | ConsentRequested
    | VisitAborted
    | VisitFailed
    | ConfirmationStored
    | ReaderStatus
    | CentralDown
    | CentralUp
    | CardExpiring
    | CardInGrace
    | CardGraceOver
    | VisitAnswered
    | CardLeftOnReader
    | DeskAlertRaised
    | DeskAlertAcknowledged
    | AppointmentsImported
    | BulkProgress
    | PrecheckStored
    | BulkBatchFailed
)


@dataclass
class Subscription:
    """One listener's queue. Iterate with `get(timeout)`; close when the listener leaves."""

    _queue: queue.Queue[Event] = field(default_factory=lambda: queue.Queue(maxsize=1000))
    _bus: EventBus | None = None

    def get(self, timeout: float) -> Event | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> Iterator[Event]:
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        if self._bus is not None:
            self._bus.unsubscribe(self)
            self._bus = None


class EventBus:
    """Fan-out of events to every subscriber; a slow subscriber loses events, never blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []

    def subscribe(self) -> Subscription:
        sub = Subscription(_bus=self)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub._queue.put_nowait(event)
            except queue.Full:
                pass  # a stuck page must not stall the card flow


class BusListener:
    """A thread that hands each event on the bus to `handle`, and None when none came for
    `poll_s` (which is also how soon stop() is heard). An exception in `handle` is logged and
    the listening goes on: a bug or a full disk must not stop it."""

    def __init__(
        self,
        bus: EventBus,
        name: str,
        handle: Callable[[Event | None], object],
        poll_s: float = 0.5,
    ) -> None:
        self._bus = bus
        self._name = name
        self._handle = handle
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription: Subscription | None = None

    def start(self) -> None:
        """Listen from now on (subscribed before returning: no event published after falls
        between); `handle(None)` runs first."""
        self._stop.clear()
        self._subscription = self._bus.subscribe()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def _run(self) -> None:
        subscription = self._subscription
        assert subscription is not None
        event: Event | None = None
        while not self._stop.is_set():
            try:
                self._handle(event)
            except Exception:
                logging.getLogger(__name__).exception(
                    "%s: %s not handled", self._name, type(event).__name__
                )
            event = subscription.get(self._poll_s)


def event_name(event: Event) -> str:
    """Name used on the wire (server-sent events): the class name in snake case."""
    name = type(event).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
