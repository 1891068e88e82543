"""Retention of the records kept beside the answers: the 申立書 (statements.py), the
re-check queue's finished items and acknowledged alerts (outbox.py), and the appointments whose
time is past the bound (appointments.py).

They follow the confirmations' retention: the job (device/jobs.py) runs this purge with the
same bound, by the same trusted clock, right after the confirmations purge (whose guards,
visits.py, have then passed for that bound). The share rule is applied here too, per table: a
run that would delete more than `max_share` of a table (runs of at most `small_run` rows aside)
deletes nothing and raises RecordsRetentionRefused. A queued re-check and an alert no person
has acknowledged are never deleted. One transaction, one audit entry when anything went.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sync.store.appointments import Appointments
from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part
from sync.store.instant import instant_text
from sync.store.outbox import Outbox
from sync.store.statements import Statements

PURGED_ACTION = "retention.purged"  # as the confirmations purge writes it
SUBJECT = "statements_outbox"


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
            statements = self._statements.purge_before(bound)
            outbox, outbox_alerts = self._outbox.purge_before(bound)
            appointments = self._appointments.purge_before(bound)
            purged = RecordsPurged(statements, outbox, outbox_alerts, appointments)
            if purged.total:
                self._audit.append(
                    actor,
                    PURGED_ACTION,
                    SUBJECT,
                    f"statements={statements} outbox={outbox} outbox_alerts={outbox_alerts}"
                    f" appointments={appointments} before={shown}",
                )
        return purged
