"""The bulk inquiry and 照会番号 registration on the wire: CentralClient (httpx.MockTransport),
the simulated central's desk (jobs, idempotency, answers as single answers, the registry), the
terminal's folders (FolderTransport against the in-process SimTerminal, zipped answers) and the
circuit breaker."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.central.answers import RequestRejected
from sim.central.app import CLIENT_CERT_ENVIRON, create_app
from sim.central.service import CentralService
from sim.population import person
from sim.terminal import SimTerminal, TerminalFaults
from sync.breaker import BreakerState, CircuitBreaker, CircuitOpen
from sync.bulkmsg import (
    MAX_BULK_BYTES,
    BulkAnswer,
    BulkEntry,
    BulkQuery,
    BulkReceipt,
    BulkUnit,
    BulkUpload,
    MessageError,
    ReferenceRegistration,
    ReferenceRequest,
    build_bulk_answer,
    build_bulk_query,
    build_bulk_receipt,
    build_bulk_upload,
    build_reference_request,
    parse_bulk_answer,
    parse_bulk_receipt,
    parse_bulk_upload,
    parse_reference_answer,
)
from sync.central import CentralClient
from sync.folders import FolderTransport, _unzipped
from sync.transport import (
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
)
from sync.xmlmsg import (
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_request,
    parse_result,
)

from .bulkfakes import DownCentral, poll_until_ready, within

MIC = "1312345670"
NOW = datetime(2026, 4, 1, 13, 0, tzinfo=UTC)  # 22:00 JST on the day asked about
LONG_S = 20.0

# person → QualificationValidity a single answer gives (the population's scenarios)
SCENARIOS = {"P001": "1", "P013": "2", "P014": "3", "P016": "4", "P017": "5"}


def numbers(person_id: str) -> SearchInfo:
    p = person(person_id)
    return SearchInfo(p.insurer_number, p.number, p.birthdate, symbol=p.symbol)


def upload_of(*person_ids: str, file_id: str = "up-1") -> BulkUpload:
    entries = tuple(BulkEntry(f"a{i}", numbers(pid)) for i, pid in enumerate(person_ids))
    return BulkUpload(MIC, "20260401", file_id, entries)


def single(person_id: str, file_id: str = "one") -> QualificationRequest:
    return QualificationRequest(MIC, "20260401", file_id, "2", search=numbers(person_id))


# -- CentralClient ----------------------------------------------------------------------------


def client(handler: Any) -> CentralClient:
    return CentralClient(
        "https://central.test",
        verify=False,
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
    )


def ready_answer(file_id: str, count: int) -> BulkAnswer:
    message = "該当する資格がありません。" * 30  # a long verbatim message in every unit
    units = tuple(
        BulkUnit(
            f"a{i}",
            QualificationResult(
                "20260401220000",
                "20260401",
                MIC,
                f"a{i}",
                "2",
                "1",
                "1",
                processing_message=message,
                validity="4",
            ),
            b"",
        )
        for i in range(count)
    )
    return BulkAnswer(
        file_id, "R1", "20260401220000", "1", count, count, 0, units, confirmation_date="20260401"
    )


def test_client_uploads_and_reads_a_large_gzipped_answer() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/v1/bulk":
            sent = parse_bulk_upload(request.content)
            receipt = BulkReceipt(sent.file_id, "R1", "20260401220000")
            return httpx.Response(
                200, content=build_bulk_receipt(receipt, medical_institution_code=MIC)
            )
        body = build_bulk_answer(ready_answer("q-1", 1000), medical_institution_code=MIC)
        assert len(body) > 1_000_000  # more than a single message may be
        return httpx.Response(
            200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
        )

    central = client(handler)
    receipt = central.bulk_upload(upload_of("P001", "P016"))
    assert receipt.reception_number == "R1"
    answer = central.bulk_result(BulkQuery(MIC, "q-1", "R1"))
    assert answer.ready and len(answer.units) == 1000
    assert seen == ["/v1/bulk", "/v1/bulk/result"]


def test_client_refuses_an_answer_past_the_bulk_cap_once_inflated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        bomb = gzip.compress(b" " * (MAX_BULK_BYTES + 10))
        return httpx.Response(
            200, stream=httpx.ByteStream(bomb), headers={"Content-Encoding": "gzip"}
        )

    with pytest.raises(CentralUnreadable, match="decompressed"):
        client(handler).bulk_result(BulkQuery(MIC, "q-1", "R1"))


def test_client_maps_refusals_and_mismatches() -> None:
    def unknown(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "no bulk inquiry with this reception number"})

    with pytest.raises(CentralRefused) as refused:
        client(unknown).bulk_result(BulkQuery(MIC, "q-1", "R9"))
    assert refused.value.status == 404

    def abnormal(request: httpx.Request) -> httpx.Response:
        answer = BulkAnswer("q-1", "R9", "20260401220000", "9", error_code="E1", error_message="x")
        return httpx.Response(200, content=build_bulk_answer(answer, medical_institution_code=MIC))

    with pytest.raises(CentralRefused, match="E1"):
        client(abnormal).bulk_result(BulkQuery(MIC, "q-1", "R9"))

    def other(request: httpx.Request) -> httpx.Response:
        answer = BulkAnswer("q-1", "R2", "20260401220000", "2")
        return httpx.Response(200, content=build_bulk_answer(answer, medical_institution_code=MIC))

    with pytest.raises(CentralUnreadable, match="reception number"):
        client(other).bulk_result(BulkQuery(MIC, "q-1", "R1"))

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<XmlMsg><MessageHeader/></XmlMsg>")

    with pytest.raises(CentralUnreadable, match="ProcessExecutionTime"):
        client(garbage).bulk_upload(upload_of("P001"))


def test_client_retries_an_upload_with_the_same_file_id() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if len(bodies) == 1:
            return httpx.Response(503)
        receipt = BulkReceipt("up-1", "R1", "20260401220000")
        return httpx.Response(
            200, content=build_bulk_receipt(receipt, medical_institution_code=MIC)
        )

    assert client(handler).bulk_upload(upload_of("P001")).reception_number == "R1"
    assert len(bodies) == 2 and bodies[0] == bodies[1]


# -- the simulated central's desk ------------------------------------------------------------


@pytest.fixture
def service(pki_at: Any) -> CentralService:
    # The central's PKI and clock from the day the requests ask about, not from today.
    return CentralService(pki_at(NOW), bulk_delay_s=0.0, clock=lambda: NOW)


def test_the_same_upload_twice_gets_the_same_reception_number(service: CentralService) -> None:
    body = build_bulk_upload(upload_of("P001"))
    first = service.bulk_upload(body, MIC).body
    assert service.bulk_upload(body, MIC).body == first
    other = build_bulk_upload(upload_of("P016"))  # same file id, another list
    with pytest.raises(RequestRejected) as conflict:
        service.bulk_upload(other, MIC)
    assert conflict.value.status == 409
    with pytest.raises(RequestRejected) as foreign:
        service.bulk_upload(body, "1399999990")
    assert foreign.value.status == 403


def test_a_job_is_in_progress_then_answers_every_entry_as_a_single_answer(
    service: CentralService,
) -> None:
    service.bulk.delay_s = 60.0
    ids = list(SCENARIOS)
    receipt = service.bulk_upload(build_bulk_upload(upload_of(*ids)), MIC).body
    number = parse_result_number(receipt)
    query = build_bulk_query(BulkQuery(MIC, "q-1", number))
    assert parse_bulk_answer(service.bulk_result(query, MIC).body).segment_of_result == "2"
    service.bulk.delay_s = 0.0
    for job in service.bulk._jobs.values():
        job.ready_at = 0.0
    answer = parse_bulk_answer(service.bulk_result(query, MIC).body)
    assert answer.ready and answer.processed == len(ids)
    for unit, person_id in zip(answer.units, ids, strict=True):
        alone = parse_result(service.qualify(build_request_of(person_id), MIC).body)
        assert unit.result.validity == SCENARIOS[person_id] == alone.validity, person_id
        assert unit.result.results == alone.results
    with pytest.raises(RequestRejected) as unknown:
        service.bulk_result(build_bulk_query(BulkQuery(MIC, "q-2", "0000")), MIC)
    assert unknown.value.status == 404
    with pytest.raises(RequestRejected) as elsewhere:  # another institution's number
        service.bulk_result(build_bulk_query(BulkQuery("1399999990", "q-3", number)), "1399999990")
    assert elsewhere.value.status == 404


def parse_result_number(receipt: bytes) -> str:
    return parse_bulk_receipt(receipt).reception_number


def build_request_of(person_id: str) -> bytes:
    return build_request(single(person_id, f"single-{person_id}"))


def test_registered_numbers_appear_in_later_answers(service: CentralService) -> None:
    request = ReferenceRequest(
        MIC,
        "r-1",
        (
            ReferenceRegistration("PN-0001", numbers("P001")),
            ReferenceRegistration("PN-0016", numbers("P016")),  # nobody
            ReferenceRegistration("PN-0017", numbers("P017")),  # several
        ),
    )
    answer = parse_reference_answer(
        service.register_references(build_reference_request(request), MIC).body
    )
    assert [(o.registered, o.code) for o in answer.outcomes] == [
        (True, ""),
        (False, "R004"),
        (False, "R005"),
    ]
    result = parse_result(service.qualify(build_request_of("P001"), MIC).body)
    assert result.results[0].reference_number == "PN-0001"
    elsewhere = parse_result(
        service.qualify(build_request_of_for("P001", "1399999990"), "1399999990").body
    )
    assert elsewhere.results[0].reference_number == ""  # per institution
    taken = ReferenceRequest(MIC, "r-2", (ReferenceRegistration("PN-0001", numbers("P013")),))
    refused = parse_reference_answer(
        service.register_references(build_reference_request(taken), MIC).body
    )
    assert refused.outcomes[0].code == "R003"


def build_request_of_for(person_id: str, institution: str) -> bytes:
    request = QualificationRequest(institution, "20260401", "x-1", "2", search=numbers(person_id))
    return build_request(request)


# -- the terminal's folders ------------------------------------------------------------------


@pytest.fixture
def terminal_root(tmp_path: Path, service: CentralService) -> Iterator[tuple[Path, SimTerminal]]:
    terminal = SimTerminal(tmp_path, service, TerminalFaults(delay_s=0.0), poll_s=0.01)
    terminal.start()
    yield tmp_path, terminal
    terminal.stop()


@pytest.mark.parametrize("zipped", [False, True], ids=["xml", "zip"])
def test_folders_carry_a_bulk_inquiry(
    terminal_root: tuple[Path, SimTerminal], service: CentralService, zipped: bool
) -> None:
    root, terminal = terminal_root
    terminal.zip_bulk = zipped
    service.bulk.delay_s = 0.3
    ids = list(SCENARIOS)
    with FolderTransport(root, timeout_s=LONG_S, rescan_s=0.05) as folders:
        receipt = folders.bulk_upload(upload_of(*ids))
        answer, polls = poll_until_ready(folders.bulk_result, MIC, receipt.reception_number)
        assert [u.identifier for u in answer.units] == [f"a{i}" for i in range(len(ids))]
        assert [u.result.validity for u in answer.units] == list(SCENARIOS.values())
        with pytest.raises(CentralRefused, match="E404"):
            folders.bulk_result(BulkQuery(MIC, "q-unknown", "0000"))
    assert polls > 1  # it was in progress first
    suffix = ".zip" if zipped else ".xml"
    assert (root / "trash" / f"OQSmuquc02res_q-{polls}{suffix}").exists()
    # the terminal moves each request to trash/ just after writing its answer
    assert within(lambda: not list((root / "req").iterdir()))


def test_folders_register_a_reference_number(terminal_root: tuple[Path, SimTerminal]) -> None:
    root, _ = terminal_root
    with FolderTransport(root, timeout_s=LONG_S, rescan_s=0.05) as folders:
        one = ReferenceRequest(MIC, "r-1", (ReferenceRegistration("PN-7", numbers("P001")),))
        assert folders.register_references(one).outcomes[0].registered
        # the terminal moves the request to trash/ just after writing the answer
        assert within((root / "trash" / "OQSsiimm01req_r-1.xml").exists)
        answer = folders.confirm(single("P001"))
    assert answer.result.results[0].reference_number == "PN-7"


def zipped(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def test_a_zipped_answer_is_one_xml_within_the_cap() -> None:
    assert _unzipped("a.zip", zipped(("a.xml", b"<x/>")), 1_000) == b"<x/>"
    whole = zipped(("a.xml", b"<x/>"))
    with pytest.raises(MessageError):  # half written: read again later
        _unzipped("a.zip", whole[: len(whole) // 2], 1_000)
    with pytest.raises(CentralUnreadable, match="exactly one XML"):
        _unzipped("a.zip", zipped(("a.xml", b"<x/>"), ("b.xml", b"<y/>")), 1_000)
    with pytest.raises(CentralUnreadable, match="larger"):  # a zip bomb: small, inflates big
        _unzipped("a.zip", zipped(("a.xml", b"0" * 1_000_000)), 10_000)


# -- the circuit breaker ---------------------------------------------------------------------


def test_the_breaker_counts_bulk_calls_like_any_other() -> None:
    inner = DownCentral()
    breaker = CircuitBreaker(inner, failures=2, open_s=60, clock=lambda: 0.0)
    request = ReferenceRequest(MIC, "r", (ReferenceRegistration("A", numbers("P001")),))
    with pytest.raises(CentralRefused):  # an answer: does not count
        breaker.register_references(request)
    for _ in range(2):
        with pytest.raises(CentralUnavailable):
            breaker.bulk_upload(upload_of("P001"))
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        breaker.bulk_result(BulkQuery(MIC, "q", "R1"))
    assert inner.calls == 3


def test_a_registered_number_is_in_the_terminals_face_files(
    pki_at: Any, service: CentralService, tmp_path: Path
) -> None:
    terminal = SimTerminal(tmp_path, service, pki=pki_at(NOW), institution=MIC, clock=lambda: NOW)
    request = ReferenceRequest(MIC, "r-f", (ReferenceRegistration("PN-FACE", numbers("P001")),))
    service.register_references(build_reference_request(request), MIC)
    _, data = terminal.face_file("P001")
    assert parse_result(data, face=True).results[0].reference_number == "PN-FACE"


def test_the_bulk_routes_take_larger_bodies_than_a_single_request(
    pki_at: Any, service: CentralService
) -> None:
    app = create_app(service).test_client()
    cert = {CLIENT_CERT_ENVIRON: Path(pki_at(NOW).device_cert).read_text()}
    padding = b"<!--" + b" " * 1_100_000 + b"-->"
    body = build_bulk_upload(upload_of("P001")).replace(b"<XmlMsg>", padding + b"<XmlMsg>")
    bulk = app.post("/v1/bulk", data=body, environ_base=cert)
    assert bulk.status_code == 200, bulk.get_data()
    receipt = parse_bulk_receipt(bulk.get_data())
    single = app.post("/v1/qualification", data=body, environ_base=cert)
    assert single.status_code == 413
    query = build_bulk_query(BulkQuery(MIC, "q-1", receipt.reception_number))
    answer = app.post("/v1/bulk/result", data=query, environ_base=cert)
    assert parse_bulk_answer(answer.get_data()).ready
