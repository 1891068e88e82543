"""The monthly 医療扶助 bulk (OQSmutic): a kind of bulk run on the same batches, polls and backoff
as the pre-check (device/bulkrun.py).

Its `day` is the treatment month (YYYYMM); its entries are the month's 医療扶助 recipients
(appointments of that month whose insurer number is a 生活保護 公費負担者番号, 法別 12), one per
(公費負担者番号, 受給者番号, birth date), each under its first appointment's identifier. Each
recipient's answer (the month's 医療券) is kept per recipient and month
(sync/store/aidtickets.py); 「明日の予約」 marks the appointments of recipients. It starts on
`aid_day` of each month (once a month) and on demand (「医療券を一括取得」: tomorrow's month).
A batch that ends without answers keeps no ticket: the desk asks for the paper 医療券 as before.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from typing import TYPE_CHECKING

from device.bulkkind import ACTOR, RunParts, entry_id
from sync.bulkmsg import AidEntry, AidUpload, BulkAnswer, BulkQuery, BulkReceipt, BulkUnit
from sync.clock import JST
from sync.store import AidTicketRecord, BatchEnd, BulkBatchRow, BulkRunRow, Store
from sync.store.bulkruns import AID

if TYPE_CHECKING:
    from sync.store import AppointmentRow

AID_LAW = "12"  # 法別番号 of 生活保護 (医療扶助): the first two digits of its 公費負担者番号


class AidRun:
    """The month's 医療券 of its 医療扶助 recipients."""

    kind = AID
    shows_progress = False  # the desk's progress bar is the pre-check's

    def __init__(
        self,
        parts: RunParts,
        *,
        aid_day: int = 0,
    ) -> None:
        self._store = parts.store
        self._confirmations = parts.confirmations
        self._code = parts.medical_institution_code
        self._clock = parts.clock
        self._aid_day = aid_day  # day of month of the 医療扶助 bulk; 0 = none

    def members(self, month: str) -> list[int]:
        return list(aid_recipients(self._store, month).values())

    def due(self) -> str | None:
        """The month whose run starts now: this month, once `aid_day` (clinic time) has come
        and none of this month was made yet."""
        if not self._aid_day:
            return None
        local = self._clock().astimezone(JST)
        if local.day < self._aid_day:
            return None
        month = local.strftime("%Y%m")
        if self._store.latest_bulk_run(month, kind=AID) is not None:
            return None
        return month

    def upload(self, run: BulkRunRow, batch: BulkBatchRow, label: str) -> BulkReceipt:
        request = AidUpload(
            medical_institution_code=self._code,
            treatment_month=run.day,
            file_id=batch.file_id,
            entries=tuple(
                AidEntry(entry_id(a.id), a.insurer_number.strip(), a.number.strip(), a.birthdate)
                for a in self._appointments(batch.appointment_ids)
            ),
        )
        return self._confirmations.aid_upload(request, label=label)

    def result(self, query: BulkQuery, label: str) -> BulkAnswer:
        return self._confirmations.aid_result(query, label=label)

    def keep(self, run: BulkRunRow, batch: BulkBatchRow, answer: BulkAnswer, label: str) -> None:
        """Each recipient's answer, kept per recipient and month, with the batch's end; a
        recipient is "normal" when valid with a 医療券 of the month."""
        units = {u.identifier: u for u in answer.units}
        records: list[AidTicketRecord] = []
        normal = 0
        for a in self._appointments(batch.appointment_ids):
            unit = units.get(entry_id(a.id))
            status = (
                "" if unit is None or unit.result.processing_status != "1" else unit.result.validity
            )
            if status == "1" and has_ticket(unit, run.day):
                normal += 1
            raw = b"" if unit is None else unit.raw
            records.append(
                AidTicketRecord(
                    a.insurer_number.strip(), a.number.strip(), a.birthdate, status, raw
                )
            )
        done = len(batch.appointment_ids)
        self._store.keep_aid_tickets(
            run.day,
            records,
            checked_at=self._clock(),
            actor=ACTOR,
            run_id=run.id,
            batch_end=BatchEnd(batch.id, False, "", done, normal, done - normal),
        )

    def fail(self, run: BulkRunRow, batch: BulkBatchRow, reason: str) -> None:
        """The batch's end, and no ticket kept."""
        failed = len(batch.appointment_ids)
        self._store.bulk_batch_ended(
            batch.id,
            failed=True,
            reason=reason,
            done=failed,
            normal=0,
            attention=failed,
            actor=ACTOR,
        )

    def _appointments(self, ids: Sequence[int]) -> list[AppointmentRow]:
        """The appointments `ids` (a run of a month may span its days), in order."""
        found = [self._store.appointment(i) for i in ids]
        return [a for a in found if a is not None]


def is_aid_recipient(appointment: AppointmentRow) -> bool:
    """Whether the appointment's insurer number is a 生活保護 公費負担者番号 (法別 12)."""
    insurer = appointment.insurer_number.strip()
    return len(insurer) == 8 and insurer.startswith(AID_LAW)


def month_days(month: str) -> list[str]:
    """YYYYMMDD of every day of `month` (YYYYMM)."""
    year, number = int(month[:4]), int(month[4:])
    return [f"{month}{d:02d}" for d in range(1, calendar.monthrange(year, number)[1] + 1)]


def aid_recipients(store: Store, month: str) -> dict[tuple[str, str, str], int]:
    """The month's 医療扶助 recipients: (公費負担者番号, 受給者番号, birth date) → the id of
    their first appointment in the month."""
    found: dict[tuple[str, str, str], int] = {}
    for day in month_days(month):
        for a in store.appointments_on(day):
            if is_aid_recipient(a):
                found.setdefault((a.insurer_number.strip(), a.number.strip(), a.birthdate), a.id)
    return found


def has_ticket(unit: BulkUnit | None, month: str) -> bool:
    return unit is not None and any(
        t.treatment_month == month for q in unit.result.results for t in q.medical_tickets
    )
