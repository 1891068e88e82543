"""The retention purge never trusts a wrong clock: Store.purge_older_than's guards (share of a
table, rows newer than the last run saw), the job's trusted-clock gate and its alerts, and the
normal daily purge that must keep working."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from device.config import load_config, parse_setting
from device.errors_log import RecentErrors
from device.events import EventBus
from device.jobs import RETENTION_HELD, RETENTION_REFUSED
from device.settings import SETTINGS_BY_NAME
from device.status import ApplianceStatus
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import RetentionRefused, Store, VisitRecord
from tests.clinic_clock import Clinic, RetentionConfig
from tests.unit.test_status import FakeCentral, FakeReaders, items, make_config, status_of
from web.status_rows import StatusRow

START = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # 09:30 in Japan
YEAR = timedelta(days=365)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    c = Clinic(tmp_path / "onshi.db", START)
    yield c
    c.close()


# -- the store's guards ---------------------------------------------------------------------
@pytest.fixture
def visits_store(tmp_path: Path) -> Iterator[tuple[Store, list[datetime]]]:
    now = [START]
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: now[0])
    for day in range(10):  # ten visits a day for ten days
        for n in range(10):
            at = START + timedelta(days=day, minutes=n)
            store.record_visit(VisitRecord(f"v{day}-{n}", at, at, "r", "", "aborted"))
    yield store, now
    store.close()


def test_a_run_deleting_more_than_the_share_deletes_nothing(
    visits_store: tuple[Store, list[datetime]],
) -> None:
    store, _ = visits_store
    half = START + timedelta(days=5)
    with pytest.raises(RetentionRefused) as refused:
        store.purge_older_than(half, actor="system", max_share=0.25, small_run=10)
    assert (refused.value.rule, refused.value.visits, refused.value.visits_total) == (
        "share",
        50,
        100,
    )
    assert store.count_visits() == 100
    assert "retention.purged" not in [e.action for e in store.audit_entries()]
    assert store.purge_older_than(half, actor="system", max_share=0.5, small_run=10) == (0, 50)


def test_small_runs_pass_the_share_rule(visits_store: tuple[Store, list[datetime]]) -> None:
    store, _ = visits_store
    one_day = START + timedelta(days=1)
    assert store.purge_older_than(one_day, actor="system", max_share=0.01, small_run=10) == (0, 10)
    with pytest.raises(RetentionRefused):
        store.purge_older_than(one_day + timedelta(days=1), actor="system", max_share=0.01)


def test_rows_newer_than_the_last_run_saw_are_never_deleted(
    visits_store: tuple[Store, list[datetime]], tmp_path: Path
) -> None:
    store, now = visits_store
    assert store.purge_older_than(START, actor="system") == (0, 0)  # sees the newest: day 9
    at = START + timedelta(days=10)  # a visit after that run
    store.record_visit(VisitRecord("late", at, at, "r", "", "aborted"))
    everything = START + timedelta(days=20)
    with pytest.raises(RetentionRefused) as refused:
        store.purge_older_than(everything, actor="system")  # no share limit: the watermark
    assert (refused.value.rule, refused.value.newer) == ("newer_than_seen", 1)
    assert refused.value.newest_seen.startswith("2026-03-11T00:39")
    assert store.count_visits() == 101 and store.visit("late") is not None
    # The refused run saw "late": the next run may delete it (the share rule still applies).
    assert store.purge_older_than(everything, actor="system") == (0, 101)


def test_the_watermark_outlives_a_restart(tmp_path: Path) -> None:
    keys = FieldKeys.generate()
    store = Store(tmp_path / "onshi.db", FieldCipher(keys), clock=lambda: START)
    store.record_visit(VisitRecord("a", START, START, "r", "", "aborted"))
    store.purge_older_than(START - YEAR, actor="system")
    store.close()
    again = Store(tmp_path / "onshi.db", FieldCipher(keys), clock=lambda: START)
    later = START + timedelta(days=1)
    again.record_visit(VisitRecord("b", later, later, "r", "", "aborted"))
    with pytest.raises(RetentionRefused):
        again.purge_older_than(START + YEAR, actor="system")
    assert again.count_visits() == 2
    again.close()


# -- the job ----------------------------------------------------------------------------------
def test_the_daily_purge_keeps_working(clinic: Clinic) -> None:
    for _ in range(45):
        clinic.day(visits=24)
    clinic.jobs.run_now("purge_confirmations")  # the 46th morning
    confirmations, visits = clinic.should_stay()
    assert clinic.kept(confirmations, visits) == len(confirmations) + len(visits)
    assert clinic.store.count_confirmations() == len(confirmations)  # the old ones are gone
    assert clinic.store.count_visits() == len(visits)
    actions = clinic.audit_actions()
    assert actions.count("retention.purged") == 14  # the 33rd to the 46th morning
    assert RETENTION_HELD not in actions and RETENTION_REFUSED not in actions


def test_an_untrusted_clock_holds_the_purge_with_an_alert(
    clinic: Clinic, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    for _ in range(33):
        clinic.day(visits=4)
    clinic.clock.synced = False  # someone set the date by hand: the kernel says so
    with caplog.at_level(logging.WARNING):
        assert clinic.jobs.run_now("purge_confirmations") == 0
    assert "retention purge held, nothing deleted" in caplog.text
    assert clinic.store.count_confirmations() == 4 * 33 - 4  # only the first morning's went
    entry = clinic.store.audit_entries(1)[0]
    assert entry.action == RETENTION_HELD and "not synchronised" in entry.detail
    found = items(status_of(tmp_path, clinic.store, EventBus()))
    assert found["retention"].ok is None and "held" in found["retention"].value
    clinic.clock.synced = True
    assert clinic.jobs.run_now("purge_confirmations") == 6  # the second day's rows
    found = items(status_of(tmp_path, clinic.store, EventBus()))
    assert found["retention"].ok is True and "ran" in found["retention"].value
    clinic.clock.synced = False
    clinic.jobs.run_now("purge_confirmations")
    clinic.clock.synced = True
    assert clinic.jobs.run_now("purge_confirmations") == 0  # nothing old: the alert clears
    found = items(status_of(tmp_path, clinic.store, EventBus()))
    assert found["retention"].ok is True and "ran" in found["retention"].value


def test_a_clock_the_central_disagrees_with_holds_the_purge(clinic: Clinic) -> None:
    for _ in range(3):
        clinic.day(visits=4)
    clinic.clock.skew = YEAR
    assert clinic.jobs.run_now("purge_confirmations") == 0
    entry = clinic.store.audit_entries(1)[0]
    assert entry.action == RETENTION_HELD and "+365 days off the central" in entry.detail
    assert clinic.store.count_confirmations() == 12


def test_a_year_ahead_unseen_by_ntp_and_the_central_is_refused_by_the_guards(
    clinic: Clinic, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The worst case: set a year ahead while off, NTP claims synchronised, central down."""
    for _ in range(35):
        clinic.day(visits=12)
    clinic.restart()
    clinic.clock.central_up = False
    clinic.clock.skew = YEAR
    before = clinic.store.count_confirmations(), clinic.store.count_visits()
    with caplog.at_level(logging.ERROR):
        clinic.day(visits=0)
    assert "nothing deleted, an admin must look" in caplog.text
    entry = clinic.store.audit_entries(1)[0]
    assert entry.action == RETENTION_REFUSED and "rule=newer_than_seen" in entry.detail
    clinic.day(visits=0)  # the next day the watermark passes, the share rule does not
    entry = clinic.store.audit_entries(1)[0]
    assert entry.action == RETENTION_REFUSED and "rule=share" in entry.detail
    assert (clinic.store.count_confirmations(), clinic.store.count_visits()) == before
    found = items(status_of(tmp_path, clinic.store, EventBus()))
    assert found["retention"].ok is False and "retention_max_share" in found["retention"].detail


