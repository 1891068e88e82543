"""A queued re-check does not retry forever (device/outbox.py, outbox_give_up_h): past the
give-up time it ends unanswered with an alert on the desk until a person acknowledges it.

The scripted central and the rig of test_outbox.py, with an injected clock moved by hours."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from device.accounts import Accounts
from device.checks import CheckFailed
from device.config import load_config
from device.flow import VisitFlow
from device.jobs import JOBS
from device.outbox import GAVE_UP, Outbox
from device.settings import SETTINGS_BY_NAME
from sync.store.outbox import ENDED, QUEUED
from tests.fake_services import services_with
from web.app import create_staff_app

from .test_outbox import T0, Rig, actions, csrf, queue_while_down, rig, typed
from .test_web import STAFF_HASH, STAFF_USER, FakeFlow, make_config, sign_in

__all__ = ["rig"]  # the fixture, shared with test_outbox.py

GIVE_UP_H = 72
TITLE = "再照会できませんでした: 手動で確認してください"


def outbox(rig: Rig, hours: float = GIVE_UP_H) -> Outbox:
    return Outbox(
        store=rig.store,
        confirmations=rig.confirmations,
        rate_per_s=0.1,
        backoff_base_s=30,
        backoff_max_s=3600,
        give_up_after_h=hours,
        clock=rig.clock,
        sleep=rig.sleeps.append,
    )


def test_an_item_unanswered_past_the_give_up_time_ends_with_an_alert(rig: Rig) -> None:
    queue = outbox(rig)
    queue_while_down(rig, "11")
    (item,) = rig.store.outbox_items()
    rig.central.down = True
    for hour in range(1, GIVE_UP_H):  # the central stays down: retried, never given up early
        rig.clock.now = T0 + timedelta(hours=hour)
        report = queue.drain()
        assert report.gave_up == 0
    still = rig.store.outbox_item(item.id)
    assert still is not None and still.state == QUEUED and still.attempts > 0
    asked = len(rig.central.requests)

    rig.clock.now = T0 + timedelta(hours=GIVE_UP_H)
    report = queue.drain()
    assert report.gave_up == 1 and report.asked == 0  # not asked again
    assert len(rig.central.requests) == asked
    ended = rig.store.outbox_item(item.id)
    assert ended is not None
    assert (ended.state, ended.outcome) == (ENDED, GAVE_UP)
    assert ended.request is not None  # kept: the desk must see whom to check
    (alert,) = queue.open_alerts()
    assert alert.unanswered and alert.outbox_id == item.id
    assert (alert.earlier_id, alert.answer_id) == (None, None)
    assert "outbox.gave_up" in actions(rig.store)

    rig.central.down = False
    rig.clock.now += timedelta(days=3)
    assert queue.drain() == queue.drain().__class__()  # nothing left to ask or give up
    assert queue.acknowledge(alert.id, actor="kanri")
    assert queue.open_alerts() == []
    done = rig.store.outbox_item(item.id)
    assert done is not None and done.request is None  # taken over: it names no one now


def test_the_give_up_runs_while_the_central_answers_too(rig: Rig) -> None:
    """An item whose backoff keeps it from being due is given up all the same."""
    queue = outbox(rig, hours=1)
    queue_while_down(rig, "11")
    (item,) = rig.store.outbox_items()
    rig.store.outbox_retry(
        item.id, next_at=T0 + timedelta(days=30), reason="central_unavailable", actor="outbox"
    )
    rig.clock.now = T0 + timedelta(hours=1)
    assert queue.drain().gave_up == 1
    assert rig.central.requests == []


def test_a_given_up_recheck_names_the_answer_charged(rig: Rig) -> None:
    queue = outbox(rig)
    charged = rig.checks.check(typed("11"), actor="uketsuke")
    rig.central.down = True
    with pytest.raises(CheckFailed):
        rig.checks.recheck(charged.id, actor="uketsuke")
    rig.clock.now = T0 + timedelta(hours=GIVE_UP_H, minutes=1)
    assert queue.drain().gave_up == 1
    (alert,) = queue.open_alerts()
    assert (alert.earlier_id, alert.answer_id) == (charged.id, None)
    assert rig.store.outbox_alerts_for(charged.id) == [alert]


def test_an_answer_stored_before_a_kill_is_marked_not_given_up(rig: Rig) -> None:
    queue = outbox(rig)
    queue_while_down(rig, "11")
    (item,) = rig.store.outbox_items()
    assert item.request is not None
    answer = rig.confirmations.ask(item.request, label="before the kill")
    rig.confirmations.keep(
        answer, file_id=item.file_id, kind=item.kind, method=item.method, actor=item.actor
    )
    rig.clock.now = T0 + timedelta(hours=GIVE_UP_H + 1)
    report = queue.drain()
    assert (report.gave_up, report.answered) == (0, 1)
    marked = rig.store.outbox_item(item.id)
    assert marked is not None and marked.state == "answered"
    assert queue.open_alerts() == []


def test_the_drain_job_counts_given_up_items(rig: Rig) -> None:
    (job,) = [j for j in JOBS if j.name == "drain_outbox"]
    queue = outbox(rig, hours=1)
    queue_while_down(rig, "11", "12")
    rig.clock.now = T0 + timedelta(hours=2)
    services = cast(Any, type("S", (), {"outbox": queue})())
    assert job.run(services, cast(Any, None)) == 2


def test_the_setting_is_declared_with_its_range(tmp_path: Path) -> None:
    setting = SETTINGS_BY_NAME["outbox_give_up_h"]
    assert (setting.kind, setting.default, setting.minimum, setting.maximum) == (int, 72, 1, 720)
    assert load_config(environ={}, overrides={"data_dir": tmp_path}).outbox_give_up_h == 72
    for bad in ("0", "721", "1.5"):
        with pytest.raises(ValueError):
            load_config(environ={"ONSHI_OUTBOX_GIVE_UP_H": bad})


def test_the_give_up_time_must_be_positive(rig: Rig) -> None:
    with pytest.raises(ValueError):
        outbox(rig, hours=0)


# -- the desk ------------------------------------------------------------------------------
@pytest.fixture
def desk(rig: Rig, tmp_path: Path) -> FlaskClient:
    rig.store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    config = make_config(tmp_path)
    services = services_with(
        config=config,
        store=rig.store,
        bus=rig.bus,
        flow=cast(VisitFlow, FakeFlow()),
        accounts=Accounts(rig.store),
        checks=rig.checks,
        outbox=outbox(rig),
    )
    return sign_in(create_staff_app(config, services).test_client())


def test_the_desk_shows_whom_to_check_until_someone_marks_it_seen(
    rig: Rig, desk: FlaskClient
) -> None:
    queue_while_down(rig, "11")
    rig.central.down = True
    rig.clock.now = T0 + timedelta(hours=GIVE_UP_H)
    assert desk.get("/api/recheck/alerts").get_json() == {"alerts": []}  # the drain decides
    queue = outbox(rig)
    assert queue.drain().gave_up == 1
    (alert,) = desk.get("/api/recheck/alerts").get_json()["alerts"]
    assert alert["title"] == TITLE and alert["unanswered"] is True
    assert "1130012" in alert["asked"] and "40199901 11" in alert["asked"]
    assert "1983" in alert["asked"]  # the birth date, as typed
    assert alert["answer"] is None and alert["earlier"] is None
    assert any("確認" in c for c in alert["changes"])
    url = f"/api/recheck/alerts/{alert['id']}/acknowledge"
    assert desk.post(url, headers={"X-CSRF-Token": csrf(desk)}).status_code == 200
    assert desk.get("/api/recheck/alerts").get_json() == {"alerts": []}
