"""Desk alerts (device/deskalerts.py): what a visit left for staff to act on — a patient asking
for help, a PIN locked, a visit that timed out or failed, a card left on the reader — kept until
a person acknowledges it, so nothing vanishes with a page reload or a restart.

No personal data: a kind, the visit's id and a code saying more (an end reason, a reader name);
the words are the pages'. Each change and its audit entry are one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text

_COLUMNS = (
    "id, kind, visit_id, detail, created_at, acknowledged_by, acknowledged_name, acknowledged_at"
)


@dataclass(frozen=True)
class DeskAlertRow:
    id: int
    kind: str  # a device.deskalerts.AlertKind value
    visit_id: str  # "" when the alert is about no visit
    detail: str  # a code saying more (an end reason, a reader name), or ""
    created_at: datetime
    acknowledged_by: str = ""  # the user name of who acknowledged it
    acknowledged_name: str = ""  # their display name, as shown then
    acknowledged_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None


class DeskAlerts(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    @reserve_on_full
    def raise_alert(
        self, kind: str, *, visit_id: str = "", detail: str = "", actor: str = "appliance"
    ) -> DeskAlertRow | None:
        """Keep a new alert; None when the same kind is already open for this visit (an event
        seen twice raises one alert)."""
        now = self._now()
        with self._database.write() as db:
            if visit_id:
                same = db.execute(
                    "SELECT 1 FROM desk_alerts WHERE kind = ? AND visit_id = ?"
                    " AND acknowledged_at = ''",
                    [kind, visit_id],
                ).fetchone()
                if same is not None:
                    return None
            row_id = int(
                db.execute(
                    "INSERT INTO desk_alerts (kind, visit_id, detail, created_at) VALUES (?,?,?,?)",
                    [kind, visit_id, detail, instant_text(now)],
                ).lastrowid
                or 0
            )
            self._audit.append(actor, "desk_alert.raised", f"desk_alert:{row_id}", kind)
        return DeskAlertRow(row_id, kind, visit_id, detail, now)

    @reserve_on_full
    def acknowledge(self, alert_id: int, *, actor: str, display_name: str) -> DeskAlertRow | None:
        """A person has seen it and acts; None when there is no open alert by that id."""
        now = instant_text(self._now())
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE desk_alerts SET acknowledged_by = ?, acknowledged_name = ?,"
                " acknowledged_at = ? WHERE id = ? AND acknowledged_at = ''",
                [actor, display_name, now, alert_id],
            )
            if cursor.rowcount == 0:
                return None
            self._audit.append(
                actor, "desk_alert.acknowledged", f"desk_alert:{alert_id}", display_name
            )
        return self.alert(alert_id)

    def alert(self, alert_id: int) -> DeskAlertRow | None:
        rows = self._rows("WHERE id = ?", [alert_id])
        return rows[0] if rows else None

    def open_alerts(self, limit: int = 100) -> list[DeskAlertRow]:
        """Open alerts, oldest first (the first to act on)."""
        return self._rows("WHERE acknowledged_at = '' ORDER BY id LIMIT ?", [limit])

    def _rows(self, where: str, params: list[object]) -> list[DeskAlertRow]:
        with self._database.reading():
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM desk_alerts {where}", params
            ).fetchall()
        return [
            DeskAlertRow(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                instant_of(r[4]),
                str(r[5]),
                str(r[6]),
                instant_of(r[7]) if r[7] else None,
            )
            for r in rows
        ]
