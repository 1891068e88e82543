"""Scheduled jobs of the appliance, declared once; they run only in the appliance process.

docs/configuration.md lists every job (tests/unit/test_docs.py checks it). Jobs are short and
idempotent: a missed run is coalesced into the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from device.backup import nightly_backup
from device.clocktrust import ClockTrust
from device.retention import (
    RETENTION_HELD,
    RETENTION_REFUSED,
    RETENTION_RESUMED,
    last_retention_run,
)
from device.services import Services
from sync.clock import utc_now
from sync.store import RetentionRefused
from sync.store.retention import RecordsRetentionRefused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_s: int
    help: str
    run: Callable[[Services, ClockTrust], int]  # how many things it handled, for the log
    first_after_s: int | None = None  # first run this soon after start instead of one interval
    every_setting: str = ""  # the setting that gives the interval instead of every_s, if any

    def interval_s(self, services: Services) -> int:
        if not self.every_setting:
            return self.every_s
        return int(getattr(services.config, self.every_setting))


# Clinical cache and sessions are purged by the plain clock on purpose. A clock far ahead deletes
# a cached copy of drug or checkup data early, which the doctor's next view fetches again from the
# central (whose own clock decides the consent); holding the purge instead would keep medical data
# past the patient's consent. A session deleted early only signs staff in again.
def _purge_clinical_cache(services: Services, _: ClockTrust) -> int:
    return services.clinical.purge_expired()


def _purge_sessions(services: Services, _: ClockTrust) -> int:
    return services.accounts.purge_sessions()


def _check_clock(_: Services, trust: ClockTrust) -> int:
    """Compare the clock with the central's (and the monotonic clock): jumps are logged and shown
    on the status page, and the central's time stays fresh for stamping rows."""
    trust.measure()
    return 0


def _purge_confirmations(services: Services, trust: ClockTrust) -> int:
    """Delete what is older than retention_days, only by a trusted clock and within the guards
    of Store.purge_older_than; otherwise delete nothing and alert (log, audit, status page).
    The 申立書, finished re-checks and acknowledged alerts follow by the same bound
    (sync/store/retention.py); a queued re-check or an open alert is never deleted."""
    store = services.store
    reading = trust.measure()
    if not reading.trusted:
        why = "; ".join(reading.reasons)
        log.warning("retention purge held, nothing deleted: the clock is not trusted (%s)", why)
        store.audit("system", RETENTION_HELD, "confirmations", why)
        return 0
    before = trust.now() - timedelta(days=services.config.retention_days)
    try:
        confirmations, visits = store.purge_older_than(
            before,
            actor="system",
            max_share=services.config.retention_max_share,
            small_run=RETENTION_SMALL_RUN,
        )
    except RetentionRefused as refused:
        log.error("nothing deleted, an admin must look: %s", refused)
        store.audit("system", RETENTION_REFUSED, "confirmations", _refusal_detail(refused))
        return 0
    # The 申立書 and the finished re-checks follow, by the same bound: the guards above have
    # passed for it; the share rule is checked again per table of theirs.
    try:
        records = store.purge_records_before(
            before,
            actor="system",
            max_share=services.config.retention_max_share,
            small_run=RETENTION_SMALL_RUN,
        )
    except RecordsRetentionRefused as refused:
        log.error("statements and re-checks: nothing deleted, an admin must look: %s", refused)
        store.audit("system", RETENTION_REFUSED, "statements_outbox", refused.detail)
        return confirmations + visits
    deleted = confirmations + visits + records.total
    if not deleted:
        last = last_retention_run(store)
        if last is not None and last.action in (RETENTION_HELD, RETENTION_REFUSED):
            store.audit("system", RETENTION_RESUMED, "confirmations", "nothing to delete")
    return deleted


# A run deleting at most this many rows of a table passes the share rule whatever the share:
# a new or quiet appliance would otherwise never purge its first few rows.
RETENTION_SMALL_RUN = 10


def _refusal_detail(refused: RetentionRefused) -> str:
    return (
        f"rule={refused.rule} confirmations={refused.confirmations}/"
        f"{refused.confirmations_total} visits={refused.visits}/{refused.visits_total}"
        f" newer={refused.newer} newest_seen={refused.newest_seen} before={refused.before}"
    )


def _purge_audit(services: Services, trust: ClockTrust) -> int:
    """Audit entries past audit_retention_days, only by a trusted clock: a clock a year ahead
    would otherwise remove a year of the oldest entries."""
    store = services.store
    reading = trust.measure()
    if not reading.trusted:
        why = "; ".join(reading.reasons)
        log.warning("audit retention held, nothing removed: the clock is not trusted (%s)", why)
        return 0
    before = trust.now() - timedelta(days=services.config.audit_retention_days)
    return store.purge_audit_before(before, actor="system")


