"""Drill: the wall clock jumps (a day back, a year forward, a year back) in a running clinic, with
the central up (it disagrees) or down after a restart (only the kernel and the store's guards are
left). Visits, consents and typed checks go on; the daily purge runs every morning. Nothing that is
younger than retention_days by the true time may be deleted, every date of care sent is the true
date in Japan, and every row and consent is stamped with the true time.

Figure: rows kept / rows that should stay, dates of care right / sent, and old rows purged by the
end (a guard that refused leaves old rows for the admin: a delay, never a loss).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.clock import JST
from tests.clinic_clock import Clinic

START = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
DAY = timedelta(days=1)
YEAR = timedelta(days=365)


@dataclass(frozen=True)
class Jump:
    skew: timedelta
    central_up: bool  # during the jump
    restart: bool  # the jump happened while the appliance was off
    synchronised: bool  # what the kernel says during the jump


JUMPS = {
    "a day back": Jump(-DAY, True, False, True),
    "a year forward": Jump(YEAR, True, False, True),
    "a year back": Jump(-YEAR, True, False, True),
    "a day back, central down, restarted": Jump(-DAY, False, True, True),
    "a year forward, central down, restarted": Jump(YEAR, False, True, True),
    "a year back, central down, restarted": Jump(-YEAR, False, True, True),
    "a year forward set by hand, central down": Jump(YEAR, False, False, False),
}


@pytest.mark.parametrize("name", list(JUMPS))
def test_clock_jump(
    name: str, tmp_path: Path, drill_budget: int, figure: Callable[[str], None]
) -> None:
    jump = JUMPS[name]
    clinic = Clinic(tmp_path / "onshi.db", START)
    per_day = 6 * drill_budget
    try:
        for _ in range(40):  # a clinic in its steady state: the daily purge has been running
            clinic.day(per_day)
        if jump.restart:
            clinic.restart()
        clinic.clock.skew = jump.skew
        clinic.clock.central_up = jump.central_up
        clinic.clock.synced = jump.synchronised
        for _ in range(3):
            clinic.day(per_day)
        clinic.clock.skew = timedelta(0)  # NTP or the admin puts it right
        clinic.clock.central_up = True
        clinic.clock.synced = True
        for _ in range(3):
            clinic.day(per_day)
        clinic.jobs.run_now("purge_confirmations")

        confirmations, visits = clinic.should_stay()
        should = len(confirmations) + len(visits)
        kept = clinic.kept(confirmations, visits)
        old = len(clinic.made.confirmations) + len(clinic.made.visits) - should
        left = clinic.store.count_confirmations() + clinic.store.count_visits() - kept
        dates_right = sum(sent == true for sent, true in clinic.central.care_dates)
        figure(
            f"{kept}/{should} rows kept that should stay; "
            f"{dates_right}/{len(clinic.central.care_dates)} dates of care right; "
            f"{old - left}/{old} old rows purged"
        )
        assert kept == should, f"{should - kept} rows deleted that should have stayed"
        assert dates_right == len(clinic.central.care_dates)
        for confirmation_id, true_at in clinic.made.confirmations.items():
            stored = clinic.store.confirmation(confirmation_id)
            if stored is None:
                continue
            assert abs(stored.created_at - true_at) < timedelta(seconds=30), confirmation_id
            if stored.kind == "card":  # the consent stays with its confirmation, truly dated
                (consent,) = clinic.store.consents(confirmation_id)
                assert consent.agreed and consent.consented_at is not None
                assert abs(consent.consented_at - true_at.astimezone(JST)) < timedelta(minutes=1)
    finally:
        clinic.close()
