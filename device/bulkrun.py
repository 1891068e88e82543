"""The bulk pre-check (一括照会) of one day's appointments: batches, reception numbers, polling.

A run takes the appointments of one day (clinic time) and splits them into batches of at most
`bulk_batch_size` (the official MAX_BULK_ENTRIES). Every batch is written before any call
(sync/store/bulkruns.py): its file id, fixed when the run is made, is the idempotency key of
its upload, so a batch whose upload was sent but whose answer was lost is uploaded again under
the same id and the central hands back the same reception number. Once the reception number
is received it is kept, and from then on the batch only polls it (OQSmuquc02): a restart in the
middle of a run polls the same number and uploads nothing again.

`tick` is what the scheduled job (device/jobs.py `bulk_inquiry`) runs every second: the
nightly run once `bulk_at` (clinic time) has passed, for the NEXT day's appointments, then
every batch whose next call is due. Polls back off 1 s, 2 s, 4 s … up to `bulk_poll_max_s`.
The central unavailable (or its circuit open) is no failure: the batch waits the same backoff
and the run shows "waiting" until it answers. A refusal, an unreadable answer or a certificate
mismatch ends that batch as failed: its appointments are FAILED and the desk gets an alert.

Each answered appointment is classified (sync.precheck.classify) and stored through
Confirmations.keep_precheck, the one path to the central and to stored answers. Units whose
identifier matches no entry are logged and ignored; entries the answer has no unit for are
FAILED. Before a batch is uploaded, the patient numbers not yet registered are registered as
照会番号 (OQSmuimm01); a refused or failed registration never holds the check up.

Progress is pushed on the bus (device.events.BulkProgress) after every step. Clocks are
injected: nothing here reads today's date.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time as monotonic_time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from device.confirm import ConfirmationFailed, Confirmations
from device.events import BulkBatchFailed, BulkProgress, EventBus
from sync.bulkmsg import (
    MAX_BULK_ENTRIES,
    BulkAnswer,
    BulkEntry,
    BulkQuery,
    BulkUnit,
    BulkUpload,
    ReferenceRegistration,
    ReferenceRequest,
)
from sync.clock import JST
from sync.precheck import PrecheckClass, classify, limit_flag
from sync.store import BatchEnd, BulkBatchRow, BulkRunRow, Store, numbers_key
from sync.store.bulkruns import DONE, FAILED, PENDING, RUNNING
from sync.transport import CentralFault, CentralRefused
from sync.xmlmsg import SearchInfo

if TYPE_CHECKING:
    from sync.store import AppointmentRow

log = logging.getLogger(__name__)

ACTOR = "bulk"  # who the audit names for what a run does
FIRST_POLL_S = 1.0  # the first poll after an upload, and the first wait after a failure
NIGHTLY, NOW = "nightly", "now"  # what started a run


class RunState(StrEnum):
    """A run as the desk shows it (web/ words them)."""

    RUNNING = "running"
    WAITING = "waiting"  # the central is unavailable: the run waits and tries again
    DONE = "done"
    FAILED = "failed"  # ended, and at least one batch got no answers


def backoff_s(attempts: int, cap_s: float) -> float:
    """1 s, 2 s, 4 s … after `attempts` calls without a step forward, never above `cap_s`."""
    return min(cap_s, FIRST_POLL_S * float(2 ** min(attempts, 30)))


def clinic_day(at: datetime, days: int = 0) -> str:
    """YYYYMMDD of `at` in the clinic's time zone, `days` later."""
    return (at.astimezone(JST).date() + timedelta(days=days)).strftime("%Y%m%d")


def entry_id(appointment_id: int) -> str:
    """The ArbitraryIdentifier of an appointment's entry."""
    return f"a{appointment_id}"


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


