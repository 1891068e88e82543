"""The night-before pre-check (一括照会, OQSmuquc) of one day's appointments: a kind of bulk run.

The engine (device/bulkrun.py) batches, uploads, polls and waits; this says what a run of a
day is (that day's appointments, in order), what one batch uploads, and how its answer is
kept. The nightly run starts once `bulk_at` (clinic time) has passed, for the NEXT day's
appointments, unless a run of that day is going or was started since then.

Each answered appointment is classified (sync.precheck.classify) and stored through
Confirmations.keep_prechecks, the one path to the central and to stored answers. Units whose
identifier matches no entry are logged and ignored; entries the answer has no unit for are
FAILED; a batch that ends without answers makes each of its appointments FAILED. Before a batch
is uploaded, the patient numbers not yet registered are registered as 照会番号 (OQSmuimm01);
a refused or failed registration never holds the check up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING

from device.bulkkind import ACTOR, RunParts, clinic_day, entry_id
from device.confirm import ConfirmationFailed
from sync.bulkmsg import (
    BulkAnswer,
    BulkEntry,
    BulkQuery,
    BulkReceipt,
    BulkUnit,
    BulkUpload,
    ReferenceRegistration,
    ReferenceRequest,
)
from sync.clock import JST
from sync.precheck import PrecheckClass, classify, limit_flag
from sync.store import BatchEnd, BulkBatchRow, BulkRunRow, numbers_key
from sync.store.bulkruns import PRECHECK
from sync.xmlmsg import SearchInfo

if TYPE_CHECKING:
    from sync.store import AppointmentRow

log = logging.getLogger(__name__)


def search_of(appointment: AppointmentRow) -> SearchInfo:
    # The limit class is asked so a changed 限度額区分 shows the night before; the clinic asks
    # it of its registered patients as it does for a numbers check at the desk.
    return SearchInfo(
        insurer_number=appointment.insurer_number,
        number=appointment.number,
        birthdate=appointment.birthdate,
        symbol=appointment.symbol,
        branch=appointment.branch,
        limit_consent=True,
    )


@dataclass(frozen=True)
class Counts:
    done: int = 0
    normal: int = 0
    attention: int = 0

    def add(self, klass: PrecheckClass) -> Counts:
        normal = 0 if klass.needs_attention else 1
        return Counts(self.done + 1, self.normal + normal, self.attention + 1 - normal)


class PrecheckRun:
    """The pre-check of a day's appointments, and the 照会番号 registration before it."""

    kind = PRECHECK
    shows_progress = True  # the desk's progress bar is the pre-check's

    def __init__(
        self,
        parts: RunParts,
        *,
        batch_size: int,
        new_file_id: Callable[[], str],
        bulk_at: str = "",
    ) -> None:
        self._store = parts.store
        self._confirmations = parts.confirmations
        self._code = parts.medical_institution_code
        self._clock = parts.clock
        self._batch_size = batch_size
        self._new_file_id = new_file_id
        self._at = _time_of_day(bulk_at)

    def members(self, day: str) -> list[int]:
        return [a.id for a in self._store.appointments_on(day)]

    def due(self) -> str | None:
        """The day whose nightly run starts now: the next day, once `bulk_at` has passed today
        (clinic time) and no run of that day is going or was started since then."""
        if self._at is None:
            return None
        now = self._clock()
        local = now.astimezone(JST)
        at = datetime.combine(local.date(), self._at, tzinfo=JST)
        if local < at:
            return None
        day = clinic_day(now, 1)
        latest = self._store.latest_bulk_run(day)
        if latest is not None and (latest.running or latest.created_at >= at):
            return None  # going already (one started by hand), or done since bulk_at
        return day

    # -- one batch ------------------------------------------------------------------------
    def upload(self, run: BulkRunRow, batch: BulkBatchRow, label: str) -> BulkReceipt:
        appointments = self._appointments(run.day, batch.appointment_ids)
        self.register(appointments, actor=ACTOR)
        request = BulkUpload(
            medical_institution_code=self._code,
            confirmation_date=run.day,
            file_id=batch.file_id,
            entries=tuple(BulkEntry(entry_id(a.id), search_of(a)) for a in appointments),
        )
        return self._confirmations.bulk_upload(request, label=label)

    def result(self, query: BulkQuery, label: str) -> BulkAnswer:
        return self._confirmations.bulk_result(query, label=label)

    def keep(self, run: BulkRunRow, batch: BulkBatchRow, answer: BulkAnswer, label: str) -> None:
        units: dict[str, BulkUnit] = {}
        wanted = {entry_id(i) for i in batch.appointment_ids}
        for received in answer.units:
            if received.identifier not in wanted:
                log.warning("%s: a unit for no entry of this batch is ignored", label)
                continue
            units[received.identifier] = received
        appointments = {a.id: a for a in self._appointments(run.day, batch.appointment_ids)}
        counts = Counts()
        kept: list[tuple[AppointmentRow, BulkUnit | None, PrecheckClass]] = []
        for appointment_id in batch.appointment_ids:
            appointment = appointments.get(appointment_id)
            if appointment is None:  # removed since the run began: nothing to store
                counts = counts.add(PrecheckClass.FAILED)
                continue
            unit = units.get(entry_id(appointment_id))
            klass = PrecheckClass.FAILED if unit is None else self._classify(appointment, unit)
            kept.append((appointment, unit, klass))
            counts = counts.add(klass)
        missing = len(batch.appointment_ids) - len(units)
        if missing:
            log.warning("%s: %d entries had no unit in the answer (FAILED)", label, missing)
        # The batch's pre-checks and its end: one transaction (kept whole, one commit).
        self._confirmations.keep_prechecks(
            kept,
            checked_at=self._clock(),
            actor=ACTOR,
            batch_end=BatchEnd(batch.id, False, "", counts.done, counts.normal, counts.attention),
        )

    def fail(self, run: BulkRunRow, batch: BulkBatchRow, reason: str) -> None:
        """Every appointment of the batch FAILED, with the batch's end."""
        failed = len(batch.appointment_ids)
        self._confirmations.keep_prechecks(
            [
                (appointment, None, PrecheckClass.FAILED)
                for appointment in self._appointments(run.day, batch.appointment_ids)
            ],
            checked_at=self._clock(),
            actor=ACTOR,
            batch_end=BatchEnd(batch.id, True, reason, failed, 0, failed),
        )

    # -- 照会番号 -------------------------------------------------------------------------
    def register_day(self, day: str, *, actor: str) -> int:
        """Register the patient numbers of `day`'s appointments not yet registered; how many
        the central registered now (0 when it could not be asked)."""
        return self.register(self._store.appointments_on(day), actor=actor)

    def register(self, appointments: Sequence[AppointmentRow], *, actor: str) -> int:
        """Register the patient numbers not yet registered; never raises for the central."""
        keyed: dict[str, AppointmentRow] = {}
        for a in appointments:
            if a.patient_number:
                numbers = numbers_key(a.insurer_number, a.symbol, a.number)
                keyed.setdefault(self._store.reference_key(a.patient_number, numbers), a)
        if not keyed:
            return 0
        known = self._store.references_registered(keyed)
        todo = [(k, a) for k, a in keyed.items() if k not in known]
        registered = 0
        for start in range(0, len(todo), self._batch_size):
            chunk = todo[start : start + self._batch_size]
            request = ReferenceRequest(
                self._code,
                self._new_file_id(),
                tuple(ReferenceRegistration(a.patient_number, search_of(a)) for _, a in chunk),
            )
            try:
                answer = self._confirmations.register_references(request, label="reference numbers")
            except ConfirmationFailed as failed:
                log.warning("照会番号 not registered now (%s); the check goes on", failed.reason)
                return registered
            ok = {o.reference_number for o in answer.outcomes if o.registered}
            refused = len(chunk) - sum(1 for _, a in chunk if a.patient_number in ok)
            if refused:
                log.warning("照会番号: %d of %d not registered by the central", refused, len(chunk))
            keys = [k for k, a in chunk if a.patient_number in ok]
            self._store.mark_references_registered(keys, actor=actor)
            registered += len(keys)
        return registered

    # -- small parts ----------------------------------------------------------------------
    def _classify(self, appointment: AppointmentRow, unit: BulkUnit) -> PrecheckClass:
        listed = search_of(appointment)
        klass = classify(unit.result, listed=listed)
        if klass is not PrecheckClass.VALID or not limit_flag(unit.result):
            return klass
        # Only a valid answer carrying a limit flag can have changed it: then look up the
        # patient's previous stored answer (by the list's numbers).
        return classify(unit.result, listed=listed, previous_limit=self._previous_limit(listed))

    def _previous_limit(self, listed: SearchInfo) -> str:
        earlier = self._store.find_by_numbers(
            listed.insurer_number, listed.symbol, listed.number, limit=5
        )
        for confirmation in earlier:
            if confirmation.result.results:
                return limit_flag(confirmation.result)
        return ""

    def _appointments(self, day: str, ids: Sequence[int]) -> list[AppointmentRow]:
        wanted = set(ids)
        by_id = {a.id: a for a in self._store.appointments_on(day) if a.id in wanted}
        return [by_id[i] for i in ids if i in by_id]


def _time_of_day(text: str) -> time | None:
    if not text:
        return None
    hour, minute = (int(part) for part in text.split(":"))
    return time(hour, minute)
