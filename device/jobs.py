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

from device.services import Services
from sync.clock import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_s: int
    help: str
    run: Callable[[Services], int]  # returns how many things it handled, for the log
    first_after_s: int | None = None  # first run this soon after start instead of one interval


def _purge_clinical_cache(services: Services) -> int:
    return services.clinical.purge_expired() if services.clinical is not None else 0


def _purge_sessions(services: Services) -> int:
    return services.accounts.purge_sessions() if services.accounts is not None else 0


def _purge_confirmations(services: Services) -> int:
    store = services.store
    before = store.now() - timedelta(days=services.config.retention_days)
    confirmations, visits = store.purge_older_than(before, actor="system")
    return confirmations + visits


def _purge_audit(services: Services) -> int:
    store = services.store
    before = store.now() - timedelta(days=services.config.audit_retention_days)
    return store.purge_audit_before(before, actor="system")


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
        "purge_confirmations",
        86_400,
        "Deletes confirmations and visits older than retention_days, with their consents and "
        "cached medical data (the audit log is kept)",
        _purge_confirmations,
        first_after_s=60,  # an appliance restarted daily would otherwise never purge
    ),
    Job(
        "purge_audit",
        86_400,
        "Removes audit entries older than audit_retention_days; the last one removed becomes "
        "the chain's signed base, so verification still holds",
        _purge_audit,
        first_after_s=120,
    ),
)


class Jobs:
    def __init__(self, services: Services, jobs: tuple[Job, ...] = JOBS) -> None:
        self._services = services
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
                self._run, "interval", seconds=job.every_s, args=[job], id=job.name, **options
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
            handled = job.run(self._services)
        except Exception:
            log.exception("job %s failed", job.name)  # the next run tries again
            return 0
        if handled:
            log.info("job %s: %d handled", job.name, handled)
        return handled