class BulkRuns:
    """Starts runs (nightly, on demand) and moves their batches; thread-safe."""

    def __init__(
        self,
        *,
        store: Store,
        confirmations: Confirmations,
        bus: EventBus,
        medical_institution_code: str,
        clock: Callable[[], datetime],
        batch_size: int = MAX_BULK_ENTRIES,
        poll_max_s: float = 60.0,
        bulk_at: str = "",
        new_file_id: Callable[[], str] = lambda: secrets.token_hex(10),
    ) -> None:
        if not 1 <= batch_size <= MAX_BULK_ENTRIES:
            raise ValueError(f"batch_size must be 1–{MAX_BULK_ENTRIES}")
        self._store = store
        self._confirmations = confirmations
        self._bus = bus
        self._code = medical_institution_code
        self._clock = clock
        self._batch_size = batch_size
        self._poll_max_s = max(FIRST_POLL_S, poll_max_s)
        self._at = _time_of_day(bulk_at)
        self._new_file_id = new_file_id
        self._start_lock = threading.Lock()
        self._step_lock = threading.Lock()

    # -- starting -------------------------------------------------------------------------
    def start(self, day: str, *, trigger: str = NOW, actor: str = ACTOR) -> BulkRunRow:
        """A run of `day`'s appointments; the running one when that day already has one (a
        second press of 「今すぐ照会」 starts nothing more)."""
        with self._start_lock:
            for run in self._store.running_bulk_runs():
                if run.day == day:
                    return run
            ids = [a.id for a in self._store.appointments_on(day)]
            size = self._batch_size
            batches = [
                (self._new_file_id(), ids[start : start + size])
                for start in range(0, len(ids), size)
            ]
            run = self._store.create_bulk_run(
                day, trigger=trigger, actor=actor, batches=batches, first_at=self._clock()
            )
        log.info(
            "bulk run %d: %s, %d appointments in %d batches", run.id, day, run.total, len(batches)
        )
        self._publish(run.id)
        return run

    def start_tomorrow(self, *, actor: str) -> BulkRunRow:
        """「今すぐ照会」: the next day's appointments, now."""
        return self.start(self.tomorrow(), trigger=NOW, actor=actor)

    def tomorrow(self) -> str:
        return clinic_day(self._clock(), 1)

    def nightly(self) -> BulkRunRow | None:
        """The nightly run of the next day, once `bulk_at` has passed today (clinic time) and
        no run of that day is going or was started since then; None when there is nothing to
        start."""
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
        return self.start(day, trigger=NIGHTLY, actor=ACTOR)

    # -- moving ---------------------------------------------------------------------------
    def tick(self) -> int:
        """What the scheduled job runs: the nightly start when due, then the due batches."""
        started = self.nightly()
        return self.step() + (1 if started is not None else 0)

    def step(self) -> int:
        """One call for each batch that is due (upload or poll); runs whose batches have all
        ended are finished. Returns how many batches were called."""
        with self._step_lock:
            due = self._store.due_bulk_batches(self._clock())
            touched: set[int] = set()
            for batch in due:
                try:
                    self._advance(batch)
                except Exception:  # a bug or a full disk in one batch: the others go on
                    log.exception("bulk batch %d: step failed; tried again later", batch.id)
                    self._store.bulk_batch_again(
                        batch.id,
                        next_at=self._later(batch.attempts),
                        waiting=False,
                        reason="error",
                    )
                touched.add(batch.run_id)
            for run in self._store.running_bulk_runs():
                if self._finish_if_ended(run):
                    touched.add(run.id)
            for run_id in touched:
                self._publish(run_id)
            return len(due)

    def next_due(self) -> datetime | None:
        """When a batch next needs a call (None: no run is going)."""
        return self._store.next_bulk_due()

    def drive(
        self,
        run_id: int,
        *,
        sleep: Callable[[float], None] = monotonic_time.sleep,
        timeout_s: float = 600.0,
    ) -> BulkRunRow:
        """Step until run `run_id` has ended, sleeping until the next due call (for the CLI,
        the bench and tests; the appliance lets its job do it). TimeoutError past
        `timeout_s` of sleeping."""
        slept = 0.0
        while True:
            self.step()
            run = self._store.bulk_run(run_id)
            if run is None or not run.running:
                assert run is not None
                return run
            due = self.next_due()
            wait = 0.0 if due is None else (due - self._clock()).total_seconds()
            if slept >= timeout_s:
                raise TimeoutError(f"bulk run {run_id} still running after {slept:.0f} s")
            if wait > 0:
                sleep(wait)
                slept += wait

    # -- reading --------------------------------------------------------------------------
    def progress(self, run_id: int) -> BulkProgress | None:
        run = self._store.bulk_run(run_id)
        if run is None:
            return None
        return BulkProgress(
            run.id, run.day, run.total, run.done, run.normal, run.attention, self._state(run)
        )

    def latest(self, day: str | None = None) -> BulkProgress | None:
        """The newest run's progress (of `day`, when given)."""
        run = self._store.latest_bulk_run(day)
        return None if run is None else self.progress(run.id)

    # -- 照会番号 -------------------------------------------------------------------------
    def register_day(self, day: str, *, actor: str) -> int:
        """Register the patient numbers of `day`'s appointments not yet registered; how many
        the central registered now (0 when it could not be asked)."""
        return self._register(self._store.appointments_on(day), actor=actor)

    # -- one batch ------------------------------------------------------------------------
    def _advance(self, batch: BulkBatchRow) -> None:
        run = self._store.bulk_run(batch.run_id)
        if run is None or not run.running:
            return
        label = f"bulk run {run.id} batch {batch.seq}"
        try:
            if batch.state == PENDING:
                self._upload(run, batch, label)
            else:
                self._poll(run, batch, label)
        except ConfirmationFailed as failed:
            if failed.cause.fault is CentralFault.UNAVAILABLE:
                self._store.bulk_batch_again(
                    batch.id,
                    next_at=self._later(batch.attempts),
                    waiting=True,
                    reason=CentralFault.UNAVAILABLE.value,
                )
                return
            self._fail(run, batch, _reason(failed))

    def _upload(self, run: BulkRunRow, batch: BulkBatchRow, label: str) -> None:
        appointments = self._appointments(run.day, batch.appointment_ids)
        self._register(appointments, actor=ACTOR)
        request = BulkUpload(
            medical_institution_code=self._code,
            confirmation_date=run.day,
            file_id=batch.file_id,
            entries=tuple(BulkEntry(entry_id(a.id), search_of(a)) for a in appointments),
        )
        receipt = self._confirmations.bulk_upload(request, label=label)
        self._store.bulk_batch_received(
            batch.id, receipt.reception_number, next_at=self._later(0), actor=ACTOR
        )
        log.info("%s: received as %s", label, receipt.reception_number)

    def _poll(self, run: BulkRunRow, batch: BulkBatchRow, label: str) -> None:
        query = BulkQuery(self._code, self._new_file_id(), batch.reception_number)
        answer = self._confirmations.bulk_result(query, label=label)
        if answer.segment_of_result == "9":
            self._fail(run, batch, f"abnormal:{answer.error_code}".rstrip(":"))
            return
        if not answer.ready:
            self._store.bulk_batch_again(
                batch.id, next_at=self._later(batch.attempts), waiting=False
            )
            return
        self._keep(run, batch, answer, label)

    def _keep(self, run: BulkRunRow, batch: BulkBatchRow, answer: BulkAnswer, label: str) -> None:
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

    def _fail(self, run: BulkRunRow, batch: BulkBatchRow, reason: str) -> None:
        """The batch ends without answers: every appointment of it FAILED, and an alert."""
        log.warning("bulk run %d batch %d failed: %s", run.id, batch.seq, reason)
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
        self._bus.publish(BulkBatchFailed(run.id, batch.id, reason))

    def _finish_if_ended(self, run: BulkRunRow) -> bool:
        batches = self._store.bulk_batches(run.id)
        if any(b.open for b in batches):
            return False
        failed = any(b.state == "failed" for b in batches)
        self._store.finish_bulk_run(run.id, FAILED if failed else DONE, actor=ACTOR)
        log.info("bulk run %d ended (%s)", run.id, "failed batches" if failed else "done")
        return True

    def _register(self, appointments: Sequence[AppointmentRow], *, actor: str) -> int:
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
    def _appointments(self, day: str, ids: Sequence[int]) -> list[AppointmentRow]:
        wanted = set(ids)
        by_id = {a.id: a for a in self._store.appointments_on(day) if a.id in wanted}
        return [by_id[i] for i in ids if i in by_id]

    def _later(self, attempts: int) -> datetime:
        return self._clock() + timedelta(seconds=backoff_s(attempts, self._poll_max_s))

    def _state(self, run: BulkRunRow) -> str:
        if run.state != RUNNING:
            return RunState.DONE.value if run.state == DONE else RunState.FAILED.value
        waiting = any(b.waiting for b in self._store.bulk_batches(run.id) if b.open)
        return (RunState.WAITING if waiting else RunState.RUNNING).value

    def _publish(self, run_id: int) -> None:
        progress = self.progress(run_id)
        if progress is not None:
            self._bus.publish(progress)


def _reason(failed: ConfirmationFailed) -> str:
    """A code for why a batch failed: the fault, and a refusal's status (no free text)."""
    cause = failed.cause
    if isinstance(cause, CentralRefused):
        return f"{cause.fault.value}:{cause.status}"
    return cause.fault.value


def _time_of_day(text: str) -> time | None:
    if not text:
        return None
    hour, minute = (int(part) for part in text.split(":"))
    return time(hour, minute)