def _drain_outbox(services: Services, _: ClockTrust) -> int:
    """Ask the central again for the numbers checks it could not answer while unavailable;
    give up (with an alert) those unanswered past outbox_give_up_h."""
    report = services.outbox.drain()
    return report.answered + report.gave_up


def _summarize_answers(services: Services, _: ClockTrust) -> int:
    """Row summaries for answers stored before them, a bounded number a run (newest first)."""
    return services.store.backfill_summaries(SUMMARIES_PER_RUN)


SUMMARIES_PER_RUN = 2000


def _backup(services: Services, trust: ClockTrust) -> int:
    """The nightly encrypted backup to backup_dir once backup_at has passed (device/backup.py);
    a failure is logged and tried again at the next run."""
    return nightly_backup(services.config, services.store, trust.now())


def _bulk_inquiry(services: Services, _: ClockTrust) -> int:
    """The nightly bulk pre-check once bulk_at has passed, then every batch whose upload or
    poll is due (device/bulkrun.py); a second's tick, nothing to do most of the time."""
    if services.bulk is None:
        return 0
    return services.bulk.tick()


JOBS: tuple[Job, ...] = (
    Job(
        "purge_clinical_cache",
        300,
        "Deletes fetched drug and checkup data once the patient's consent has expired",
        _purge_clinical_cache,
    ),
    Job(
        "purge_sessions",
        600,
        "Deletes staff sessions past their idle or absolute limit",
        _purge_sessions,
    ),
    Job(
        "check_clock",
        300,
        "Compares the clock with the central's time and the monotonic clock; jumps and "
        "differences go to the log and the status page",
        _check_clock,
        first_after_s=5,  # the central's time is known before the first checks of the day
    ),
    Job(
        "purge_confirmations",
        86_400,
        "Deletes confirmations and visits older than retention_days, with their consents and "
        "cached medical data, then the 申立書 and the finished re-checks and acknowledged "
        "re-check alerts older than that (the audit log is kept), only by a trusted clock and "
        "never more than retention_max_share of a table",
        _purge_confirmations,
        first_after_s=60,  # an appliance restarted daily would otherwise never purge
    ),
    Job(
        "purge_audit",
        86_400,
        "Removes audit entries older than audit_retention_days; the last one removed becomes "
        "the chain's signed base, so verification still holds; only by a trusted clock",
        _purge_audit,
        first_after_s=120,
    ),
    Job(
        "drain_outbox",
        60,
        "Asks the central again for the numbers checks it could not answer while it was "
        "unavailable (the re-check queue), oldest first at most outbox_rate_per_s a second; a "
        "changed answer opens an alert on the desk, and so does an item still unanswered after "
        "outbox_give_up_h (it is not asked again)",
        _drain_outbox,
        every_setting="outbox_drain_every_s",
    ),
    Job(
        "backup",
        900,
        "Writes the encrypted backup (database, audit anchor and store key, under the "
        "passphrase in backup_passphrase_file) to backup_dir once a day after backup_at, and "
        "removes generations beyond backup_keep; nothing when backup_dir is empty",
        _backup,
        first_after_s=180,
    ),
    Job(
        "bulk_inquiry",
        1,
        "Starts the nightly bulk pre-check (一括照会) of the next day's appointments once "
        "bulk_at has passed, then uploads each batch and polls its reception number with "
        "backoff (1 s, doubling up to bulk_poll_max_s) until its answers are classified",
        _bulk_inquiry,
    ),
    Job(
        "summarize_answers",
        60,
        "Gives answers stored before row summaries theirs (at most 2,000 a run, newest first, "
        "in short writes) and keeps them deflated; nothing once every row has one",
        _summarize_answers,
        first_after_s=30,
    ),
)


class Jobs:
    def __init__(
        self, services: Services, clock_trust: ClockTrust, jobs: tuple[Job, ...] = JOBS
    ) -> None:
        self._services = services
        self._clock_trust = clock_trust
        self._jobs = jobs
        self._scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )

    def start(self) -> None:
        for job in self._jobs:
            options: dict[str, Any] = {}
            if job.first_after_s is not None:
                options["next_run_time"] = utc_now() + timedelta(seconds=job.first_after_s)
            self._scheduler.add_job(
                self._run,
                "interval",
                seconds=job.interval_s(self._services),
                args=[job],
                id=job.name,
                **options,
            )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def run_now(self, name: str) -> int:
        """Run one job in the calling thread (for the CLI and tests)."""
        job = next((j for j in self._jobs if j.name == name), None)
        if job is None:
            raise KeyError(f"no job named {name!r}")
        return self._run(job)

    def _run(self, job: Job) -> int:
        try:
            handled = job.run(self._services, self._clock_trust)
        except Exception:
            log.exception("job %s failed", job.name)  # the next run tries again
            return 0
        if handled:
            log.info("job %s: %d handled", job.name, handled)
        return handled
