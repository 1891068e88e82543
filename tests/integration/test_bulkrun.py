"""The bulk pre-check on the real stack, in both central modes: the HTTPS API over real mutual
TLS to the simulated central, and the official terminal's folders with the real
`onshi sim terminal` process. A real SQLite store on files, the circuit breaker in front, the
same Confirmations as the appliance.

- 200 appointments of the synthetic population covering the classes the simulator can answer
  (valid, invalid, not found, multiple, 医療扶助 not registered, a changed 限度額区分 against the
  patient's previous stored answer), with the box closed and built again on the same files in
  the middle of polling: the same reception numbers are polled, nothing is uploaded again, and
  every appointment ends with its class and the counts add up.
- The central down during a run (the API's listener closed; the terminal process stopped with
  SIGSTOP): the run waits ("waiting"), then completes once it answers again.
"""

from __future__ import annotations

import os
import shutil
import signal
import time as clock
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from device.bulkrun import BulkRuns, RunState
from device.confirm import Confirmations
from device.events import EventBus
from sim.population import Person, population
from sync.breaker import CircuitBreaker
from sync.clock import JST, utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.folders import FolderTransport
from sync.precheck import PrecheckClass
from sync.store import AppointmentInput, Store
from sync.transport import QualificationTransport
from sync.xmlmsg import QualificationRequest, SearchInfo, build_result

from .conftest import MEDICAL_INSTITUTION_CODE, central_client
from .test_folder_transport import sim_terminal

DAY = "20260601"  # a fixed day: the simulator's answers do not move with the calendar
LIMIT_PERSON = "P010"  # 限度額 ウ (A03) now; the previous stored answer said ア (A01)
BATCH = 80  # 200 appointments → three batches


def expected_class(p: Person, *, seeded: bool) -> PrecheckClass:
    """What the simulator's answer for this person's numbers classifies as (`seeded`: the
    limit person's previous answer is stored)."""
    if not p.registered or p.validity in ("4", "6"):
        return PrecheckClass.NOT_FOUND
    if p.validity in ("2", "3"):
        return PrecheckClass.INVALID
    if p.validity == "5":
        return PrecheckClass.MULTIPLE
    if p.id == LIMIT_PERSON and seeded:
        return PrecheckClass.LIMIT_CHANGED
    return PrecheckClass.VALID


def appointments(
    count: int, *, seeded: bool = False
) -> list[tuple[AppointmentInput, PrecheckClass]]:
    """`count` appointments of DAY cycling through the base population (not the records an
    outage adds), each with the class its answer must get."""
    people = [p for p in population() if p.id[1:].isdigit()]
    start = datetime.combine(datetime.strptime(DAY, "%Y%m%d").date(), time(8, 0), tzinfo=JST)
    out = []
    for i in range(count):
        p = people[i % len(people)]
        row = AppointmentInput(
            patient_number=f"K{i:05d}",
            kana=p.name_kana,
            birthdate=p.birthdate,
            insurer_number=p.insurer_number,
            symbol=p.symbol,
            number=p.number,
            branch=p.branch,
            at=start + timedelta(minutes=2 * i),
        )
        out.append((row, expected_class(p, seeded=seeded)))
    return out


@dataclass
class Box:
    """The parts of the appliance a bulk run needs, on the files under `where`."""

    store: Store
    runs: BulkRuns
    breaker: CircuitBreaker


def open_box(where: Path, keys: FieldKeys, transport: QualificationTransport) -> Box:
    store = Store(where / "onshi.db", FieldCipher(keys))
    bus = EventBus()
    breaker = CircuitBreaker(transport, failures=1, open_s=0.5)
    runs = BulkRuns(
        store=store,
        confirmations=Confirmations(transport=breaker, store=store, bus=bus),
        bus=bus,
        medical_institution_code=MEDICAL_INSTITUTION_CODE,
        clock=utc_now,
        batch_size=BATCH,
        poll_max_s=2,
    )
    return Box(store, runs, breaker)


def seed_previous_limit(box: Box, transport: QualificationTransport) -> None:
    """The limit person's previous answer, as stored at an earlier visit, said ア (A01)."""
    p = next(p for p in population() if p.id == LIMIT_PERSON)
    request = QualificationRequest(
        MEDICAL_INSTITUTION_CODE,
        DAY,
        "earliervisit01",
        "2",
        search=SearchInfo(p.insurer_number, p.number, p.birthdate, p.symbol, limit_consent=True),
    )
    answer = transport.confirm(request)
    (found,) = answer.result.results
    assert found.limit is not None and found.limit.flag == p.limit_flag != "A01"
    earlier = replace(
        answer.result, results=(replace(found, limit=replace(found.limit, flag="A01")),)
    )
    box.store.save_confirmation(
        file_id="earliervisit01",
        raw_result=build_result(earlier),
        result=earlier,
        kind="numbers",
        method="numbers",
        actor="uketsuke",
    )


