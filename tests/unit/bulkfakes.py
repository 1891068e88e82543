"""Appointments for the bulk run's tests: a day's list of people with numbers 1000, 1001, …"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sync.clock import JST
from sync.store import AppointmentInput, Store

# The bulk tests' store: the appointments live in the database, so a restart keeps them.
Appointments = Store


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
