"""The monthly 医療扶助 bulk (OQSmutic01/02): the messages, the simulated central's answers
from the population's 生活保護 people, the HTTPS client (mocked), the terminal's folders and the
circuit breaker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.central.answers import RequestRejected
from sim.central.service import CentralService
from sim.population import person
from sim.terminal import SimTerminal, TerminalFaults
from sync.breaker import BreakerState, CircuitBreaker, CircuitOpen
from sync.bulkmsg import (
    AidEntry,
    AidUpload,
    BulkAnswer,
    BulkQuery,
    BulkReceipt,
    MessageError,
    build_aid_upload,
    build_bulk_answer,
    build_bulk_query,
    build_bulk_receipt,
    file_name,
    parse_aid_upload,
    parse_bulk_answer,
    parse_bulk_receipt,
)
from sync.central import AID_RESULT_PATH, AID_UPLOAD_PATH, CentralClient
from sync.folders import FolderTransport
from sync.transport import CentralRefused, CentralUnavailable

from .bulkfakes import DownCentral, poll_until_ready

MIC = "1312345670"
MONTH = "202604"
NOW = datetime(2026, 4, 1, 13, 0, tzinfo=UTC)  # 22:00 JST on the day asked about
LONG_S = 20.0


def entry_of(person_id: str, identifier: str, **changes: str) -> AidEntry:
    p = person(person_id)
    fields = {"public_number": p.insurer_number, "recipient": p.number, "birthdate": p.birthdate}
    fields.update(changes)
    return AidEntry(identifier, **fields)


def upload_of(*person_ids: str, file_id: str = "aid-1") -> AidUpload:
    entries = tuple(entry_of(pid, f"m{i}") for i, pid in enumerate(person_ids))
    return AidUpload(MIC, MONTH, file_id, entries)


def test_an_upload_round_trips_in_both_encodings() -> None:
    upload = upload_of("P051", "P052", "P053")
    for encoding in ("utf-8", "shift_jis"):
        data = build_aid_upload(upload, encoding)
        assert b"<MedicalTreatmentMonth>202604</MedicalTreatmentMonth>" in data
        assert b"<MedicalTicketSearchInfo>" in data
        assert parse_aid_upload(data) == upload
    assert file_name("OQSmutic01req", "aid-1") == "OQSmutic01req_aid-1.xml"
    assert file_name("OQSmutic02res", "q1", "zip") == "OQSmutic02res_q1.zip"


@pytest.mark.parametrize(
    "upload",
    [
        AidUpload(MIC, MONTH, "x", ()),  # empty
        AidUpload(MIC, "202613", "x", (entry_of("P051", "m0"),)),  # no such month
        AidUpload(MIC, "2026-4", "x", (entry_of("P051", "m0"),)),
        AidUpload(MIC, MONTH, "x", (entry_of("P051", "m0"), entry_of("P052", "m0"))),  # repeated
        AidUpload(MIC, MONTH, "x", (entry_of("P051", "../m0"),)),  # unsafe identifier
    ],
)
def test_a_bad_upload_is_refused(upload: AidUpload) -> None:
    with pytest.raises(MessageError):
        build_aid_upload(upload)


def test_the_answer_carries_the_month_in_its_header() -> None:
    answer = BulkAnswer("q", "R1", "20260401220000", "2", treatment_month=MONTH)
    data = build_bulk_answer(answer, medical_institution_code=MIC)
    assert b"MedicalTreatmentMonth" in data and b"QualificationConfirmationDate" not in data
    parsed = parse_bulk_answer(data)
    assert (parsed.treatment_month, parsed.confirmation_date, parsed.ready) == (
        MONTH,
        "20260401",
        False,
    )


# -- the simulated central ----------------------------------------------------------------------


@pytest.fixture
def service(pki_at: Any) -> CentralService:
    # The central's PKI and clock from the day the requests ask about, not from today.
    return CentralService(pki_at(NOW), bulk_delay_s=0.0, clock=lambda: NOW)


def answered(service: CentralService, upload: AidUpload) -> BulkAnswer:
    receipt = parse_bulk_receipt(service.aid_upload(build_aid_upload(upload), MIC).body)
    query = BulkQuery(MIC, f"q-{upload.file_id}", receipt.reception_number)
    return parse_bulk_answer(service.aid_result(build_bulk_query(query), MIC).body)


def test_the_central_answers_each_recipient_with_the_months_tickets(
    service: CentralService,
) -> None:
    upload = AidUpload(
        MIC,
        MONTH,
        "aid-1",
        (
            entry_of("P051", "m0"),
            entry_of("P052", "m1"),
            entry_of("P053", "m2"),
            entry_of("P051", "m3", recipient="4012364"),  # a wrong 受給者番号
            entry_of("P001", "m4"),  # insured, not a 医療扶助 recipient
        ),
    )
    answer = answered(service, upload)
    assert answer.ready and answer.treatment_month == MONTH
    units = {u.identifier: u.result for u in answer.units}
    assert [units[f"m{i}"].validity for i in range(5)] == ["1", "1", "6", "4", "4"]
    (ticket,) = units["m0"].results[0].medical_tickets
    assert (ticket.treatment_month, ticket.institution_flag, ticket.issue_number) == (
        MONTH,
        "0",
        "2604-00512",
    )
    (elsewhere,) = units["m1"].results[0].medical_tickets
    assert elsewhere.institution_flag == "1"
    (last_month,) = units["m2"].results[0].medical_tickets
    assert last_month.treatment_month == "202603"
    assert units["m0"].results[0].card_classification == "A1"


def test_the_same_upload_twice_gets_the_same_number_and_not_a_bulk_one(
    service: CentralService,
) -> None:
    body = build_aid_upload(upload_of("P051"))
    first = service.aid_upload(body, MIC).body
    assert service.aid_upload(body, MIC).body == first
    with pytest.raises(RequestRejected) as foreign:
        service.aid_upload(body, "1399999990")
    assert foreign.value.status == 403
    with pytest.raises(RequestRejected) as unreadable:
        service.aid_upload(b"<XmlMsg/>", MIC)
    assert unreadable.value.status == 400


# -- transports -----------------------------------------------------------------------------


def test_the_client_posts_to_the_aid_paths() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == AID_UPLOAD_PATH:
            assert parse_aid_upload(request.content).treatment_month == MONTH
            receipt = BulkReceipt("aid-1", "R9", "20260401220000")
            return httpx.Response(
                200, content=build_bulk_receipt(receipt, medical_institution_code=MIC)
            )
        answer = BulkAnswer("q1", "R9", "20260401220000", "2", treatment_month=MONTH)
        return httpx.Response(200, content=build_bulk_answer(answer, medical_institution_code=MIC))

    client = CentralClient(
        "https://central.test",
        verify=False,
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
    )
    assert client.aid_upload(upload_of("P051")).reception_number == "R9"
    assert not client.aid_result(BulkQuery(MIC, "q1", "R9")).ready
    assert seen == [AID_UPLOAD_PATH, AID_RESULT_PATH]


@pytest.fixture
def terminal_root(tmp_path: Path, service: CentralService) -> Iterator[Path]:
    terminal = SimTerminal(tmp_path, service, TerminalFaults(delay_s=0.0), poll_s=0.01)
    terminal.start()
    yield tmp_path
    terminal.stop()


def test_folders_carry_the_monthly_aid_bulk(terminal_root: Path, service: CentralService) -> None:
    root = terminal_root
    service.bulk.delay_s = 0.2
    with FolderTransport(root, timeout_s=LONG_S, rescan_s=0.05) as folders:
        receipt = folders.aid_upload(upload_of("P051", "P053"))
        answer, polls = poll_until_ready(folders.aid_result, MIC, receipt.reception_number)
        assert [u.result.validity for u in answer.units] == ["1", "6"]
        with pytest.raises(CentralRefused, match="E404"):
            folders.aid_result(BulkQuery(MIC, "q-unknown", "0000"))
    assert (root / "trash" / f"OQSmutic02res_q-{polls}.xml").exists()


def test_the_breaker_counts_aid_calls_like_any_other() -> None:
    inner = DownCentral()
    breaker = CircuitBreaker(inner, failures=2, open_s=60, clock=lambda: 0.0)
    for _ in range(2):
        with pytest.raises(CentralUnavailable):
            breaker.aid_upload(upload_of("P051"))
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        breaker.aid_result(BulkQuery(MIC, "q", "R1"))
    assert inner.calls == 2
