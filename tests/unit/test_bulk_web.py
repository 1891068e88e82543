"""web/bulk.py and the desk's wire for the bulk pre-check: 「今すぐ照会」 (CSRF), the status
JSON, 「照会番号を登録」, the progress event in words, and words for every run state."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from device.bulkrun import BulkRuns, RunState
from device.confirm import Confirmations
from device.events import BulkProgress
from sync.fieldcrypt import FieldCipher, FieldKeys
from web.app import create_staff_app
from web.bulk import bulk_wire, day_text
from web.present import STRINGS
from web.reception import staff_wire

from .bulkfakes import Appointments, appointment_inputs
from .test_bulkrun import CODE, Clock, FakeCentral
from .test_web import STAFF_HASH, STAFF_USER, build, csrf_of, sign_in
from .test_words import both


@pytest.fixture
def desk(tmp_path: Path) -> tuple[FlaskClient, Appointments, FakeCentral, Clock]:
    clock = Clock()
    store = Appointments(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock)
    store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    made = build(tmp_path, store)
    central = FakeCentral(polls_before_ready=0)
    runs = BulkRuns(
        store=store,
        confirmations=Confirmations(transport=central, store=store, bus=made.bus),  # type: ignore[arg-type]
        bus=made.bus,
        medical_institution_code=CODE,
        clock=clock,
    )
    services = replace(made.services, bulk=runs)
    client = sign_in(create_staff_app(made.config, services).test_client())
    yield client, store, central, clock
    store.close()


@pytest.mark.parametrize("state", list(RunState), ids=str)
def test_every_run_state_has_words(state: RunState) -> None:
    both(STRINGS[f"bulk_state_{state.value}"])


def test_the_progress_event_goes_on_the_desk_wire_in_words() -> None:
    event = BulkProgress(3, "20261130", 200, 200, 180, 20, "done")
    name, data = staff_wire(event, "ja")  # type: ignore[misc]
    assert name == "bulk_progress"
    assert data["summary"] == "200件（正常180件・要確認20件）" and data["finished"] is True
    # the finished line names the day and opens that day's list
    assert data["label"] == "11/30 の予約の一括照会が終わりました"
    assert data["list_day"] == "2026-11-30"
    waiting = bulk_wire(BulkProgress(3, "20261130", 200, 50, 50, 0, "waiting"), "ja")
    assert waiting["label"] == "待機中（中央サービス停止）" and waiting["finished"] is False
    assert "50/200" in waiting["progress"] and day_text("20261130") == "11/30"
    english = bulk_wire(event, "en")
    assert english["summary"] == "200 appointments (180 normal, 20 to check)"
    assert bulk_wire(None, "ja") == {"state": ""}


def test_run_now_needs_the_csrf_token_and_starts_tomorrow(
    desk: tuple[FlaskClient, Appointments, FakeCentral, Clock],
) -> None:
    client, store, central, _ = desk
    store.import_appointments(appointment_inputs(3, "20261130"), actor="t", source="t")
    assert json.loads(client.get("/bulk/status").data) == {"state": ""}
    refused = client.post("/bulk/run", json={})
    assert refused.status_code == 403 and store.latest_bulk_run() is None
    started = client.post("/bulk/run", json={}, headers={"X-CSRF-Token": csrf_of(client)})
    body = json.loads(started.data)
    assert started.status_code == 200 and body["ok"] and body["message"] == "一括照会を始めました"
    assert body["run"]["total"] == 3 and body["run"]["day"] == "20261130"
    status = json.loads(client.get("/bulk/status").data)
    assert status["state"] == "running" and status["done"] == 0
    assert any(a.action == "bulk.started" and a.actor == STAFF_USER for a in store.audit_entries())


def test_the_desk_page_shows_the_summary_of_tomorrows_run(
    desk: tuple[FlaskClient, Appointments, FakeCentral, Clock],
) -> None:
    client, store, central, clock = desk
    store.import_appointments(appointment_inputs(2, "20261130"), actor="t", source="t")
    client.post("/bulk/run", json={}, headers={"X-CSRF-Token": csrf_of(client)})
    page = client.get("/").get_data(as_text=True)
    assert 'id="bulk-progress"' in page and 'data-state="running"' in page
    assert "bulk.js" in page


def test_register_reference_numbers_by_hand(
    desk: tuple[FlaskClient, Appointments, FakeCentral, Clock],
) -> None:
    client, store, central, _ = desk
    store.import_appointments(appointment_inputs(2, "20261130"), actor="t", source="t")
    done = client.post("/bulk/register", json={}, headers={"X-CSRF-Token": csrf_of(client)})
    assert json.loads(done.data)["count"] == 2
    assert len(central.registrations) == 1


def test_the_tomorrow_page_has_check_now_and_the_bar(
    desk: tuple[FlaskClient, Appointments, FakeCentral, Clock],
) -> None:
    client, store, central, _ = desk
    store.import_appointments(appointment_inputs(2, "20261130"), actor="t", source="t")
    page = client.get("/appointments").get_data(as_text=True)
    assert 'id="bulk-run-now"' in page and 'id="bulk-register"' in page
    assert 'data-own-stream="true"' in page and "bulk.js" in page
    client.post("/bulk/run", json={}, headers={"X-CSRF-Token": csrf_of(client)})
    page = client.get("/appointments").get_data(as_text=True)
    assert 'data-state="running"' in page
    other_day = client.get("/appointments?day=2026-12-05").get_data(as_text=True)
    assert 'id="bulk-run-now"' not in other_day  # the button checks tomorrow only
