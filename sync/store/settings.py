"""Settings saved on the admin page (validated by device.config before saving).

No setting holds personal data; who changed what, and when, is in the audit log.
"""

from __future__ import annotations

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part

SETTING_DEFAULT_MARK = "(既定 / default)"


class Settings(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    def stored_settings(self) -> dict[str, str]:
        with self._database.lock:
            rows = self._db.execute("SELECT name, value FROM settings ORDER BY name").fetchall()
        return {str(name): str(value) for name, value in rows}

    def save_setting(
        self, name: str, value: str, *, actor: str, previous: str | None = None
    ) -> None:
        """Save one value with its audit entry in one transaction; `previous` is the value in
        effect before (default: the one stored)."""
        with self._database.write() as db:
            row = db.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchone()
            old = previous if previous is not None else (str(row[0]) if row else "")
            db.execute(
                "INSERT INTO settings (name, value) VALUES (?,?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [name, value],
            )
            self._audit.append(actor, "setting.changed", f"setting:{name}", f"{old} → {value}")

    def delete_setting(self, name: str, *, actor: str) -> None:
        """Back to the value below the admin page (file or default); audited when one existed."""
        with self._database.write() as db:
            row = db.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchone()
            if row is None:
                return
            db.execute("DELETE FROM settings WHERE name = ?", [name])
            self._audit.append(
                actor, "setting.changed", f"setting:{name}", f"{row[0]} → {SETTING_DEFAULT_MARK}"
            )
