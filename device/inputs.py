"""What people hand to a running visit: the patient's PIN, consent and call for staff from the
kiosk, and reception's visual check. One hand-off point, so two answers can never both count."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class VisualCheck:
    """Reception confirmed the holder by looking (目視確認); the staff user is recorded."""

    staff: str


@dataclass(frozen=True)
class StaffCalled:
    """The patient pressed "ask the staff" on the kiosk instead of entering the PIN."""


@dataclass(frozen=True)
class ConsentChoice:
    """The patient's answer for every kind asked, in the order asked."""

    answers: tuple[tuple[str, bool], ...]

    @classmethod
    def of(cls, answers: Mapping[str, bool]) -> ConsentChoice:
        return cls(tuple(answers.items()))


VisitInput = str | VisualCheck | StaffCalled | ConsentChoice

# What each waiting step of a visit accepts (a PIN is a str).
STEP_INPUTS: dict[str, tuple[type, ...]] = {
    "pin": (str, VisualCheck, StaffCalled),
    "staff": (VisualCheck,),
    "consent": (ConsentChoice,),
}


class Waiting(Protocol):
    """The part of a visit a hand-off needs (device.flow.ActiveVisit is one)."""

    id: str
    cancelled: threading.Event


class VisitInputs:
    """What the kiosk (PIN, consent, call for staff) and reception (visual check) hand to the
    running visit. Only the step the visit is waiting for accepts anything, and only once:
    the first of two competing answers wins. A PIN is kept only until the card takes it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[str, VisitInput] = {}
        self._waiting: tuple[str, str] | None = None  # (visit id, step)

    def submit(self, visit_id: str, value: VisitInput) -> bool:
        """False when that visit is not waiting for this kind of input (stale page, race)."""
        with self._cond:
            if self._waiting is None or self._waiting[0] != visit_id:
                return False
            if not isinstance(value, STEP_INPUTS[self._waiting[1]]):
                return False
            if visit_id in self._pending:
                return False
            self._pending[visit_id] = value
            self._cond.notify_all()
            return True

    def waiting_step(self, visit_id: str) -> str | None:
        with self._cond:
            if self._waiting is not None and self._waiting[0] == visit_id:
                return self._waiting[1]
            return None

    def wait(self, visit: Waiting, step: str, timeout: float) -> VisitInput | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting = (visit.id, step)
            try:
                while visit.id not in self._pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or visit.cancelled.is_set():
                        return None
                    self._cond.wait(remaining)
                return self._pending.pop(visit.id)
            finally:
                self._waiting = None
                self._pending.pop(visit.id, None)

    def cancel(self, visit_id: str) -> None:
        with self._cond:
            self._pending.pop(visit_id, None)
            self._cond.notify_all()
