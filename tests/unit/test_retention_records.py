"""Retention of the 申立書 and the re-check queue (sync/store/retention.py, the
purge_confirmations job): statements by age, re-check items only once finished, alerts only
once acknowledged, never a queued item or an open alert; the share rule; the trusted clock.

Fixed dates on an injected clock; nothing depends on today."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from device.clocktrust import ClockTrust
from device.jobs import Jobs
from device.retention import RETENTION_HELD, RETENTION_PURGED, RETENTION_REFUSED
from device.services import Services
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.store.retention import RecordsPurged, RecordsRetentionRefused
from sync.xmlmsg import QualificationRequest, SearchInfo

MIC = "1312345670"
T0 = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
DAYS = 31


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.synced = True

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        """Moves with the wall clock: time passing, not a jump."""
        return (self.now - T0).total_seconds()


@dataclass
class Config:
    retention_days: int = DAYS
    retention_max_share: float = 1.0


@dataclass
class Rig:
    store: Store
    clock: Clock
    config: Config
    jobs: Jobs

    def statement(self) -> int:
        return self.store.save_statement({"name": "山田 太郎"}, actor="uketsuke").id

    def queued(self, n: str) -> int:
        request = QualificationRequest(
            MIC, "20260302", f"file{n}", "2", search=SearchInfo("01130012", n, "19830807")
        )
        assert self.store.enqueue_recheck(request, kind="numbers", method="typed", actor="u")
        item = self.store.outbox_item_by_file_id(f"file{n}")
        assert item is not None
        return item.id

    def answered(self, n: str, *, alert: bool = False) -> int:
        item = self.queued(n)
        changes = ("ratio",) if alert else ()
        self.store.outbox_answered(
            item, answer_id=1000 + item, changes=changes, earlier_id=1, actor="outbox"
        )
        return item

    def ended(self, n: str) -> int:
        item = self.queued(n)
        self.store.outbox_end(item, reason="central_refused", actor="outbox")
        return item

    def run(self) -> int:
        return self.jobs.run_now("purge_confirmations")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = Clock()
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
    config = Config()
    trust = ClockTrust(
        tolerance_s=30, wall=clock, monotonic=clock.monotonic, synchronised=lambda: clock.synced
    )
    services = cast(Services, type("S", (), {"store": store, "config": config})())
    yield Rig(store, clock, config, Jobs(services, trust))
    store.close()


def outbox_ids(store: Store) -> set[int]:
    return {i.id for i in store.outbox_items()}


def test_statements_follow_the_confirmations_retention(rig: Rig) -> None:
    old = rig.statement()
    rig.clock.now = T0 + timedelta(days=2)
    newer = rig.statement()
    rig.clock.now = T0 + timedelta(days=DAYS, seconds=1)  # the first is just past retention
    assert rig.run() == 1
    assert rig.store.statement(old) is None and rig.store.statement(newer) is not None
    entry = rig.store.audit_entries(1)[0]
    assert (entry.action, entry.subject) == (RETENTION_PURGED, "statements_outbox")
    assert entry.detail == (
        "statements=1 outbox=0 outbox_alerts=0 appointments=0 before=2026-03-02T00:30:01+00:00"
    )
    assert rig.run() == 0  # nothing more: no second entry
    assert rig.store.audit_entries(1)[0].id == entry.id


def test_only_finished_rechecks_go_never_a_queued_one(rig: Rig) -> None:
    queued = rig.queued("1")
    answered = rig.answered("2")
    ended = rig.ended("3")
    rig.clock.now = T0 + timedelta(days=DAYS + 1)
    late = rig.answered("4")  # finished a day ago: kept for its own retention
    assert rig.run() == 2
    assert outbox_ids(rig.store) == {queued, late}
    assert answered not in outbox_ids(rig.store) and ended not in outbox_ids(rig.store)
    rig.clock.now += timedelta(days=365)  # a year on, the queued item is still there
    assert rig.run() == 1
    assert outbox_ids(rig.store) == {queued}


def test_an_open_alert_keeps_its_item_until_acknowledged_and_old(rig: Rig) -> None:
    item = rig.answered("1", alert=True)
    (alert,) = rig.store.outbox_alerts()
    rig.clock.now = T0 + timedelta(days=DAYS + 5)
    assert rig.run() == 0  # the alert waits for a person: item and alert stay
    assert outbox_ids(rig.store) == {item}
    assert rig.store.acknowledge_outbox_alert(alert.id, actor="kanri")
    assert rig.run() == 1  # the item goes; the alert was acknowledged just now: it stays
    assert outbox_ids(rig.store) == set()
    assert [a.id for a in rig.store.outbox_alerts(open_only=False)] == [alert.id]
    rig.clock.now += timedelta(days=DAYS, seconds=1)
    assert rig.run() == 1
    assert rig.store.outbox_alerts(open_only=False) == []
    entry = rig.store.audit_entries(1)[0]
    assert entry.detail.startswith("statements=0 outbox=0 outbox_alerts=1 ")


def test_one_audit_entry_per_run_that_deleted_anything(rig: Rig) -> None:
    rig.statement()
    rig.answered("1")
    rig.ended("2")
    rig.clock.now = T0 + timedelta(days=DAYS + 1)
    before = len(rig.store.audit_entries())
    assert rig.run() == 3
    entries = rig.store.audit_entries()[: len(rig.store.audit_entries()) - before]
    assert [(e.action, e.detail.split(" before=")[0]) for e in entries] == [
        (RETENTION_PURGED, "statements=1 outbox=2 outbox_alerts=0 appointments=0")
    ]


def test_an_untrusted_clock_deletes_nothing(rig: Rig) -> None:
    statement = rig.statement()
    item = rig.answered("1")
    rig.clock.now = T0 + timedelta(days=DAYS + 1)
    rig.clock.synced = False
    assert rig.run() == 0
    assert rig.store.statement(statement) is not None and outbox_ids(rig.store) == {item}
    assert rig.store.audit_entries(1)[0].action == RETENTION_HELD
    rig.clock.synced = True
    assert rig.run() == 2


def test_the_share_rule_refuses_too_large_a_run(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(12):  # more than the small-run allowance
        rig.statement()
    rig.clock.now = T0 + timedelta(days=DAYS + 1)
    for _ in range(4):
        rig.statement()
    rig.config.retention_max_share = 0.5  # 12 of 16 is more than half
    with caplog.at_level(logging.ERROR):
        assert rig.run() == 0
    assert "nothing deleted, an admin must look" in caplog.text
    entry = rig.store.audit_entries(1)[0]
    assert entry.action == RETENTION_REFUSED and entry.subject == "statements_outbox"
    assert "rule=share statements=12/16" in entry.detail
    assert len([e for e in rig.store.audit_entries() if e.action == RETENTION_PURGED]) == 0
    rig.config.retention_max_share = 1.0  # the admin looked: one run with the limit raised
    assert rig.run() == 12


def test_the_store_purge_directly(rig: Rig) -> None:
    rig.statement()
    queued = rig.queued("1")
    rig.answered("2")
    bound = T0 + timedelta(seconds=1)
    with pytest.raises(RecordsRetentionRefused) as refused:
        rig.store.purge_records_before(bound, actor="system", max_share=0.1)
    assert refused.value.counts == {
        "statements": (1, 1),
        "outbox": (1, 2),
        "outbox_alerts": (0, 0),
        "appointments": (0, 0),
    }
    assert rig.store.purge_records_before(bound, actor="system", small_run=10) == RecordsPurged(
        1, 1, 0
    )
    assert outbox_ids(rig.store) == {queued}
    with pytest.raises(ValueError):
        rig.store.purge_records_before(datetime(2026, 4, 1), actor="system")  # naive


def test_nothing_to_delete_after_a_held_run_clears_the_alert(rig: Rig) -> None:
    rig.clock.synced = False
    rig.run()
    rig.clock.synced = True
    assert rig.run() == 0
    assert rig.store.audit_entries(1)[0].action == "retention.resumed"
