"""What the bulk engine (device/bulkrun.py) asks of a kind of run.

The engine owns what every bulk run shares: the batches written before any call, their file
ids and reception numbers, the polls and their backoff, the wait while the central is down,
the end of a run. A kind says what a run of a day is about, what one batch uploads, which
result call polls it, and how its answers (or its failure) are kept: the night-before
pre-check (device/precheckrun.py) and the monthly 医療扶助 bulk (device/aidrun.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from device.confirm import Confirmations
from sync.bulkmsg import BulkAnswer, BulkQuery, BulkReceipt
from sync.clock import JST
from sync.store import BulkBatchRow, BulkRunRow, Store

ACTOR = "bulk"  # who the audit names for what a run does


def clinic_day(at: datetime, days: int = 0) -> str:
    """YYYYMMDD of `at` in the clinic's time zone, `days` later."""
    return (at.astimezone(JST).date() + timedelta(days=days)).strftime("%Y%m%d")


def entry_id(appointment_id: int) -> str:
    """The ArbitraryIdentifier of an appointment's entry."""
    return f"a{appointment_id}"


@dataclass(frozen=True)
class RunParts:
    """What every kind reads and calls: the store, the one path to the central, the clinic's
    code and the (injected) clock."""

    store: Store
    confirmations: Confirmations
    medical_institution_code: str
    clock: Callable[[], datetime]


class RunKind(Protocol):
    """One kind of bulk run; every call to the central goes through Confirmations."""

    @property
    def kind(self) -> str:
        """The run kind as stored (sync/store/bulkruns.py PRECHECK or AID)."""
        ...

    @property
    def shows_progress(self) -> bool:
        """Whether the desk's progress bar follows runs of this kind."""
        ...

    def members(self, day: str) -> list[int]:
        """The appointment ids a run of `day` asks about, in the order they are batched."""
        ...

    def upload(self, run: BulkRunRow, batch: BulkBatchRow, label: str) -> BulkReceipt:
        """Send the batch (under its fixed file id); ConfirmationFailed when not received."""
        ...

    def result(self, query: BulkQuery, label: str) -> BulkAnswer:
        """Ask for the batch's answer by its reception number."""
        ...

    def keep(self, run: BulkRunRow, batch: BulkBatchRow, answer: BulkAnswer, label: str) -> None:
        """Store a ready answer with the batch's end, in one transaction."""
        ...

    def fail(self, run: BulkRunRow, batch: BulkBatchRow, reason: str) -> None:
        """End the batch without answers (the engine logs it and alerts the desk)."""
        ...
