"""The monthly 医療扶助 bulk's answers (device/bulkrun.py, kind "aid"): one per recipient and
treatment month.

A recipient is keyed by a blind index of (公費負担者番号, 受給者番号, birth date): the desk
finds an appointment's recipient's answer without anything readable in the key. The answer (the
unit's single-result XML, carrying the month's MedicalTicketInfo) is encrypted, bound to its
key and month; the status (QualificationValidity, "" when the central could not answer) is
plain, so the 「明日の予約」 page can mark appointments without decrypting. Each write and its
audit entry in one transaction; reading an answer is the caller's to audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text


@dataclass(frozen=True)
class AidTicketRecord:
    """One recipient's answer to store."""

    public_number: str  # 公費負担者番号
    recipient: str  # 受給者番号
    birthdate: str  # YYYYMMDD
    status: str  # QualificationValidity of the unit ("1" with tickets, "6", "4" …; "" failed)
    raw: bytes  # the unit as a single result document (b"" when there is none)


@dataclass(frozen=True)
class AidTicketRow:
    month: str  # YYYYMM
    status: str
    checked_at: datetime


class AidTickets(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    def key(self, public_number: str, recipient: str, birthdate: str) -> str:
        plain = f"{public_number.strip()}\x00{recipient.strip()}\x00{birthdate.strip()}"
        return self._database.cipher.blind_index("aid_recipient", plain)

    @reserve_on_full
    def record(
        self,
        month: str,
        records: Sequence[AidTicketRecord],
        *,
        checked_at: datetime,
        actor: str,
        run_id: int,
    ) -> None:
        """Keep each recipient's answer for `month` (replacing an earlier one), one audit
        entry for them all, in one transaction."""
        if not records:
            return
        at = instant_text(checked_at)
        with self._database.write() as db:
            for r in records:
                key = self.key(r.public_number, r.recipient, r.birthdate)
                db.execute(
                    "INSERT OR REPLACE INTO aid_tickets (bi_recipient, month, status,"
                    " enc_answer, checked_at) VALUES (?,?,?,?,?)",
                    [key, month, r.status, self._encrypt(key, month, r.raw), at],
                )
            self._audit.append(
                actor, "aid.tickets_kept", f"bulk_run:{run_id}", f"month={month} n={len(records)}"
            )

    def status(self, keys: Sequence[str], month: str) -> dict[str, AidTicketRow]:
        """The kept answers of `keys` for `month` (status only: nothing decrypted)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, AidTicketRow] = {}
        with self._database.lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    "SELECT bi_recipient, status, checked_at FROM aid_tickets"
                    f" WHERE month = ? AND bi_recipient IN ({marks})",
                    [month, *chunk],
                ).fetchall():
                    found[str(row[0])] = AidTicketRow(month, str(row[1]), instant_of(row[2]))
        return found

    def answer(self, key: str, month: str) -> bytes | None:
        with self._database.lock:
            row = self._db.execute(
                "SELECT enc_answer FROM aid_tickets WHERE bi_recipient = ? AND month = ?",
                [key, month],
            ).fetchone()
        if row is None:
            return None
        return self._database.cipher.decrypt(bytes(row[0]), _binding(key, month))

    def _encrypt(self, key: str, month: str, raw: bytes) -> bytes:
        return self._database.cipher.encrypt(raw, _binding(key, month))


def _binding(key: str, month: str) -> str:
    return f"aid_tickets.enc_answer:{key}:{month}"