def test_a_lower_share_limit_is_a_setting(tmp_path: Path) -> None:
    clinic = Clinic(tmp_path / "onshi.db", START, RetentionConfig(retention_max_share=1.0))
    try:
        for _ in range(35):
            clinic.day(visits=12)
        clinic.clock.synced = True
        clinic.config.retention_days = 2  # the admin shortens retention: most rows go at once
        assert clinic.jobs.run_now("purge_confirmations") > 0
    finally:
        clinic.close()


# -- the date of care ---------------------------------------------------------------------------
@pytest.mark.parametrize("skew", [-YEAR, -timedelta(days=1), YEAR])
def test_a_typed_check_is_sent_and_stored_with_the_central_confirmed_date(
    clinic: Clinic, skew: timedelta
) -> None:
    clinic.clock.skew = skew
    stored = clinic.store.confirmation(clinic.numbers_check())
    assert stored is not None
    assert clinic.central.care_dates == [("20260302", "20260302")]
    assert abs(stored.created_at - clinic.clock.true) < timedelta(seconds=1)


# -- settings, wiring, the status page ----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("retention_max_share", "0.25", True),
        ("retention_max_share", "1", True),
        ("retention_max_share", "0", False),
        ("retention_max_share", "1.5", False),
        ("retention_max_share", "nan", False),
        ("retention_max_share", "-0.1", False),
        ("clock_tolerance_s", "30", True),
        ("clock_tolerance_s", "0.5", False),
        ("clock_tolerance_s", "inf", False),
        ("clock_tolerance_s", "nan", False),
        ("clock_tolerance_s", "86400", False),
    ],
)
def test_the_new_settings_have_ranges(name: str, value: str, ok: bool) -> None:
    setting = SETTINGS_BY_NAME[name]
    if ok:
        assert parse_setting(setting, value) == float(value)
    else:
        with pytest.raises(ValueError):
            parse_setting(setting, value)


