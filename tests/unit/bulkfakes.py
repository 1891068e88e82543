"""Shared parts of the bulk tests: a day's list of people with numbers 1000, 1001, …; asking a
transport for a bulk answer until it is ready; waiting, bounded, for what the other side does
after it answered; a central that is down for every bulk call."""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import NoReturn

from sync.bulkmsg import BulkAnswer, BulkQuery
from sync.clock import JST
from sync.store import AppointmentInput, Store
from sync.transport import CentralRefused, CentralUnavailable

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


def poll_until_ready(
    ask: Callable[[BulkQuery], BulkAnswer], institution: str, reception_number: str
) -> tuple[BulkAnswer, int]:
    """Ask `ask` (a transport's bulk_result or aid_result) with a new file id each time, q-1,
    q-2, …, until the answer is ready: (that answer, how many asks); fails after 100 asks."""
    for polls in range(1, 101):
        answer = ask(BulkQuery(institution, f"q-{polls}", reception_number))
        if answer.ready:
            return answer, polls
        clock.sleep(0.05)
    raise AssertionError("the bulk answer was not ready after 100 asks")


def within(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether `condition` holds now or within `seconds` (a move the other side makes after it
    answered); a bound, not a timing claim."""
    deadline = clock.monotonic() + seconds
    while not condition():
        if clock.monotonic() > deadline:
            return False
        clock.sleep(0.01)
    return True


class DownCentral:
    """A transport whose bulk calls find the central down (CentralUnavailable), but for the
    registration, which it refuses (an answer); `calls` counts the calls that reached it."""

    calls = 0

    def nonce(self) -> NoReturn:
        raise AssertionError

    def confirm(self, request: object) -> NoReturn:
        raise AssertionError

    def _down(self) -> CentralUnavailable:
        self.calls += 1
        return CentralUnavailable("down")

    def bulk_upload(self, request: object) -> NoReturn:
        raise self._down()

    def bulk_result(self, request: object) -> NoReturn:
        raise self._down()

    def aid_upload(self, request: object) -> NoReturn:
        raise self._down()

    def aid_result(self, request: object) -> NoReturn:
        raise self._down()

    def register_references(self, request: object) -> NoReturn:
        self.calls += 1
        raise CentralRefused(400, "no")
