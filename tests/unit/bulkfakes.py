"""Appointments for the bulk run's unit tests: until the appointments store is on this branch,
a Store with the agreed appointment methods kept in memory (same names and fields)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from sync.clock import JST
from sync.store import Store


@dataclass(frozen=True)
class AppointmentInput:
    patient_number: str
    kana: str
    birthdate: str
    insurer_number: str
    symbol: str
    number: str
    branch: str
    at: datetime


@dataclass(frozen=True)
class AppointmentRow:
    id: int
    day: str
    at: datetime
    patient_number: str
    kana: str
    birthdate: str
    insurer_number: str
    symbol: str
    number: str
    branch: str
    precheck_class: str
    prechecked_at: datetime | None


class Appointments(Store):
    _rows: dict[int, AppointmentRow]
    _raw: dict[int, bytes]

    def import_appointments(
        self, rows: Sequence[AppointmentInput], *, actor: str, source: str
    ) -> int:
        if not hasattr(self, "_rows"):
            self._rows, self._raw = {}, {}
        for row in rows:
            new_id = len(self._rows) + 1
            self._rows[new_id] = AppointmentRow(
                new_id,
                row.at.astimezone(JST).strftime("%Y%m%d"),
                row.at,
                row.patient_number,
                row.kana,
                row.birthdate,
                row.insurer_number,
                row.symbol,
                row.number,
                row.branch,
                "",
                None,
            )
        return len(rows)

    def carry_over(self, old: Appointments) -> None:
        """The in-memory appointments of a store closed for a restart (the real ones are in
        the database file)."""
        self._rows, self._raw = old._rows, old._raw

    def appointments_on(self, day: str) -> list[AppointmentRow]:
        rows = getattr(self, "_rows", {})
        return sorted((r for r in rows.values() if r.day == day), key=lambda r: (r.at, r.id))

    def appointment(self, appointment_id: int) -> AppointmentRow | None:
        return getattr(self, "_rows", {}).get(appointment_id)

    def record_precheck(
        self, appointment_id: int, *, klass: str, raw: bytes, checked_at: datetime, actor: str
    ) -> None:
        row = self._rows[appointment_id]
        self._rows[appointment_id] = replace(row, precheck_class=klass, prechecked_at=checked_at)
        self._raw[appointment_id] = raw
        self.audit(actor, "appointment.prechecked", f"appointment:{appointment_id}", klass)

    def precheck_raw(self, appointment_id: int) -> bytes | None:
        return self._raw.get(appointment_id)


def appointment_inputs(count: int, day: str) -> list[AppointmentInput]:
    """`count` people on `day` from 09:00 every 5 minutes, numbers 1000, 1001, …"""
    start = datetime.combine(datetime.strptime(day, "%Y%m%d").date(), time(9, 0), tzinfo=JST)
    return [
        AppointmentInput(
            patient_number=f"P{i:05d}",
            kana="テスト タロウ",
            birthdate="19800101",
            insurer_number="06130012",
            symbol="記A",
            number=str(1000 + i),
            branch="00",
            at=start + timedelta(minutes=5 * i),
        )
        for i in range(count)
    ]
