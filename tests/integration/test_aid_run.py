"""The monthly 医療扶助 bulk (OQSmutic) on the real stack: real mutual TLS to the simulated
central, a real SQLite store on files, the circuit breaker in front, the same Confirmations as
the appliance. The month's appointments name the 生活保護 people (P051–P053) among insured ones;
each recipient is asked once, whatever their number of appointments, and their answer (the
month's 医療券) is kept encrypted per recipient and month."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from device.aidrun import aid_recipients
from sim.population import person
from sync.clock import JST
from sync.fieldcrypt import FieldKeys
from sync.store import AppointmentInput
from sync.xmlmsg import parse_result

from .test_bulkrun import Api, open_box

MONTH = "202606"


def booked(person_id: str, day: int, n: int) -> AppointmentInput:
    p = person(person_id)
    at = datetime.combine(datetime(2026, 6, day).date(), time(9, 0), tzinfo=JST)
    return AppointmentInput(
        patient_number=f"K{n:05d}",
        kana=p.name_kana,
        birthdate=p.birthdate,
        insurer_number=p.insurer_number,
        symbol=p.symbol,
        number=p.number,
        branch=p.branch,
        at=at + timedelta(minutes=n),
    )


def test_the_months_recipients_get_their_tickets(
    sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    api = Api(central_server, sim_pki)
    box = open_box(tmp_path, FieldKeys.generate(), api.transport)
    rows = [
        booked("P051", 2, 0),
        booked("P051", 20, 1),  # a second appointment: asked once
        booked("P052", 2, 2),
        booked("P053", 3, 3),
        booked("P001", 2, 4),  # insured: not a 医療扶助 recipient
    ]
    box.store.import_appointments(rows, actor="uketsuke", source="test")
    assert len(aid_recipients(box.store, MONTH)) == 3
    run = box.runs.start_aid(MONTH, actor="uketsuke")
    assert (run.kind, run.day, run.total) == ("aid", MONTH, 3)
    assert box.runs.start_aid(MONTH, actor="uketsuke").id == run.id  # joins the running one
    ended = box.runs.drive(run.id, timeout_s=30)
    assert (ended.state, ended.done, ended.normal, ended.attention) == ("done", 3, 2, 1)
    keys = {
        pid: box.store.aid_recipient_key(
            person(pid).insurer_number, person(pid).number, person(pid).birthdate
        )
        for pid in ("P051", "P052", "P053")
    }
    status = box.store.aid_ticket_status(list(keys.values()), MONTH)
    assert {pid: status[k].status for pid, k in keys.items()} == {
        "P051": "1",
        "P052": "1",
        "P053": "6",  # 有効（未登録）: no ticket online for this month
    }
    raw = box.store.aid_ticket_answer(keys["P051"], MONTH)
    assert raw is not None
    (ticket,) = parse_result(raw).results[0].medical_tickets
    assert (ticket.treatment_month, ticket.institution_flag) == (MONTH, "0")
    # the precheck's own latest run is untouched by the aid run
    assert box.store.latest_bulk_run() is None
    box.store.close()
    api.transport.close()
