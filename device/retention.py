"""What the appliance records of its retention runs, and how the newest one is found.

The jobs write these audit actions; the status page reads the newest to say whether retention is
running, held (the clock is not trusted) or refused (it would have deleted too much).
"""

from __future__ import annotations

from sync.store import AuditEntry, Store

# Audit actions of retention runs; the status page shows the newest of them.
RETENTION_PURGED = "retention.purged"  # written by the store with what it deleted
RETENTION_HELD = "retention.held"  # the clock is not trusted: the run waits
RETENTION_REFUSED = "retention.refused"  # it would have deleted too much: an admin must look
RETENTION_RESUMED = "retention.resumed"  # a run went ahead after an alert, with nothing to delete
RETENTION_ACTIONS = (RETENTION_PURGED, RETENTION_HELD, RETENTION_REFUSED, RETENTION_RESUMED)


def last_retention_run(store: Store) -> AuditEntry | None:
    """The audit entry of the newest retention run that left one."""
    runs = [e for action in RETENTION_ACTIONS for e in store.audit_search(action=action, limit=1)]
    return max(runs, key=lambda entry: entry.id) if runs else None
