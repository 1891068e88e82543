"""Desk alerts: the bus events staff must act on, kept (sync/store/deskalerts.py) until a person
acknowledges them, instead of a notice that fades.

RULES is the one place that says which event raises which alert: a new kind is one line there
(and its words in web/strings_desk.py). A thread listens to the bus, keeps each alert and then
announces it (DeskAlertRaised), so the desk shows it live and finds it again after a reload or
a restart. Ids and codes only: no personal data goes into an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from device.events import (
    BulkBatchFailed,
    BusListener,
    CardGraceOver,
    CardLeftOnReader,
    DeskAlertRaised,
    Event,
    EventBus,
    PinBlocked,
    StaffHelpRequested,
    VisitAborted,
    VisitFailed,
)
from device.reasons import EndReason
from sync.store import DeskAlertRow, Store

log = logging.getLogger(__name__)

STOP_POLL_S = 0.5
ACTOR = "appliance"  # who the audit names for an alert the appliance raised


class AlertKind(StrEnum):
    """What a desk alert is about (the pages word it: web/strings_desk.py desk_alert_<kind>)."""

    HELP_REQUESTED = "help_requested"  # the patient asked for staff instead of the PIN
    PIN_BLOCKED = "pin_blocked"  # the card's PIN is locked: 目視確認 or the city office
    VISIT_ABORTED = "visit_aborted"  # detail: the end reason (timeout, card removed, ...)
    VISIT_FAILED = "visit_failed"  # detail: the end reason[:more] (card untrusted: expired)
    CARD_LEFT = "card_left"  # the visit ended with the card still on the reader
    CARD_GRACE_OVER = "card_grace_over"  # past the expiry grace: to the desk with 資格確認書
    BULK_FAILED = "bulk_failed"  # a bulk pre-check batch got no answers; detail: the reason


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    visit_id: str = ""
    detail: str = ""


# Visit endings that need nobody: the appliance itself stopped the visit.
QUIET_ENDINGS = frozenset({EndReason.STOPPED.value})


def _ending(kind: AlertKind, event: VisitAborted | VisitFailed) -> Alert | None:
    if event.reason in QUIET_ENDINGS:
        return None
    more = getattr(event, "detail", "")
    return Alert(kind, event.visit_id, f"{event.reason}:{more}" if more else event.reason)


# Event type → the alert it raises (None: not this one). One line per kind.
RULES: dict[type[Any], Callable[[Any], Alert | None]] = {
    StaffHelpRequested: lambda e: Alert(AlertKind.HELP_REQUESTED, e.visit_id),
    PinBlocked: lambda e: Alert(AlertKind.PIN_BLOCKED, e.visit_id),
    VisitAborted: lambda e: _ending(AlertKind.VISIT_ABORTED, e),
    VisitFailed: lambda e: _ending(AlertKind.VISIT_FAILED, e),
    CardLeftOnReader: lambda e: Alert(AlertKind.CARD_LEFT, e.visit_id, e.reader),
    CardGraceOver: lambda e: Alert(AlertKind.CARD_GRACE_OVER, e.visit_id),
    BulkBatchFailed: lambda e: Alert(AlertKind.BULK_FAILED, "", e.reason),
}


def alert_for(event: Event) -> Alert | None:
    rule = RULES.get(type(event))
    return rule(event) if rule is not None else None


class DeskAlerts:
    """Keeps the alert an event raises and announces it on the bus."""

    def __init__(self, store: Store, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._listener = BusListener(bus, "desk-alerts", self._heard, STOP_POLL_S)

    def handle(self, event: Event) -> DeskAlertRow | None:
        """The alert `event` raises, kept and announced; None when it raises none (or the same
        alert is already open)."""
        alert = alert_for(event)
        if alert is None:
            return None
        row = self._store.raise_desk_alert(
            alert.kind.value, visit_id=alert.visit_id, detail=alert.detail, actor=ACTOR
        )
        if row is not None:
            log.info("desk alert %d: %s", row.id, row.kind)
            self._bus.publish(DeskAlertRaised(row.id))
        return row

    def start(self) -> None:
        """Listen from now on (subscribed before returning: no event published after falls
        between)."""
        self._listener.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._listener.stop(timeout)

    def _heard(self, event: Event | None) -> None:
        if event is not None:  # a full disk or a bug is logged; the listener goes on
            self.handle(event)
