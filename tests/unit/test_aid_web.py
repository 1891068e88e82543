"""The monthly 医療扶助 bulk from 「明日の予約」: 「医療券を一括取得」 (CSRF, the run of tomorrow's
month with one entry per recipient) and each recipient's appointment marked with what was kept;
also the run kind's starts (on demand, once a month on `aid_day`) and words."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from device.aidrun import aid_recipients, is_aid_recipient, month_days
from device.bulkrun import BulkRuns
from device.confirm import Confirmations
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import AidTicketRecord, BatchEnd
from web.app import create_staff_app
from web.present import STRINGS

from .bulkfakes import Appointments, appointment_inputs
from .test_bulkrun import CODE, Clock, FakeCentral
from .test_web import STAFF_HASH, STAFF_USER, build, csrf_of, sign_in
from .test_words import both

AID_INSURER, AID_NUMBER, AID_BORN = "12133005", "4012365", "19580921"


@pytest.fixture
def desk(tmp_path: Path) -> tuple[FlaskClient, Appointments, BulkRuns, Clock]:
    clock = Clock()
    store = Appointments(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock)
    store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    made = build(tmp_path, store)
    runs = BulkRuns(
        store=store,
        confirmations=Confirmations(transport=FakeCentral(), store=store, bus=made.bus),  # type: ignore[arg-type]
        bus=made.bus,
        medical_institution_code=CODE,
        clock=clock,
        aid_day=5,
    )
    services = replace(made.services, bulk=runs)
    client = sign_in(create_staff_app(made.config, services).test_client())
    yield client, store, runs, clock
    store.close()


def with_recipient(store: Appointments, day: str) -> None:
    """Two insured appointments and two of one 医療扶助 recipient on `day`."""
    rows = appointment_inputs(4, day)
    rows[2] = replace(
        rows[2], insurer_number=AID_INSURER, symbol="", number=AID_NUMBER, birthdate=AID_BORN
    )
    rows[3] = replace(rows[2], patient_number="P09999", at=rows[2].at + timedelta(hours=1))
    store.import_appointments(rows, actor="t", source="t")


def test_fetch_tickets_needs_the_token_and_asks_each_recipient_once(
    desk: tuple[FlaskClient, Appointments, BulkRuns, Clock],
) -> None:
    client, store, runs, clock = desk
    tomorrow = runs.tomorrow()
    with_recipient(store, tomorrow)
    assert client.post("/bulk/aid", data={}).status_code == 403
    assert store.latest_bulk_run(kind="aid") is None
    done = client.post("/bulk/aid", data={"csrf_token": csrf_of(client)})
    assert done.status_code == 303 and "aid=1" in done.headers["Location"]
    run = store.latest_bulk_run(kind="aid")
    assert run is not None and (run.day, run.total, run.trigger) == (tomorrow[:6], 1, "now")
    assert store.latest_bulk_run() is None  # not a pre-check run
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'id="aid-started"' in page and "1名" in page and 'id="aid-run"' in page
    assert page.count("医療券 未取得") == 2  # both appointments of the recipient, nobody else
    # the run's answer kept: the page says what it found
    key = store.aid_recipient_key(AID_INSURER, AID_NUMBER, AID_BORN)
    (batch,) = store.bulk_batches(run.id)
    store.keep_aid_tickets(
        run.day,
        [AidTicketRecord(AID_INSURER, AID_NUMBER, AID_BORN, "1", b"<XmlMsg/>")],
        checked_at=clock(),  # the test's clock, not a date of its own
        actor="bulk",
        run_id=run.id,
        batch_end=BatchEnd(batch.id, False, "", 1, 1, 0),
    )
    assert store.aid_ticket_answer(key, run.day) == b"<XmlMsg/>"
    page = client.get("/appointments").get_data(as_text=True)
    assert page.count("医療券あり") == 2 and "医療券 未取得" not in page
    assert any(a.action == "aid.tickets_kept" for a in store.audit_entries())


def test_the_monthly_start_comes_once_on_aid_day(
    desk: tuple[FlaskClient, Appointments, BulkRuns, Clock],
) -> None:
    _, store, runs, clock = desk
    clock.at = datetime(2026, 12, 4, 12, 0, tzinfo=JST)
    with_recipient(store, "20261220")
    assert runs.monthly_aid() is None  # before aid_day
    clock.at = datetime(2026, 12, 5, 0, 1, tzinfo=JST)
    run = runs.monthly_aid()
    assert run is not None and (run.day, run.total, run.trigger) == ("202612", 1, "monthly")
    assert runs.monthly_aid() is None  # once a month
    assert list(aid_recipients(store, "202612").values()) == [run_ids(store, run.id)[0]]


def run_ids(store: Appointments, run_id: int) -> list[int]:
    return [i for b in store.bulk_batches(run_id) for i in b.appointment_ids]


def test_recipients_and_month_days() -> None:
    assert len(month_days("202602")) == 28 and month_days("202412")[-1] == "20241231"
    (row,) = appointment_inputs(1, "20261201")
    assert not is_aid_recipient(row)  # type: ignore[arg-type]
    assert is_aid_recipient(replace(row, insurer_number=" 12133005"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "aid_run",
        "aid_run_hint",
        "aid_started",
        "aid_nothing",
        "aid_status_1",
        "aid_status_6",
        "aid_status_none",
        "aid_status_other",
    ],
)
def test_words_in_both_languages(key: str) -> None:
    both(STRINGS[key])


def test_old_runs_are_purged_by_the_bulk_job_itself(
    desk: tuple[FlaskClient, Appointments, BulkRuns, Clock],
) -> None:
    _, store, _, clock = desk
    trusted = [False]
    runs = BulkRuns(
        store=store,
        confirmations=Confirmations(transport=FakeCentral(), store=store, bus=None),  # type: ignore[arg-type]
        bus=None,  # type: ignore[arg-type]
        medical_institution_code=CODE,
        clock=clock,
        keep_days=31,
        clock_trusted=lambda: trusted[0],
    )
    with_recipient(store, runs.tomorrow())
    ended = store.create_bulk_run(
        "20261101", trigger="now", actor="t", batches=[], first_at=clock()
    )
    going = store.create_bulk_run(
        "20261102", trigger="now", actor="t", batches=[("f-going", [1])], first_at=clock()
    )
    (batch,) = store.bulk_batches(going.id)
    store.keep_aid_tickets(
        "202611",
        [AidTicketRecord(AID_INSURER, AID_NUMBER, AID_BORN, "1", b"<XmlMsg/>")],
        checked_at=clock(),
        actor="bulk",
        run_id=going.id,
        batch_end=BatchEnd(batch.id, False, "", 0, 0, 0),
    )
    key = store.aid_recipient_key(AID_INSURER, AID_NUMBER, AID_BORN)
    clock.at += timedelta(days=30)
    trusted[0] = True
    assert runs.purge_old() == 0  # not old enough yet
    clock.at += timedelta(days=2)
    trusted[0] = False
    runs._purged_at = None
    assert runs.purge_old() == 0  # a clock not trusted purges nothing
    trusted[0] = True
    assert runs.purge_old() == 1
    assert store.bulk_run(ended.id) is None and store.bulk_run(going.id) is not None
    assert store.aid_ticket_answer(key, "202611") is None
    assert runs.purge_old() == 0  # at most once an hour
    assert [a.action for a in store.audit_entries()].count("bulk.purged") == 1
