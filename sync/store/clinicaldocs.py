"""Drug and checkup history as a document (the PDF of a FileCategory 1 answer), for the doctor's
view: encrypted like every answer, the row's (confirmation, kind) bound into the encryption
(a blob copied to another row does not decrypt), kept until the consent it was fetched under
ends, and gone with its confirmation (ON DELETE CASCADE)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from sync.store.database import Part
from sync.store.instant import instant_of, instant_text


@dataclass(frozen=True)
class CachedDocument:
    data: bytes
    media_type: str  # "application/pdf"
    fetched_at: datetime
    expires_at: datetime


class ClinicalDocuments(Part):
    def put_clinical_document(
        self,
        confirmation_id: int,
        kind: str,
        data: bytes,
        media_type: str,
        fetched_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Keep (replace) the document for one patient and kind, encrypted, until expires_at."""
        blob = self._database.cipher.encrypt(data, _binding(confirmation_id, kind, media_type))
        with self._database.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO clinical_documents (confirmation_id, kind, media_type,"
                " fetched_at, expires_at, enc_data) VALUES (?,?,?,?,?,?)",
                [
                    confirmation_id,
                    kind,
                    media_type,
                    instant_text(fetched_at),
                    instant_text(expires_at),
                    blob,
                ],
            )

    def clinical_document(
        self, confirmation_id: int, kind: str, now: datetime
    ) -> CachedDocument | None:
        """The kept document, or None when there is none or it has expired at `now`."""
        with self._database.lock:
            row = self._db.execute(
                "SELECT media_type, fetched_at, expires_at, enc_data FROM clinical_documents"
                " WHERE confirmation_id = ? AND kind = ? AND expires_at > ?",
                [confirmation_id, kind, instant_text(now)],
            ).fetchone()
        if row is None:
            return None
        media_type = str(row[0])
        return CachedDocument(
            self._database.cipher.decrypt(row[3], _binding(confirmation_id, kind, media_type)),
            media_type,
            instant_of(row[1]),
            instant_of(row[2]),
        )

    def purge_clinical_documents(self, now: datetime) -> int:
        with self._database.write() as db:
            cursor = db.execute(
                "DELETE FROM clinical_documents WHERE expires_at <= ?", [instant_text(now)]
            )
            return int(cursor.rowcount)


def _binding(confirmation_id: int, kind: str, media_type: str) -> str:
    return f"clinical_documents.enc_data:{confirmation_id}:{kind}:{media_type}"


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """A kept document and its binding, for the key check (none before the table exists: a
    store opened at an older schema, as the migration tests do)."""
    if not db["clinical_documents"].exists():
        return None
    row = db.execute(
        "SELECT confirmation_id, kind, media_type, enc_data FROM clinical_documents LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return bytes(row[3]), _binding(int(row[0]), str(row[1]), str(row[2]))
