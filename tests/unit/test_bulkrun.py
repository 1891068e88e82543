"""device/bulkrun.py with a fake central: batches at the batch size, a restart in the middle
polling the kept reception number (nothing uploaded again), backoff, the central down then
up, a refused batch, units for no entry and entries with no unit, the nightly start, and
照会番号 registration that never holds the check up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.bulkkind import clinic_day, entry_id
from device.bulkrun import BulkRuns, RunState, backoff_s
from device.confirm import Confirmations
from device.deskalerts import AlertKind, DeskAlerts
from device.events import BulkBatchFailed, BulkProgress, EventBus, PrecheckStored
from sync.bulkmsg import (
    BulkAnswer,
    BulkQuery,
    BulkReceipt,
    BulkUnit,
    BulkUpload,
    ReferenceAnswer,
    ReferenceOutcome,
    ReferenceRequest,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.precheck import PrecheckClass
from sync.transport import CentralRefused, CentralUnavailable
from sync.xmlmsg import Qualification, QualificationRequest, QualificationResult

from .bulkfakes import Appointments, appointment_inputs

CODE = "1312345678"
# 2026-11-29 20:00 JST: the night before the 30th
START = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
DAY = "20261130"


class Clock:
    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def result_for(entry_search_number: str, validity: str = "1") -> QualificationResult:
    card = Qualification(insurer_number="06130012", symbol="記A", number=entry_search_number)
    return QualificationResult(
        process_time="20261129200000",
        confirmation_date=DAY,
        medical_institution_code=CODE,
        file_id="u",
        reference_classification="2",
        segment_of_result="1",
        processing_status="1",
        validity=validity,
        results=(card,) if validity == "1" else (),
    )


@dataclass
class FakeCentral:
    """The bulk half of a QualificationTransport: answers after `polls_before_ready` polls;
    `validity(number)` decides each unit. The same file id uploaded twice gets the same
    reception number (as the central does)."""

    polls_before_ready: int = 2
    down: bool = False
    refuse_upload: bool = False
    refuse_registration: bool = False
    validity: Callable[[str], str] = lambda number: "1"
    drop: set[str] = field(default_factory=set)  # identifiers answered with no unit
    extra_unit: bool = False  # add a unit for an identifier nobody sent
    uploads: list[BulkUpload] = field(default_factory=list)
    received: dict[str, BulkUpload] = field(default_factory=dict)  # reception number → upload
    polls: dict[str, int] = field(default_factory=dict)
    registrations: list[ReferenceRequest] = field(default_factory=list)

    def confirm(self, request: QualificationRequest) -> object:
        raise AssertionError("the bulk run asks nothing one by one")

    def nonce(self) -> bytes:
        raise AssertionError("no card here")

    def bulk_upload(self, request: BulkUpload) -> BulkReceipt:
        if self.down:
            raise CentralUnavailable("down")
        if self.refuse_upload:
            raise CentralRefused(400, "bad list")
        self.uploads.append(request)
        number = f"R-{request.file_id}"
        self.received[number] = request
        return BulkReceipt(request.file_id, number, "20261129200000")

    def bulk_result(self, request: BulkQuery) -> BulkAnswer:
        if self.down:
            raise CentralUnavailable("down")
        upload = self.received[request.reception_number]
        self.polls[request.reception_number] = self.polls.get(request.reception_number, 0) + 1
        if self.polls[request.reception_number] <= self.polls_before_ready:
            return BulkAnswer(request.file_id, request.reception_number, "20261129200001", "2")
        units = [
            BulkUnit(
                e.identifier,
                result_for(e.search.number, self.validity(e.search.number)),
                b"<unit/>",
            )
            for e in upload.entries
            if e.identifier not in self.drop
        ]
        if self.extra_unit:
            units.append(BulkUnit("a999999", result_for("0"), b"<unit/>"))
        return BulkAnswer(
            request.file_id,
            request.reception_number,
            "20261129200002",
            "1",
            processed=len(units),
            normal=len(units),
            units=tuple(units),
        )

    def register_references(self, request: ReferenceRequest) -> ReferenceAnswer:
        if self.down:
            raise CentralUnavailable("down")
        if self.refuse_registration:
            raise CentralRefused(403, "not allowed")
        self.registrations.append(request)
        return ReferenceAnswer(
            request.file_id,
            "20261129200000",
            tuple(ReferenceOutcome(r.reference_number, True) for r in request.registrations),
        )


@dataclass
class Bench:
    path: Path
    keys: FieldKeys
    clock: Clock
    central: FakeCentral
    bus: EventBus
    store: Appointments
    runs: BulkRuns

    def reopen(self, **options: int) -> Bench:
        """Close the store and build everything again on the same files (a restart)."""
        self.store.close()
        return build(self.path, self.keys, self.clock, self.central, **options)


def build(
    path: Path,
    keys: FieldKeys,
    clock: Clock,
    central: FakeCentral,
    *,
    batch_size: int = 4,
    poll_max_s: int = 8,
    bulk_at: str = "19:00",
) -> Bench:
    store = Appointments(path / "onshi.db", FieldCipher(keys), clock)
    bus = EventBus()
    runs = BulkRuns(
        store=store,
        confirmations=Confirmations(transport=central, store=store, bus=bus),  # type: ignore[arg-type]
        bus=bus,
        medical_institution_code=CODE,
        clock=clock,
        batch_size=batch_size,
        poll_max_s=poll_max_s,
        bulk_at=bulk_at,
    )
    return Bench(path, keys, clock, central, bus, store, runs)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    made = build(tmp_path, FieldKeys.generate(), Clock(), FakeCentral())
    yield made
    made.store.close()


def add(bench: Bench, count: int, day: str = DAY) -> list[int]:
    bench.store.import_appointments(appointment_inputs(count, day), actor="desk", source="test")
    return [a.id for a in bench.store.appointments_on(day)]


def classes(bench: Bench, day: str = DAY) -> list[str]:
    return [a.precheck_class for a in bench.store.appointments_on(day)]


def test_backoff_doubles_from_one_second_up_to_the_cap() -> None:
    assert [backoff_s(n, 10) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert backoff_s(500, 60) == 60  # no overflow however long it waits


def test_clinic_day_is_the_clinic_date_not_utc() -> None:
    late = datetime(2026, 11, 29, 16, 30, tzinfo=UTC)  # 01:30 JST on the 30th
    assert clinic_day(late) == "20261130" and clinic_day(late, 1) == "20261201"


def test_a_run_is_split_at_the_batch_size_and_classifies_everyone(bench: Bench) -> None:
    ids = add(bench, 10)
    seen = bench.bus.subscribe()
    run = bench.runs.start(DAY, actor="desk")
    assert run.total == 10
    batches = bench.store.bulk_batches(run.id)
    assert [len(b.appointment_ids) for b in batches] == [4, 4, 2]
    assert [i for b in batches for i in b.appointment_ids] == ids
    ended = bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert (ended.state, ended.done, ended.normal, ended.attention) == ("done", 10, 10, 0)
    assert [len(u.entries) for u in bench.central.uploads] == [4, 4, 2]
    assert {u.confirmation_date for u in bench.central.uploads} == {DAY}
    assert [e.identifier for e in bench.central.uploads[0].entries] == [
        entry_id(i) for i in ids[:4]
    ]
    assert classes(bench) == ["valid"] * 10
    events = list(seen.drain())
    progress = [e for e in events if isinstance(e, BulkProgress)]
    assert progress[0].done == 0 and progress[-1] == BulkProgress(
        run.id, DAY, 10, 10, 10, 0, RunState.DONE.value
    )
    assert len([e for e in events if isinstance(e, PrecheckStored)]) == 10
    assert bench.store.precheck_raw(ids[0]) == b"<unit/>"


def test_a_second_start_of_the_same_day_joins_the_running_run(bench: Bench) -> None:
    add(bench, 3)
    first = bench.runs.start(DAY)
    assert bench.runs.start(DAY).id == first.id


def test_polls_back_off_until_the_answer_is_ready(bench: Bench) -> None:
    bench.central.polls_before_ready = 4
    add(bench, 2)
    run = bench.runs.start(DAY)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        bench.clock.sleep(seconds)

    bench.runs.drive(run.id, sleep=sleep)
    # upload, then polls after 1, 2, 4, 8 (the cap) and 8 s
    assert waits == [1, 1, 2, 4, 8]
    assert sum(bench.central.polls.values()) == 5


def test_a_restart_while_polling_polls_the_same_reception_number(bench: Bench) -> None:
    bench.central.polls_before_ready = 3
    add(bench, 6)
    run = bench.runs.start(DAY)
    bench.runs.step()  # both batches uploaded
    bench.clock.sleep(1)
    bench.runs.step()  # one poll each, not ready
    kept = [b.reception_number for b in bench.store.bulk_batches(run.id)]
    assert all(kept) and len(bench.central.uploads) == 2
    again = bench.reopen()  # the box restarts in the middle of the run
    assert [b.reception_number for b in again.store.bulk_batches(run.id)] == kept
    ended = again.runs.drive(run.id, sleep=again.clock.sleep)
    assert ended.state == "done" and ended.done == 6
    assert len(again.central.uploads) == 2  # nothing uploaded again
    assert set(again.central.polls) == set(kept)
    assert classes(again) == ["valid"] * 6
    again.store.close()


def test_an_upload_whose_answer_was_lost_is_sent_again_under_the_same_file_id(
    bench: Bench,
) -> None:
    add(bench, 2)
    run = bench.runs.start(DAY)
    file_id = bench.store.bulk_batches(run.id)[0].file_id
    real = bench.central.bulk_upload

    def lost(request: BulkUpload) -> BulkReceipt:
        real(request)  # the central received it ...
        raise CentralUnavailable("... and the answer never came")

    bench.central.bulk_upload = lost  # type: ignore[method-assign]
    bench.runs.step()
    bench.central.bulk_upload = real  # type: ignore[method-assign]
    bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert [u.file_id for u in bench.central.uploads] == [file_id, file_id]
    assert len(bench.central.received) == 1  # one reception number: the same upload


def test_the_central_down_waits_then_completes(bench: Bench) -> None:
    add(bench, 3)
    bench.central.down = True
    run = bench.runs.start(DAY)
    for _ in range(4):
        bench.runs.step()
        bench.clock.sleep(10)
    progress = bench.runs.progress(run.id)
    assert progress is not None and progress.state == RunState.WAITING.value
    batch = bench.store.bulk_batches(run.id)[0]
    assert batch.waiting and batch.state == "pending" and batch.attempts == 4
    assert bench.central.uploads == []
    bench.central.down = False
    ended = bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert ended.state == "done" and ended.normal == 3
    assert classes(bench) == ["valid"] * 3


def test_a_refused_batch_fails_its_appointments_and_alerts_the_desk(bench: Bench) -> None:
    add(bench, 5)
    alerts = DeskAlerts(bench.store, bench.bus)
    seen = bench.bus.subscribe()
    bench.central.refuse_upload = True
    run = bench.runs.start(DAY)
    ended = bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert (ended.state, ended.done, ended.normal, ended.attention) == ("failed", 5, 0, 5)
    assert classes(bench) == ["failed"] * 5
    assert {b.reason for b in bench.store.bulk_batches(run.id)} == {"refused:400"}
    failed = [e for e in seen.drain() if isinstance(e, BulkBatchFailed)]
    assert len(failed) == 2
    kept = [alerts.handle(e) for e in failed]
    assert [a.kind for a in kept if a] == [AlertKind.BULK_FAILED] * 2
    assert bench.runs.progress(run.id).state == RunState.FAILED.value  # type: ignore[union-attr]


def test_units_for_no_entry_are_ignored_and_entries_with_no_unit_failed(bench: Bench) -> None:
    ids = add(bench, 3)
    bench.central.drop = {entry_id(ids[1])}
    bench.central.extra_unit = True
    run = bench.runs.start(DAY)
    ended = bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert (ended.done, ended.normal, ended.attention) == (3, 2, 1)
    assert classes(bench) == ["valid", "failed", "valid"]


def test_each_unit_is_classified(bench: Bench) -> None:
    table = {"1000": "2", "1001": "4", "1002": "5"}
    bench.central.validity = lambda number: table.get(number, "1")
    add(bench, 4)
    run = bench.runs.start(DAY)
    bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert classes(bench) == ["invalid", "not_found", "multiple", "valid"]


def test_the_nightly_run_checks_the_next_day_once_after_bulk_at(bench: Bench) -> None:
    add(bench, 2, day=DAY)
    bench.clock.at = datetime(2026, 11, 29, 9, 59, tzinfo=UTC)  # 18:59 JST
    assert bench.runs.nightly() is None
    bench.clock.at = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # 19:00 JST
    run = bench.runs.nightly()
    assert run is not None and run.day == DAY and run.trigger == "nightly"
    bench.runs.drive(run.id, sleep=bench.clock.sleep)
    bench.clock.sleep(3600)
    assert bench.runs.nightly() is None  # once a day


def test_a_run_started_by_hand_before_bulk_at_does_not_stop_the_nightly_one(
    bench: Bench,
) -> None:
    add(bench, 1)
    bench.clock.at = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # 15:00 JST
    early = bench.runs.start_tomorrow(actor="desk")
    bench.runs.drive(early.id, sleep=bench.clock.sleep)
    bench.clock.at = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)
    later = bench.runs.nightly()
    assert later is not None and later.id != early.id


def test_a_run_going_at_bulk_at_is_not_started_again(bench: Bench) -> None:
    add(bench, 1)
    bench.clock.at = datetime(2026, 11, 29, 9, 59, tzinfo=UTC)  # 18:59 JST
    going = bench.runs.start_tomorrow(actor="desk")
    bench.clock.at = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert bench.runs.nightly() is None
    assert bench.store.latest_bulk_run(DAY).id == going.id  # type: ignore[union-attr]


def test_no_bulk_at_means_no_nightly_run(tmp_path: Path) -> None:
    made = build(tmp_path, FieldKeys.generate(), Clock(), FakeCentral(), bulk_at="")
    add(made, 1)
    assert made.runs.nightly() is None
    made.store.close()


def test_a_day_without_appointments_is_done_at_once(bench: Bench) -> None:
    run = bench.runs.start(DAY)
    assert run.state == "done" and run.total == 0 and bench.store.bulk_batches(run.id) == []


def test_reference_numbers_are_registered_once_before_the_upload(bench: Bench) -> None:
    add(bench, 3)
    run = bench.runs.start(DAY)
    bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert [len(r.registrations) for r in bench.central.registrations] == [3]
    numbers = {r.reference_number for r in bench.central.registrations[0].registrations}
    assert numbers == {a.patient_number for a in bench.store.appointments_on(DAY)}
    assert bench.runs.register_day(DAY, actor="desk") == 0  # remembered: not sent again
    assert len(bench.central.registrations) == 1


def test_a_refused_registration_never_holds_the_check_up(bench: Bench) -> None:
    add(bench, 2)
    bench.central.refuse_registration = True
    run = bench.runs.start(DAY)
    ended = bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert ended.state == "done" and ended.normal == 2
    bench.central.refuse_registration = False
    assert bench.runs.register_day(DAY, actor="desk") == 2  # asked again later, by hand


def test_a_changed_limit_flag_against_the_stored_answer(bench: Bench) -> None:
    from sync.xmlmsg import LimitInfo, build_result

    add(bench, 1)
    listed = bench.store.appointments_on(DAY)[0]
    before = replace(
        result_for(listed.number),
        results=(
            Qualification(
                insurer_number=listed.insurer_number,
                symbol=listed.symbol,
                number=listed.number,
                limit=LimitInfo("01", "A01"),
            ),
        ),
    )
    bench.store.save_confirmation(
        file_id="earlier",
        raw_result=build_result(before),
        result=before,
        kind="numbers",
        method="numbers",
        actor="desk",
    )
    now = replace(before, results=(replace(before.results[0], limit=LimitInfo("01", "A03")),))
    real = bench.central.bulk_result

    def changed(query: BulkQuery) -> BulkAnswer:
        answer = real(query)
        return replace(answer, units=tuple(replace(u, result=now) for u in answer.units))

    bench.central.bulk_result = changed  # type: ignore[method-assign]
    run = bench.runs.start(DAY)
    bench.runs.drive(run.id, sleep=bench.clock.sleep)
    assert classes(bench) == [PrecheckClass.LIMIT_CHANGED.value]


def test_bulk_calls_fail_through_the_one_failure_path(bench: Bench) -> None:
    from device.confirm import ConfirmationFailed
    from device.reasons import EndReason

    seen: list[str] = []
    confirmations = Confirmations(
        transport=bench.central,  # type: ignore[arg-type]
        store=bench.store,
        bus=bench.bus,
        on_answer=lambda answer: seen.append(answer.result.process_time),
    )
    upload = BulkUpload(CODE, DAY, "f1", ())
    receipt = confirmations.bulk_upload(upload, label="t")
    assert seen == ["20261129200000"]  # the clock check hears the central's stamp
    query = BulkQuery(CODE, "q1", receipt.reception_number)
    assert not confirmations.bulk_result(query, label="t").ready
    bench.central.down = True
    with pytest.raises(ConfirmationFailed) as down:
        confirmations.bulk_result(query, label="t")
    assert down.value.reason is EndReason.CENTRAL_UNAVAILABLE and down.value.request is None
    bench.central.down = False
    bench.central.refuse_upload = True
    with pytest.raises(ConfirmationFailed) as refused:
        confirmations.bulk_upload(upload, label="t")
    assert refused.value.reason is EndReason.CENTRAL_REFUSED
    bench.central.refuse_registration = True
    with pytest.raises(ConfirmationFailed):
        confirmations.register_references(ReferenceRequest(CODE, "r1", ()), label="t")


def test_keep_precheck_stores_the_unit_and_tells_the_desk(bench: Bench) -> None:
    (appointment_id,) = add(bench, 1)
    appointment = bench.store.appointment(appointment_id)
    assert appointment is not None
    seen = bench.bus.subscribe()
    confirmations = Confirmations(
        transport=bench.central,  # type: ignore[arg-type]
        store=bench.store,
        bus=bench.bus,
    )
    unit = BulkUnit(entry_id(appointment_id), result_for(appointment.number), b"<XmlMsg/>")
    confirmations.keep_precheck(
        appointment, unit, PrecheckClass.VALID, checked_at=START, actor="bulk"
    )
    stored = bench.store.appointment(appointment_id)
    assert stored is not None and stored.precheck_class == "valid"
    assert stored.prechecked_at == START
    assert bench.store.precheck_raw(appointment_id) == b"<XmlMsg/>"
    assert list(seen.drain()) == [PrecheckStored(appointment_id, "valid")]
