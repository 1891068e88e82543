"""What a retention run's batches deleted so far, kept in retention_state until the run's one
audit entry says it: the entry of the run after one stopped between two batches counts those
batches too, so every deleted row is audited (visits.py, retention.py)."""

from __future__ import annotations

import sqlite_utils


def add_progress(db: sqlite_utils.Database, name: str, counts: dict[str, int]) -> None:
    """Inside a retention batch's transaction: add what it deleted to the run's count
    (retention_state `name`, "table=N ..."), kept until the run's audit entry says it, so the
    entry of the run after one stopped between two batches counts those batches too."""
    total = take_progress(db, name, keep=True)
    for table, deleted in counts.items():
        total[table] = total.get(table, 0) + deleted
    db.execute(
        "INSERT INTO retention_state (name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [name, " ".join(f"{table}={n}" for table, n in sorted(total.items()))],
    )


def take_progress(db: sqlite_utils.Database, name: str, *, keep: bool = False) -> dict[str, int]:
    """What the batches counted under `name` deleted ({} when nothing); removed unless `keep`
    (inside the transaction that writes the run's audit entry)."""
    row = db.execute("SELECT value FROM retention_state WHERE name = ?", [name]).fetchone()
    if row is None:
        return {}
    if not keep:
        db.execute("DELETE FROM retention_state WHERE name = ?", [name])
    pairs = (part.partition("=") for part in str(row[0]).split())
    return {table: int(n) for table, _, n in pairs if n.isdigit()}
