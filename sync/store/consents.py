"""Consent flags as central answered them, and medical information cached under them.

Medical information fetched under consent is cached encrypted like the answers, bound to
(confirmation, kind); both go with their confirmation (ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from sync.clock import JST
from sync.store.database import Part
from sync.store.instant import instant_of, instant_text, optional_instant_of
from sync.xmlmsg import ConsentState


@dataclass(frozen=True)
class ConsentRecord:
    """A consent flag as the central answered it for one confirmation."""

    confirmation_id: int
    kind: str  # "drug" | "checkup" | "diagnosis" | "surgery" (codes.CONSENT_FLAG_TAG keys)
    flag: str  # …ConsFlg as answered: "1" yes, "0" no, other values kept as given
    consented_at: datetime | None  # …ConsTime (JST on the wire), aware
    available_until: datetime | None  # …AvailableTime, aware

    @property
    def agreed(self) -> bool:
        return self.flag == "1"


@dataclass(frozen=True)
class CachedClinical:
    data: bytes
    fetched_at: datetime
    expires_at: datetime


class Consents(Part):
    def insert_consent(self, confirmation_id: int, consent: ConsentState) -> None:
        """Inside the write block that stores the confirmation."""
        consented = _wire_time(consent.time)
        until = _wire_time(consent.available_time)
        self._db.execute(
            "INSERT INTO consents (confirmation_id, kind, flag, consented_at, available_until)"
            " VALUES (?,?,?,?,?)",
            [
                confirmation_id,
                consent.kind,
                consent.flag,
                instant_text(consented) if consented else "",
                instant_text(until) if until else "",
            ],
        )

    def consents(self, confirmation_id: int) -> list[ConsentRecord]:
        with self._database.lock:
            rows = self._db.execute(
                "SELECT confirmation_id, kind, flag, consented_at, available_until FROM consents"
                " WHERE confirmation_id = ? ORDER BY kind",
                [confirmation_id],
            ).fetchall()
        return [
            ConsentRecord(
                row[0], row[1], row[2], optional_instant_of(row[3]), optional_instant_of(row[4])
            )
            for row in rows
        ]

    def put_clinical_cache(
        self,
        confirmation_id: int,
        kind: str,
        data: bytes,
        fetched_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Keep (replace) the answer for one patient and kind, encrypted, until expires_at."""
        blob = self._database.cipher.encrypt(data, _cache_binding(confirmation_id, kind))
        with self._database.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO clinical_cache (confirmation_id, kind, fetched_at,"
                " expires_at, enc_data) VALUES (?,?,?,?,?)",
                [confirmation_id, kind, instant_text(fetched_at), instant_text(expires_at), blob],
            )

    def clinical_cache(
        self, confirmation_id: int, kind: str, now: datetime
    ) -> CachedClinical | None:
        """The cached answer, or None when there is none or it has expired at `now`."""
        with self._database.lock:
            row = self._db.execute(
                "SELECT fetched_at, expires_at, enc_data FROM clinical_cache"
                " WHERE confirmation_id = ? AND kind = ? AND expires_at > ?",
                [confirmation_id, kind, instant_text(now)],
            ).fetchone()
        if row is None:
            return None
        return CachedClinical(
            self._database.cipher.decrypt(row[2], _cache_binding(confirmation_id, kind)),
            instant_of(row[0]),
            instant_of(row[1]),
        )

    def purge_clinical_cache(self, now: datetime) -> int:
        with self._database.write() as db:
            cursor = db.execute(
                "DELETE FROM clinical_cache WHERE expires_at <= ?", [instant_text(now)]
            )
            return int(cursor.rowcount)


def _wire_time(value: str) -> datetime | None:
    """YYYYMMDDHHmmss in Japan time → aware datetime; None when empty or not a real time."""
    try:
        at = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=JST)
        at.astimezone(UTC)  # the first hours of year 1 in Japan have no UTC instant
    except (ValueError, OverflowError):
        return None
    return at


def _cache_binding(confirmation_id: int, kind: str) -> str:
    return f"clinical_cache.enc_data:{confirmation_id}:{kind}"


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """A cached answer and its binding, for the key check."""
    row = db.execute(
        "SELECT confirmation_id, kind, enc_data FROM clinical_cache LIMIT 1"
    ).fetchone()
    return None if row is None else (bytes(row[2]), _cache_binding(int(row[0]), str(row[1])))
