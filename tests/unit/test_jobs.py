"""device/jobs.py: jobs run against the services they are given; a failing job never escapes."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from device.jobs import JOBS, Job, Jobs
from device.services import Services


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


def test_each_job_purges_through_its_service() -> None:
    clinical = FakeClinical()
    jobs = Jobs(services(clinical=clinical, accounts=FakeAccounts()))
    assert jobs.run_now("purge_clinical_cache") == 3
    assert jobs.run_now("purge_sessions") == 2
    assert clinical.calls == 1


def test_job_names_are_unique_and_unknown_names_are_refused() -> None:
    assert len({j.name for j in JOBS}) == len(JOBS)
    with pytest.raises(KeyError):
        Jobs(services(clinical=None, accounts=None)).run_now("nope")


def test_a_failing_job_is_logged_and_does_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: Services) -> int:
        raise RuntimeError("disk full")

    jobs = Jobs(services(), (Job("broken", 60, "fails", broken),))
    with caplog.at_level(logging.ERROR):
        assert jobs.run_now("broken") == 0
    assert "job broken failed" in caplog.text


def test_scheduler_starts_and_stops() -> None:
    jobs = Jobs(services(clinical=None, accounts=None))
    jobs.start()
    jobs.stop()
    jobs.stop()  # stopping twice is harmless