class Central(Protocol):
    """One central mode: the transport, taking it down and back, and how many bulk uploads it
    has received."""

    transport: QualificationTransport

    def down(self) -> AbstractContextManager[None]: ...

    def uploads(self) -> int: ...


class Api:
    def __init__(self, server: Any, pki: Any) -> None:
        self.server = server
        self.transport = central_client(pki, server.url, retries=0, timeout_s=5)

    @contextmanager
    def down(self) -> Iterator[None]:
        self.server.faults.switch(mode="down")
        self.server.apply_faults()
        try:
            yield
        finally:
            self.server.faults.switch(mode="normal")
            self.server.apply_faults()

    def uploads(self) -> int:
        return len(self.server.service.bulk._jobs)


class Folders:
    def __init__(self, root: Path, process: Any, transport: FolderTransport) -> None:
        self.root = root
        self.process = process
        self.transport = transport

    @contextmanager
    def down(self) -> Iterator[None]:
        os.kill(self.process.pid, signal.SIGSTOP)  # the terminal answers nothing
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def uploads(self) -> int:
        names = os.listdir(self.root / "trash") + os.listdir(self.root / "req")
        return len([n for n in names if n.startswith("OQSmuquc01req_")])


@pytest.fixture(params=["api", "folders"])
def central(
    request: pytest.FixtureRequest, sim_pki: Any, central_server: Any, tmp_path: Path
) -> Iterator[Central]:
    if request.param == "api":
        api = Api(central_server, sim_pki)
        yield api
        api.transport.close()
        return
    data = tmp_path / "sim-data"
    shutil.copytree(sim_pki.root, data / "pki")
    root = tmp_path / "terminal"
    with (
        sim_terminal(root, data, "--delay", "0") as process,
        FolderTransport(root, timeout_s=1.0, rescan_s=0.2) as transport,
    ):
        yield Folders(root, process, transport)


def test_200_appointments_every_class_and_a_restart_while_polling(
    central: Central, tmp_path: Path
) -> None:
    keys = FieldKeys.generate()
    box = open_box(tmp_path, keys, central.transport)
    planned = appointments(200, seeded=True)
    box.store.import_appointments([row for row, _ in planned], actor="uketsuke", source="test")
    seed_previous_limit(box, central.transport)
    before = central.uploads()
    run = box.runs.start(DAY, actor="uketsuke")
    assert run.total == 200
    box.runs.step()  # registrations, then the three uploads
    received = [b.reception_number for b in box.store.bulk_batches(run.id)]
    assert len(received) == 3 and all(received) and central.uploads() == before + 3
    # The box is switched off in the middle of polling and started again on the same files.
    box.store.close()
    box = open_box(tmp_path, keys, central.transport)
    assert [b.reception_number for b in box.store.bulk_batches(run.id)] == received
    ended = box.runs.drive(run.id, timeout_s=60)
    assert central.uploads() == before + 3  # polled the kept numbers: nothing sent again
    assert [b.reception_number for b in box.store.bulk_batches(run.id)] == received
    rows = box.store.appointments_on(DAY)
    wanted = [klass.value for _, klass in planned]
    assert [r.precheck_class for r in rows] == wanted
    attention = sum(1 for _, klass in planned if klass.needs_attention)
    assert (ended.state, ended.total, ended.done) == ("done", 200, 200)
    assert (ended.normal, ended.attention) == (200 - attention, attention)
    classes = {klass for _, klass in planned}
    assert classes >= {
        PrecheckClass.VALID,
        PrecheckClass.INVALID,
        PrecheckClass.NOT_FOUND,
        PrecheckClass.MULTIPLE,
        PrecheckClass.LIMIT_CHANGED,
    }
    raw = box.store.precheck_raw(rows[0].id)
    assert raw is not None and b"XmlMsg" in raw  # the unit's answer, kept (encrypted at rest)
    box.store.close()


def test_the_central_down_during_a_run_waits_then_completes(
    central: Central, tmp_path: Path
) -> None:
    box = open_box(tmp_path, FieldKeys.generate(), central.transport)
    planned = appointments(12)
    box.store.import_appointments([row for row, _ in planned], actor="uketsuke", source="test")
    run = box.runs.start(DAY, actor="uketsuke")
    box.runs.step()  # uploaded: polling now
    assert all(b.reception_number for b in box.store.bulk_batches(run.id))
    with central.down():
        for _ in range(2):
            due = box.runs.next_due()
            assert due is not None
            clock.sleep(max(0.0, (due - utc_now()).total_seconds()))
            box.runs.step()
        progress = box.runs.progress(run.id)
        assert progress is not None and progress.state == RunState.WAITING.value
        assert progress.done == 0
    ended = box.runs.drive(run.id, timeout_s=60)
    assert (ended.state, ended.done) == ("done", 12)
    assert [r.precheck_class for r in box.store.appointments_on(DAY)] == [
        klass.value for _, klass in planned
    ]
    box.store.close()
