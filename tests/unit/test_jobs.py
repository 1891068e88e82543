"""device/jobs.py: jobs run against the services they are given; a failing job never escapes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from device.clocktrust import ClockTrust
from device.jobs import JOBS, Job, Jobs
from device.services import Services
from sync.clock import utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, VisitRecord


class FakeClinical:
    def __init__(self) -> None:
        self.calls = 0

    def purge_expired(self) -> int:
        self.calls += 1
        return 3


class FakeAccounts:
    def purge_sessions(self) -> int:
        return 2


def services(**kwargs: Any) -> Services:
    return cast(Services, type("S", (), kwargs)())


def trust(wall: Any = utc_now) -> ClockTrust:
    """A synchronised clock with no central to ask: trusted."""
    return ClockTrust(tolerance_s=30, wall=wall, synchronised=lambda: True)


def test_each_job_purges_through_its_service() -> None:
    clinical = FakeClinical()
    jobs = Jobs(services(clinical=clinical, accounts=FakeAccounts()), trust())
    assert jobs.run_now("purge_clinical_cache") == 3
    assert jobs.run_now("purge_sessions") == 2
    assert clinical.calls == 1


def test_job_names_are_unique_and_unknown_names_are_refused() -> None:
    assert len({j.name for j in JOBS}) == len(JOBS)
    with pytest.raises(KeyError):
        Jobs(services(clinical=None, accounts=None), trust()).run_now("nope")


def test_a_failing_job_is_logged_and_does_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: Services, __: ClockTrust) -> int:
        raise RuntimeError("disk full")

    jobs = Jobs(services(), trust(), (Job("broken", 60, "fails", broken),))
    with caplog.at_level(logging.ERROR):
        assert jobs.run_now("broken") == 0
    assert "job broken failed" in caplog.text


def test_scheduler_starts_and_stops() -> None:
    config = type("C", (), {"outbox_drain_every_s": 60})()  # the one interval that is a setting
    jobs = Jobs(services(clinical=None, accounts=None, config=config), trust())
    jobs.start()
    drain = jobs._scheduler.get_job("drain_outbox")
    assert drain is not None and drain.trigger.interval.total_seconds() == 60
    jobs.stop()
    jobs.stop()  # stopping twice is harmless


class Config:
    retention_days = 31
    retention_max_share = 1.0


def test_retention_purges_what_is_older_than_retention_days(tmp_path: Path) -> None:
    now = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: now[0])
    for day in (0, 1, 2):  # visits that ended on 1, 2 and 3 March
        at = datetime(2026, 3, 1 + day, 9, 0, tzinfo=UTC)
        store.record_visit(VisitRecord(f"v{day}", at, at, "r", "", "aborted"))
    jobs = Jobs(services(store=store, config=Config()), trust(lambda: now[0]))
    now[0] = datetime(2026, 4, 2, 9, 0, 1, tzinfo=UTC)  # 31 days and 1 s after the second
    assert jobs.run_now("purge_confirmations") == 2
    assert (store.visit("v0"), store.visit("v1")) == (None, None)
    assert store.visit("v2") is not None
    entry = store.audit_entries(1)[0]
    assert (entry.action, entry.detail) == (
        "retention.purged",
        "confirmations=0 visits=2 before=2026-03-02T09:00:01+00:00",
    )
    assert jobs.run_now("purge_confirmations") == 0
    store.close()


def test_retention_runs_daily_and_soon_after_start() -> None:
    (job,) = [j for j in JOBS if j.name == "purge_confirmations"]
    assert job.every_s == 86_400 and job.first_after_s is not None
    jobs = Jobs(services(), trust(), (job,))
    started = utc_now()
    jobs.start()
    try:
        scheduled = jobs._scheduler.get_job("purge_confirmations")
        assert scheduled is not None
        first = scheduled.next_run_time - started
        assert timedelta(0) < first <= timedelta(seconds=job.first_after_s + 1)
    finally:
        jobs.stop()


class AuditConfig:
    audit_retention_days = 1827


def test_audit_retention_removes_entries_past_five_years_and_the_chain_holds(
    tmp_path: Path,
) -> None:
    now = [datetime(2021, 3, 1, 9, 0, tzinfo=UTC)]
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: now[0])
    for day in range(3):
        now[0] = datetime(2021, 3, 1 + day, 9, 0, tzinfo=UTC)
        store.audit("admin", "login.success", f"user:{day}")
    jobs = Jobs(services(store=store, config=AuditConfig()), trust(lambda: now[0]))
    now[0] = datetime(2021, 3, 2, 9, 0, 1, tzinfo=UTC) + timedelta(days=1827)
    assert jobs.run_now("purge_audit") == 2  # 1 and 2 March; 3 March is kept
    assert [e.action for e in store.audit_entries()] == ["audit.retention", "login.success"]
    assert store.verify_audit_detail().ok
    assert jobs.run_now("purge_audit") == 0
    store.close()


def test_audit_retention_waits_for_a_trusted_clock(tmp_path: Path) -> None:
    now = [datetime(2021, 3, 1, 9, 0, tzinfo=UTC)]
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: now[0])
    store.audit("admin", "login.success", "user:1")
    unsynchronised = ClockTrust(tolerance_s=30, wall=lambda: now[0], synchronised=lambda: False)
    jobs = Jobs(services(store=store, config=AuditConfig()), unsynchronised)
    now[0] += timedelta(days=3 * 1827)  # a clock far ahead, not synchronised
    assert jobs.run_now("purge_audit") == 0
    assert [e.action for e in store.audit_entries()] == ["login.success"]
    store.close()


def test_audit_retention_is_a_setting_with_a_range() -> None:
    from device.config import load_config

    assert load_config(None, environ={}).audit_retention_days == 1827
    for bad in ("30", "99999", "nan", "-1"):
        with pytest.raises(Exception, match="audit_retention_days"):
            load_config(None, environ={"ONSHI_AUDIT_RETENTION_DAYS": bad})
