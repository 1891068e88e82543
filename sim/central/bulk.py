"""The simulated central's bulk inquiry (一括照会) and 照会番号 registry (docs/central-api.md).

A bulk upload (OQSmuquc01req) becomes a job held in memory, keyed by (institution, reception
number); the same upload (same ArbitraryFileIdentifier, same body) sent again gets the stored
answer and so the same reception number. The job is "in progress" (SegmentOfResult 2) for
`delay_s` after the upload, then every entry is answered exactly as a single qualification
request with these numbers would be (the service's own answer code: not found, invalid,
several matches …), once, and the download (OQSmuquc02req) returns those units for as long as
the job is kept. A reception number this institution was not given is refused (404).

The registry remembers, per institution, the 照会番号 registered for each person: every later
answer about that person to that institution (single, bulk and the terminal's face files)
carries it as ReferenceNumber. A registration names the person by insurance numbers and birth
date; it is refused (not registered, with a code and message) when nobody or several people
match, or when the number is already another person's. Registering a person again replaces
their number.

The monthly 医療扶助 bulk (OQSmutic01req → OQSmutic02res) is a job of the same kind keyed by
its MedicalTreatmentMonth: each recipient (公費負担者番号, 受給者番号, birth date) is answered as
a single answer dated the month's first day would be, carrying the month's 医療券.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sim.central.answers import (
    Answer,
    ReplayLog,
    RequestRejected,
    check_institution,
    process_time,
    xml_answer,
)
from sim.population import Person
from sync.bulkmsg import (
    MAX_REFERENCE_NUMBER,
    AidEntry,
    BulkAnswer,
    BulkEntry,
    BulkReceipt,
    BulkUnit,
    ReferenceAnswer,
    ReferenceOutcome,
    build_bulk_answer,
    build_bulk_receipt,
    build_reference_answer,
    parse_aid_upload,
    parse_bulk_query,
    parse_bulk_upload,
    parse_reference_request,
)
from sync.xmlmsg import MessageError, QualificationResult, SearchInfo

DEFAULT_BULK_DELAY_S = 1.5  # how long a bulk job stays "in progress"
MAX_JOBS = 1000  # jobs kept (oldest dropped first); a dropped job's number is unknown

# (institution, confirmation date, entry) → the single answer for that entry
EntryAnswerer = Callable[[str, str, BulkEntry], QualificationResult]
# (institution, treatment month YYYYMM, recipient) → the answer carrying their 医療券
AidAnswerer = Callable[[str, str, AidEntry], QualificationResult]
# (insurer number, symbol, number, birthdate, branch) → registered people with these numbers
PersonFinder = Callable[[str, str, str, str, str], list[Person]]

# Outcomes of a registration that is not made (ProcessingResultCode, Message: shown verbatim)
NOBODY = ("R004", "該当する資格がありません。保険者番号・記号・番号・生年月日を確認してください。")
SEVERAL = ("R005", "複数の資格が該当しました。枝番を指定して登録してください。")
TAKEN = ("R003", "この照会番号は別の方に登録されています。")
BAD_NUMBER = ("R001", f"照会番号は {MAX_REFERENCE_NUMBER} 文字までの英数字です。")


@dataclass
class _Job:
    institution: str
    confirmation_date: str
    entries: tuple[BulkEntry, ...] | tuple[AidEntry, ...]
    ready_at: float  # monotonic
    units: tuple[BulkUnit, ...] | None = None  # answered once, when first asked after ready_at
    answered_at: str = ""  # ProcessExecutionTime of the answers
    treatment_month: str = ""  # an OQSmutic job (医療扶助): its MedicalTreatmentMonth


class BulkDesk:
    def __init__(
        self,
        answer_entry: EntryAnswerer,
        find: PersonFinder,
        replay: ReplayLog,
        clock: Callable[[], datetime],
        *,
        delay_s: float = DEFAULT_BULK_DELAY_S,
        monotonic: Callable[[], float] = time.monotonic,
        answer_aid: AidAnswerer | None = None,
    ) -> None:
        self._answer_entry = answer_entry
        self._answer_aid = answer_aid
        self._find = find
        self._replay = replay
        self._clock = clock
        self.delay_s = delay_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._jobs: OrderedDict[tuple[str, str], _Job] = OrderedDict()
        self._counter = 0
        # (institution, person id) → 照会番号, and the reverse
        self._references: dict[tuple[str, str], str] = {}
        self._owners: dict[tuple[str, str], str] = {}

    # -- the bulk inquiry --

    def upload(self, body: bytes, institution: str, encoding: str, code: str) -> Answer:
        """OQSmuquc01req → OQSmuquc01res with a reception number (400 unreadable, 403 another
        institution's code, 409 the file id reused with another body)."""
        try:
            upload = parse_bulk_upload(body)
        except MessageError as exc:
            raise RequestRejected(400, str(exc)) from None
        check_institution(upload.medical_institution_code, institution)
        job = _Job(institution, upload.confirmation_date, upload.entries, 0.0)
        return self._receive(job, upload.file_id, "bulk", body, encoding, code)

    def aid_upload(self, body: bytes, institution: str, encoding: str, code: str) -> Answer:
        """OQSmutic01req → OQSmutic01res with a reception number (as `upload`)."""
        try:
            upload = parse_aid_upload(body)
        except MessageError as exc:
            raise RequestRejected(400, str(exc)) from None
        check_institution(upload.medical_institution_code, institution)
        month = upload.treatment_month
        job = _Job(institution, f"{month}01", upload.entries, 0.0, treatment_month=month)
        return self._receive(job, upload.file_id, "aid", body, encoding, code)

    def _receive(
        self, job: _Job, file_id: str, kind: str, body: bytes, encoding: str, code: str
    ) -> Answer:
        institution = job.institution

        def receive() -> Answer:
            with self._lock:
                self._counter += 1
                stamp = process_time(self._clock())
                number = f"{stamp[:8]}{self._counter:08d}"
                job.ready_at = self._monotonic() + self.delay_s
                self._jobs[(institution, number)] = job
                while len(self._jobs) > MAX_JOBS:
                    self._jobs.popitem(last=False)
            receipt = BulkReceipt(file_id, number, stamp)
            data = build_bulk_receipt(
                receipt,
                medical_institution_code=institution,
                character_code=code,
                encoding=encoding,
            )
            return xml_answer(data, encoding)

        return self._replay.once((institution, kind, file_id), body, receive)

    def result(self, body: bytes, institution: str, encoding: str, code: str) -> Answer:
        """OQSmuquc02req → OQSmuquc02res: in progress (SegmentOfResult 2) until the job is
        ready, then every unit (404 for a reception number this institution was not given)."""
        try:
            query = parse_bulk_query(body)
        except MessageError as exc:
            raise RequestRejected(400, str(exc)) from None
        check_institution(query.medical_institution_code, institution)
        with self._lock:
            job = self._jobs.get((institution, query.reception_number))
        if job is None:
            raise RequestRejected(
                404,
                "この受付番号の一括照会はありません（番号を確認するか、照会をやり直してください）/ "
                "no bulk inquiry with this reception number (check it, or upload again)",
            )
        now = process_time(self._clock())
        units = self._units(job)
        if units is None:
            answer = BulkAnswer(
                file_id=query.file_id,
                reception_number=query.reception_number,
                process_time=now,
                segment_of_result="2",
                confirmation_date=job.confirmation_date,
                treatment_month=job.treatment_month,
            )
        else:
            normal = sum(1 for unit in units if unit.result.processing_status == "1")
            answer = BulkAnswer(
                file_id=query.file_id,
                reception_number=query.reception_number,
                process_time=job.answered_at,
                segment_of_result="1",
                processed=len(units),
                normal=normal,
                errors=len(units) - normal,
                units=units,
                confirmation_date=job.confirmation_date,
                treatment_month=job.treatment_month,
            )
        data = build_bulk_answer(
            answer, medical_institution_code=institution, character_code=code, encoding=encoding
        )
        return xml_answer(data, encoding)

    def _units(self, job: _Job) -> tuple[BulkUnit, ...] | None:
        """The job's units once it is ready (answered the first time they are asked for)."""
        if self._monotonic() < job.ready_at:
            return None
        with self._lock:
            if job.units is not None:
                return job.units
        # answered outside the lock: each answer looks its 照会番号 up under it
        answered_at = process_time(self._clock())
        units = tuple(
            BulkUnit(entry.identifier, self._answer(job, entry), b"") for entry in job.entries
        )
        with self._lock:
            if job.units is None:  # a concurrent ask may have answered it first
                job.units, job.answered_at = units, answered_at
            return job.units

    def _answer(self, job: _Job, entry: BulkEntry | AidEntry) -> QualificationResult:
        if isinstance(entry, AidEntry):
            assert self._answer_aid is not None  # an OQSmutic job is only made with one
            return self._answer_aid(job.institution, job.treatment_month, entry)
        return self._answer_entry(job.institution, job.confirmation_date, entry)

    # -- 照会番号 --

    def register(self, body: bytes, institution: str, encoding: str, code: str) -> Answer:
        """OQSsiimm01req / OQSmuimm01req → one outcome per registration."""
        try:
            request = parse_reference_request(body)
        except MessageError as exc:
            raise RequestRejected(400, str(exc)) from None
        check_institution(request.medical_institution_code, institution)

        def register_all() -> Answer:
            outcomes = tuple(
                self._register(institution, r.reference_number, r.search)
                for r in request.registrations
            )
            answer = ReferenceAnswer(request.file_id, process_time(self._clock()), outcomes)
            data = build_reference_answer(
                answer, medical_institution_code=institution, character_code=code, encoding=encoding
            )
            return xml_answer(data, encoding)

        return self._replay.once((institution, "references", request.file_id), body, register_all)

    def _register(self, institution: str, number: str, search: SearchInfo) -> ReferenceOutcome:
        if not number.isascii() or not number.isprintable() or len(number) > MAX_REFERENCE_NUMBER:
            return ReferenceOutcome(number, False, *BAD_NUMBER)
        people = self._find(
            search.insurer_number, search.symbol, search.number, search.birthdate, search.branch
        )
        if not people:
            return ReferenceOutcome(number, False, *NOBODY)
        if len(people) > 1:
            return ReferenceOutcome(number, False, *SEVERAL)
        person = people[0].id
        with self._lock:
            owner = self._owners.get((institution, number))
            if owner is not None and owner != person:
                return ReferenceOutcome(number, False, *TAKEN)
            previous = self._references.get((institution, person))
            if previous is not None:
                self._owners.pop((institution, previous), None)
            self._references[(institution, person)] = number
            self._owners[(institution, number)] = person
        return ReferenceOutcome(number, True)

    def reference(self, institution: str, people: Sequence[Person]) -> str:
        """The 照会番号 this institution registered for the first of `people` that has one."""
        with self._lock:
            for person in people:
                number = self._references.get((institution, person.id))
                if number is not None:
                    return number
        return ""

    def forget_references(self) -> None:
        """Every institution's 照会番号 forgotten (tests sharing one simulated central)."""
        with self._lock:
            self._references.clear()
            self._owners.clear()
