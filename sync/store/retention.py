"""Retention of the records kept beside the answers: the 申立書 (statements.py), the
re-check queue's finished items and acknowledged alerts (outbox.py), and the appointments whose
time is past the bound (appointments.py).

They follow the confirmations' retention: the job (device/jobs.py) runs this purge with the
same bound, by the same trusted clock, right after the confirmations purge (whose guards,
visits.py, have then passed for that bound). The share rule is applied here too, per table: a
run that would delete more than `max_share` of a table (runs of at most `small_run` rows aside)
deletes nothing and raises RecordsRetentionRefused. A queued re-check and an alert no person
has acknowledged are never deleted. The rule is decided once, in a short write; then rows go in
batches, each its own short transaction, the store's lock handed to waiting threads between two
(as the confirmations purge does); one audit entry after the last batch when anything went,
counting the batches of a run stopped before its entry too (progress.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sync.store.appointments import Appointments
from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part
from sync.store.instant import instant_text
from sync.store.outbox import Outbox
from sync.store.progress import add_progress, take_progress
from sync.store.statements import Statements

PURGED_ACTION = "retention.purged"  # as the confirmations purge writes it
SUBJECT = "statements_outbox"
RECORDS_BATCH = 500  # rows of each table a batch deletes
_PROGRESS = "records_progress"  # retention_state: what this run's batches deleted so far


@dataclass(frozen=True)
class RecordsPurged:
    statements: int = 0
    outbox: int = 0  # finished re-check items
    outbox_alerts: int = 0  # acknowledged alerts
    appointments: int = 0  # appointments (and their pre-checks) before the bound

    @property
    def total(self) -> int:
        return self.statements + self.outbox + self.outbox_alerts + self.appointments


class RecordsRetentionRefused(Exception):
    """A purge that would have deleted too large a share of a table; nothing was deleted.
    `counts`: table → (rows it would delete, rows in it)."""

    def __init__(self, *, before: str, counts: dict[str, tuple[int, int]]) -> None:
        shown = " ".join(f"{table}={old}/{total}" for table, (old, total) in counts.items())
        super().__init__(f"retention purge refused (share): would delete {shown}; before={before}")
        self.rule = "share"
        self.before = before
        self.counts = dict(counts)

    @property
    def detail(self) -> str:
        """For the audit entry (the status page shows it as written)."""
        shown = " ".join(f"{table}={old}/{total}" for table, (old, total) in self.counts.items())
        return f"rule={self.rule} {shown} before={self.before}"


def over_share(old: int, total: int, max_share: float, small_run: int) -> bool:
    """The share rule of every retention purge: more than `max_share` of a table, unless it is
    at most `small_run` rows (a new or quiet appliance must still purge its first rows)."""
    return old > small_run and old > max_share * total


class RecordsRetention(Part):
    def __init__(
        self,
        database: Database,
        *,
        audit: AuditLog,
        statements: Statements,
        outbox: Outbox,
        appointments: Appointments,
    ) -> None:
        super().__init__(database)
        self._audit = audit
        self._statements = statements
        self._outbox = outbox
        self._appointments = appointments

    def purge_before(
        self,
        before: datetime,
        *,
        actor: str,
        max_share: float = 1.0,
        small_run: int = 0,
        batch: int = RECORDS_BATCH,
    ) -> RecordsPurged:
        """Delete statements made, re-check items finished and alerts acknowledged before
        `before` (see the module's doc)."""
        bound = instant_text(before)  # ValueError for a naive time
        shown = before.astimezone(UTC).isoformat()
        with self._database.write():
            (items, alerts) = self._outbox.aged(bound)
            counts = {
                "statements": self._statements.aged(bound),
                "outbox": items,
                "outbox_alerts": alerts,
                "appointments": self._appointments.aged(bound),
            }
            if any(over_share(old, total, max_share, small_run) for old, total in counts.values()):
                raise RecordsRetentionRefused(before=shown, counts=counts)
        purged = RecordsPurged()
        while True:
            with self._database.write() as db:
                statements = self._statements.purge_before(bound, batch)
                outbox, outbox_alerts = self._outbox.purge_before(bound, batch)
                went = RecordsPurged(statements, outbox, outbox_alerts)
                if went.total:
                    add_progress(db, _PROGRESS, _counts(went))
            purged = _plus(purged, went)
            self._database.between_batches()
            if max(_row(went)) < batch:
                break
        # The appointments in one write of their own: a few days' lists (they are not batched
        # yet; Appointments.purge_before takes no limit).
        with self._database.write() as db:
            went = RecordsPurged(appointments=self._appointments.purge_before(bound))
            if went.total:
                add_progress(db, _PROGRESS, _counts(went))
        purged = _plus(purged, went)
        with self._database.write() as db:
            done = take_progress(db, _PROGRESS)
            if done:
                self._audit.append(
                    actor,
                    PURGED_ACTION,
                    SUBJECT,
                    f"statements={done.get('statements', 0)} outbox={done.get('outbox', 0)}"
                    f" outbox_alerts={done.get('outbox_alerts', 0)}"
                    f" appointments={done.get('appointments', 0)} before={shown}",
                )
        if purged.total:
            self._database.checkpoint()
        return purged


_TABLES = ("statements", "outbox", "outbox_alerts", "appointments")


def _row(purged: RecordsPurged) -> tuple[int, int, int, int]:
    return purged.statements, purged.outbox, purged.outbox_alerts, purged.appointments


def _counts(purged: RecordsPurged) -> dict[str, int]:
    return dict(zip(_TABLES, _row(purged), strict=True))


def _plus(a: RecordsPurged, b: RecordsPurged) -> RecordsPurged:
    return RecordsPurged(*(x + y for x, y in zip(_row(a), _row(b), strict=True)))
