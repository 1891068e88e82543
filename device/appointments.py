"""Appointments in: the receipt computer's list (CSV bytes, from the desk's upload or the token
API) checked as a whole by sync/appointments.py, stored with its audit entry naming who
imported it, and announced on the bus (AppointmentsImported). A list with any bad row stores
nothing: AppointmentsRejected carries every problem with its line.

Reading a day's list is an audited view of personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from device.events import AppointmentsImported, EventBus
from sync.appointments import AppointmentsRejected, parse_appointments
from sync.clock import JST, utc_now
from sync.store import AppointmentRow, Store
from sync.store.appointments import day_of

__all__ = ["Appointments", "AppointmentsRejected"]

UPLOAD = "upload"  # the desk page
API = "api"  # the token API


class Appointments:
    def __init__(
        self, store: Store, bus: EventBus, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    def today(self) -> date:
        """Today in the clinic's time zone, by the injected clock."""
        return self._clock().astimezone(JST).date()

    def tomorrow(self) -> date:
        return self.today() + timedelta(days=1)

    def import_csv(self, data: bytes, *, actor: str, source: str) -> int:
        """Parse and store a list; AppointmentsRejected (nothing stored) when any row is bad."""
        rows = parse_appointments(data, today=self.today())
        count = self._store.import_appointments(rows, actor=actor, source=source)
        days = tuple(sorted({day_of(row.at) for row in rows}))
        self._bus.publish(AppointmentsImported(rows=count, days=days, day_count=len(days)))
        return count

    def on_day(self, day: date, *, actor: str) -> list[AppointmentRow]:
        """The day's appointments; the view is audited (how many rows were shown)."""
        key = day.strftime("%Y%m%d")
        rows = self._store.appointments_on(key)
        self._store.audit(actor, "appointments.view", f"appointments:{key}", f"rows={len(rows)}")
        return rows
