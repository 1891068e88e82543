"""Face files waiting to be written for the receipt computer (device/export.py writes them).

A row is queued in the same transaction as the answer it exports, so an answer acknowledged to
anyone always has its file, written now or after the next start; a row holds no personal data
(the file is built from the stored, encrypted answer when it is written). Written rows go with
their confirmation (the retention purge).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text


@dataclass(frozen=True)
class ExportItem:
    id: int
    confirmation_id: int
    name: str
    created_at: datetime
    attempts: int
    last_error: str


@dataclass(frozen=True)
class ExportCounts:
    pending: int
    written: int
    last_error: str  # of the oldest pending file, "" when none failed


class Exports(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    def queue(self, confirmation_id: int, name: str) -> None:
        """Inside the answer's write block: its file is to be written."""
        with self._database.write() as db:
            db.execute(
                "INSERT INTO exports (confirmation_id, name, created_at) VALUES (?,?,?)"
                " ON CONFLICT(confirmation_id) DO NOTHING",
                [confirmation_id, name, instant_text(self._now())],
            )

    def pending(self, limit: int) -> list[ExportItem]:
        """Files not written yet, oldest first."""
        with self._database.lock:
            rows = self._db.execute(
                "SELECT id, confirmation_id, name, created_at, attempts, last_error FROM exports"
                " WHERE written_at = '' ORDER BY id LIMIT ?",
                [limit],
            ).fetchall()
        return [ExportItem(r[0], r[1], r[2], instant_of(r[3]), r[4], r[5]) for r in rows]

    @reserve_on_full
    def written(self, export_id: int, *, actor: str) -> None:
        with self._database.write() as db:
            db.execute(
                "UPDATE exports SET written_at = ?, last_error = '' WHERE id = ?",
                [instant_text(self._now()), export_id],
            )
            self._audit.append(actor, "export.written", f"export:{export_id}", "")

    def failed(self, export_id: int, error: str) -> None:
        """The folder refused the file: kept pending, with why (no personal data in `error`)."""
        with self._database.write() as db:
            db.execute(
                "UPDATE exports SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [error[:200], export_id],
            )

    def counts(self) -> ExportCounts:
        with self._database.lock:
            pending, written = self._db.execute(
                "SELECT COALESCE(SUM(written_at = ''), 0), COALESCE(SUM(written_at != ''), 0)"
                " FROM exports"
            ).fetchone()
            row = self._db.execute(
                "SELECT last_error FROM exports WHERE written_at = '' ORDER BY id LIMIT 1"
            ).fetchone()
        return ExportCounts(int(pending), int(written), str(row[0]) if row else "")