def test_the_appliance_stamps_and_dates_by_the_trusted_clock(tmp_path: Path, pki_at: Any) -> None:
    from device.appliance import build_appliance

    pki = pki_at(START)  # the device certificate as the appliance's clock sees it
    config = load_config(
        environ={},
        overrides={
            "data_dir": tmp_path / "data",
            "central_url": "https://127.0.0.1:9",
            "central_ca": pki.central_ca_cert,
            "device_cert": pki.device_cert,
            "device_key": pki.device_key,
            "staff_port": 0,
            "kiosk_port": 0,
            "clock_tolerance_s": 12,
        },
    )
    app = build_appliance(config, lambda: START)
    try:
        trust = app.clock_trust
        assert trust.tolerance_s == 12
        assert app.services.store._clock == trust.now
        assert app.services.flow._clock == trust.now
        assert app.services.checks is not None and app.services.checks._clock == trust.care_now
        assert app.jobs._clock_trust is trust and app.status._trust is trust
    finally:
        app.stop()


def test_a_jump_is_on_the_status_page(tmp_path: Path, clinic: Clinic) -> None:
    def clock_item() -> StatusRow:
        status = ApplianceStatus(
            config=make_config(tmp_path),
            store=clinic.store,
            central=cast(CentralClient, FakeCentral()),  # reachable: the clinic's clock decides
            bus=EventBus(),
            list_readers=FakeReaders([]),
            errors=RecentErrors(),
            clock_trust=clinic.trust,  # the one the appliance's jobs use
        )
        return items(status)["clock"]

    clinic.jobs.run_now("check_clock")
    clinic.clock.skew = YEAR
    clinic.clock.central_up = False
    clinic.jobs.run_now("check_clock")
    clock = clock_item()
    assert clock.ok is False
    assert "clock jump +365 days" in clock.detail and "時刻の跳び +365日" in clock.detail
    assert "retention purges wait" in clock.detail
    clinic.clock.central_up = True  # the central answers: the box is a year ahead, still red
    clock = clock_item()
    assert clock.ok is False and "365 days ahead of the central" in clock.value
    clinic.clock.skew = timedelta(0)  # put right: green again, the jumps listed for a day
    clock = clock_item()
    assert clock.ok is None and clock.detail.count("clock jump") == 2
