"""Face files the official terminal wrote into its face/ folder, by name and content hash, so
each is handled once: files already there at start, copies under another name, and the same
file seen by a file event and a rescan. No personal data: names carry the institution code, the
terminal's id and a time; the answer itself is stored (encrypted) like any other."""

from __future__ import annotations

from sync.store.database import Part
from sync.store.instant import instant_text


class FaceFiles(Part):
    def seen(self, name: str, sha256: str) -> str:
        """How a file with this name or content was handled before ("" when never)."""
        with self._database.lock:
            row = self._db.execute(
                "SELECT outcome FROM face_files WHERE name = ? OR sha256 = ? ORDER BY id LIMIT 1",
                [name, sha256],
            ).fetchone()
        return str(row[0]) if row else ""

    def record(
        self, name: str, sha256: str, outcome: str, confirmation_id: int | None = None
    ) -> None:
        """Inside the caller's write when an answer goes with it."""
        with self._database.write() as db:
            db.execute(
                "INSERT INTO face_files (name, sha256, confirmation_id, outcome, seen_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT(name) DO NOTHING",
                [name, sha256, confirmation_id, outcome, instant_text(self._now())],
            )
