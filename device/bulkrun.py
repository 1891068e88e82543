"""The bulk engine: runs of batches, reception numbers, polling (一括照会 and 医療扶助 alike).

A run takes the entries of one day (or month) and splits them into batches of at most
`bulk_batch_size` (the official MAX_BULK_ENTRIES). Every batch is written before any call
(sync/store/bulkruns.py): its file id, fixed when the run is made, is the idempotency key of
its upload, so a batch whose upload was sent but whose answer was lost is uploaded again under
the same id and the central hands back the same reception number. Once the reception number
is received it is kept, and from then on the batch only polls it: a restart in the middle of a
run polls the same number and uploads nothing again.

`tick` is what the scheduled job (device/jobs.py `bulk_inquiry`) runs every second: the
scheduled starts of each kind, then every batch whose next call is due. Polls back off 1 s,
2 s, 4 s … up to `bulk_poll_max_s`. The central unavailable (or its circuit open) is no
failure: the batch waits the same backoff and the run shows "waiting" until it answers. A
refusal, an unreadable answer or a certificate mismatch ends that batch as failed and the desk
gets an alert.

What a run is about, what a batch uploads and how its answers are kept is its kind's
(device/bulkkind.py): the night-before pre-check of a day's appointments with its 照会番号
registration (device/precheckrun.py) and the monthly 医療扶助 bulk of a month's recipients
(device/aidrun.py). Progress is pushed on the bus (device.events.BulkProgress) after every
step of a pre-check. Clocks are injected: nothing here reads today's date.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time as monotonic_time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from device.aidrun import AidRun
from device.bulkkind import ACTOR, RunKind, RunParts, clinic_day
from device.confirm import ConfirmationFailed, Confirmations
from device.events import BulkBatchFailed, BulkProgress, EventBus
from device.precheckrun import PrecheckRun
from sync.bulkmsg import MAX_BULK_ENTRIES, BulkQuery
from sync.store import BulkBatchRow, BulkRunRow, Store
from sync.store.bulkruns import DONE, FAILED, PENDING, RUNNING
from sync.transport import CentralFault, CentralRefused

log = logging.getLogger(__name__)

FIRST_POLL_S = 1.0  # the first poll after an upload, and the first wait after a failure
NIGHTLY, NOW, MONTHLY = "nightly", "now", "monthly"  # what started a run
PURGE_EVERY = timedelta(hours=1)  # how often the bulk job purges old runs


class RunState(StrEnum):
    """A run as the desk shows it (web/ words them)."""

    RUNNING = "running"
    WAITING = "waiting"  # the central is unavailable: the run waits and tries again
    DONE = "done"
    FAILED = "failed"  # ended, and at least one batch got no answers


def backoff_s(attempts: int, cap_s: float) -> float:
    """1 s, 2 s, 4 s … after `attempts` calls without a step forward, never above `cap_s`."""
    return min(cap_s, FIRST_POLL_S * float(2 ** min(attempts, 30)))


class BulkRuns:
    """Starts runs (scheduled, on demand) of either kind and moves their batches; thread-safe."""

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
        aid_day: int = 0,
        keep_days: int = 0,
        clock_trusted: Callable[[], bool] = lambda: True,
        new_file_id: Callable[[], str] = lambda: secrets.token_hex(10),
    ) -> None:
        if not 1 <= batch_size <= MAX_BULK_ENTRIES:
            raise ValueError(f"batch_size must be 1–{MAX_BULK_ENTRIES}")
        self._store = store
        self._bus = bus
        self._code = medical_institution_code
        self._clock = clock
        self._batch_size = batch_size
        self._poll_max_s = max(FIRST_POLL_S, poll_max_s)
        self._keep_days = keep_days  # runs older than this are purged (0 = kept)
        self._clock_trusted = clock_trusted
        self._purged_at: datetime | None = None
        self._new_file_id = new_file_id
        self._start_lock = threading.Lock()
        self._step_lock = threading.Lock()
        parts = RunParts(store, confirmations, medical_institution_code, clock)
        self._precheck = PrecheckRun(
            parts, batch_size=batch_size, new_file_id=new_file_id, bulk_at=bulk_at
        )
        self._aid = AidRun(parts, aid_day=aid_day)
        kinds: tuple[RunKind, ...] = (self._precheck, self._aid)
        self._kinds = {k.kind: k for k in kinds}

    # -- starting -------------------------------------------------------------------------
    def start(self, day: str, *, trigger: str = NOW, actor: str = ACTOR) -> BulkRunRow:
        """A pre-check run of `day`'s appointments; the running one when that day already has
        one (a second press of 「今すぐ照会」 starts nothing more)."""
        return self._start(self._precheck, day, trigger=trigger, actor=actor)

    def start_tomorrow(self, *, actor: str) -> BulkRunRow:
        """「今すぐ照会」: the next day's appointments, now."""
        return self.start(self.tomorrow(), trigger=NOW, actor=actor)

    def tomorrow(self) -> str:
        return clinic_day(self._clock(), 1)

    def nightly(self) -> BulkRunRow | None:
        """The nightly pre-check of the next day, when due (device/precheckrun.py); None when
        there is nothing to start."""
        day = self._precheck.due()
        return None if day is None else self.start(day, trigger=NIGHTLY, actor=ACTOR)

    def start_aid(self, month: str, *, trigger: str = NOW, actor: str = ACTOR) -> BulkRunRow:
        """A 医療扶助 run of `month` (YYYYMM): its recipients' 医療券; the running one when that
        month already has one."""
        return self._start(self._aid, month, trigger=trigger, actor=actor)

    def start_aid_tomorrow(self, *, actor: str) -> BulkRunRow:
        """「医療券を一括取得」: the month of tomorrow's appointments, now."""
        return self.start_aid(self.tomorrow()[:6], trigger=NOW, actor=actor)

    def monthly_aid(self) -> BulkRunRow | None:
        """The month's 医療扶助 run, when due (device/aidrun.py); None when there is nothing
        to start."""
        month = self._aid.due()
        return None if month is None else self.start_aid(month, trigger=MONTHLY, actor=ACTOR)

    def _start(self, kind: RunKind, day: str, *, trigger: str, actor: str) -> BulkRunRow:
        with self._start_lock:
            for run in self._store.running_bulk_runs():
                if run.kind == kind.kind and run.day == day:
                    return run
            ids = kind.members(day)
            size = self._batch_size
            batches = [
                (self._new_file_id(), ids[start : start + size])
                for start in range(0, len(ids), size)
            ]
            run = self._store.create_bulk_run(
                day,
                trigger=trigger,
                actor=actor,
                batches=batches,
                first_at=self._clock(),
                kind=kind.kind,
            )
        log.info(
            "%s run %d: %s, %d entries in %d batches",
            kind.kind,
            run.id,
            day,
            run.total,
            len(batches),
        )
        self._publish(run.id)
        return run

    # -- moving ---------------------------------------------------------------------------
    def tick(self) -> int:
        """What the scheduled job runs: the nightly and monthly starts when due, then the due
        batches."""
        started = [self.nightly(), self.monthly_aid()]
        called = self.step() + sum(1 for s in started if s is not None)
        self.purge_old()
        return called

    def purge_old(self) -> int:
        """Ended runs older than `keep_days` (the confirmations' retention), with their
        batches and the 医療扶助 answers as old: at most once an hour, one short write, and
        only while the clock is trusted (a clock gone wrong must not purge early)."""
        if not self._keep_days or not self._clock_trusted():
            return 0
        now = self._clock()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return 0
        self._purged_at = now
        purged = self._store.purge_bulk_runs(now - timedelta(days=self._keep_days), actor=ACTOR)
        if purged:
            log.info("bulk runs: %d older than %d days purged", purged, self._keep_days)
        return purged

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
        return self._precheck.register_day(day, actor=actor)

    # -- one batch ------------------------------------------------------------------------
    def _advance(self, batch: BulkBatchRow) -> None:
        run = self._store.bulk_run(batch.run_id)
        if run is None or not run.running:
            return
        kind = self._kinds[run.kind]
        label = f"bulk run {run.id} batch {batch.seq}"
        try:
            if batch.state == PENDING:
                self._upload(kind, run, batch, label)
            else:
                self._poll(kind, run, batch, label)
        except ConfirmationFailed as failed:
            if failed.cause.fault is CentralFault.UNAVAILABLE:
                self._store.bulk_batch_again(
                    batch.id,
                    next_at=self._later(batch.attempts),
                    waiting=True,
                    reason=CentralFault.UNAVAILABLE.value,
                )
                return
            self._fail(kind, run, batch, _reason(failed))

    def _upload(self, kind: RunKind, run: BulkRunRow, batch: BulkBatchRow, label: str) -> None:
        receipt = kind.upload(run, batch, label)
        self._store.bulk_batch_received(
            batch.id, receipt.reception_number, next_at=self._later(0), actor=ACTOR
        )
        log.info("%s: received as %s", label, receipt.reception_number)

    def _poll(self, kind: RunKind, run: BulkRunRow, batch: BulkBatchRow, label: str) -> None:
        query = BulkQuery(self._code, self._new_file_id(), batch.reception_number)
        answer = kind.result(query, label)
        if answer.segment_of_result == "9":
            self._fail(kind, run, batch, f"abnormal:{answer.error_code}".rstrip(":"))
            return
        if not answer.ready:
            self._store.bulk_batch_again(
                batch.id, next_at=self._later(batch.attempts), waiting=False
            )
            return
        kind.keep(run, batch, answer, label)

    def _fail(self, kind: RunKind, run: BulkRunRow, batch: BulkBatchRow, reason: str) -> None:
        """The batch ends without answers (its kind keeps that), and an alert."""
        log.warning("bulk run %d batch %d failed: %s", run.id, batch.seq, reason)
        kind.fail(run, batch, reason)
        self._bus.publish(BulkBatchFailed(run.id, batch.id, reason))

    def _finish_if_ended(self, run: BulkRunRow) -> bool:
        batches = self._store.bulk_batches(run.id)
        if any(b.open for b in batches):
            return False
        failed = any(b.state == "failed" for b in batches)
        self._store.finish_bulk_run(run.id, FAILED if failed else DONE, actor=ACTOR)
        log.info("bulk run %d ended (%s)", run.id, "failed batches" if failed else "done")
        return True

    # -- small parts ----------------------------------------------------------------------
    def _later(self, attempts: int) -> datetime:
        return self._clock() + timedelta(seconds=backoff_s(attempts, self._poll_max_s))

    def _state(self, run: BulkRunRow) -> str:
        if run.state != RUNNING:
            return RunState.DONE.value if run.state == DONE else RunState.FAILED.value
        waiting = any(b.waiting for b in self._store.bulk_batches(run.id) if b.open)
        return (RunState.WAITING if waiting else RunState.RUNNING).value

    def _publish(self, run_id: int) -> None:
        run = self._store.bulk_run(run_id)
        kind = None if run is None else self._kinds.get(run.kind)
        if kind is None or not kind.shows_progress:
            return
        progress = self.progress(run_id)
        if progress is not None:
            self._bus.publish(progress)


def _reason(failed: ConfirmationFailed) -> str:
    """A code for why a batch failed: the fault, and a refusal's status (no free text)."""
    cause = failed.cause
    if isinstance(cause, CentralRefused):
        return f"{cause.fault.value}:{cause.status}"
    return cause.fault.value
