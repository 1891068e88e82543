"""Drug and checkup history through the terminal's folders (FolderTransport.medical_info) against
a small terminal thread on tmp dirs: official names, XML and PDF answers, an XML refusal to a
PDF request, half-written and bad files, silence.

Where an answer is expected the deadline is long (never reached when the transport works); only
the tests that expect a timeout or a file that never reads use a short one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sim.central.medpdf import text_pdf
from sync.breaker import BreakerState, CircuitBreaker
from sync.folders import FolderTransport
from sync.medinfo import (
    MAX_DOCUMENT_BYTES,
    PDF_MEDIA_TYPE,
    XML_MEDIA_TYPE,
    Dispensing,
    Drug,
    DrugMonth,
    MedicalInfoRequest,
    MedicalInfoResult,
    build_medinfo_result,
    parse_medinfo_request,
)
from sync.transport import CentralUnavailable, CentralUnreadable

MIC = "1312345670"
LONG_S = 20.0
DRUG = MedicalInfoRequest(
    kind="drug",
    medical_institution_code=MIC,
    file_id="20260401Y001",
    insurer_number="06130012",
    number="1234",
    birthdate="19800101",
    start_month="202305",
    end_month="202604",
    symbol="記号",
    branch="01",
)
CHECKUP_PDF = replace(DRUG, kind="checkup", file_id="20260401T001", file_category="1")
PDF = text_pdf(["特定健診情報", "HbA1c 5.8 %"], title="特定健診情報")
MONTHS = (
    DrugMonth(
        "202603",
        (
            Dispensing(
                "20260310",
                "さくら薬局",
                "田中内科",
                (Drug("", "メトホルミン", "", "2", "錠", "", "14"),),
            ),
        ),
    ),
)


def answer_xml(request: MedicalInfoRequest, **changes: str) -> bytes:
    result = MedicalInfoResult(
        kind=request.kind,
        process_time="20260401103000",
        medical_institution_code=request.medical_institution_code,
        file_id=request.file_id,
        segment_of_result="1",
        start_month=request.start_month,
        end_month=request.end_month,
        months=MONTHS if request.kind == "drug" else (),
    )
    return build_medinfo_result(replace(result, **changes), encoding="shift_jis")


def land(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def res(name: str, suffix: str = ".xml") -> str:
    return name.replace("req_", "res_").removesuffix(".xml") + suffix


Handler = Callable[[Path, str, MedicalInfoRequest], None]


def xml_or_pdf(root: Path, name: str, request: MedicalInfoRequest) -> None:
    """As the terminal does: the PDF for FileCategory 1, else the XML."""
    if request.file_category == "1":
        land(root / "res" / res(name, ".pdf"), PDF)
    else:
        land(root / "res" / res(name), answer_xml(request))
    os.replace(root / "req" / name, root / "trash" / name)


class Terminal:
    """Answers each YZK/TKK request in req/ with `handler` on its own thread."""

    def __init__(self, root: Path, handler: Handler = xml_or_pdf) -> None:
        self.root = root
        self.handler = handler
        self.seen: list[str] = []
        self.bodies: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._handlers: list[threading.Thread] = []

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            for name in sorted(os.listdir(self.root / "req")):
                if name.startswith(".") or name in self.seen:
                    continue
                self.seen.append(name)
                body = (self.root / "req" / name).read_bytes()
                self.bodies.append(body)
                args = (self.root, name, parse_medinfo_request(body))
                thread = threading.Thread(target=self.handler, args=args)
                thread.start()
                self._handlers.append(thread)

    def __enter__(self) -> Terminal:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for thread in self._handlers:
            thread.join(5)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("req", "res", "face", "trash"):
        (tmp_path / name).mkdir()
    return tmp_path


@pytest.fixture
def transport(root: Path) -> Iterator[FolderTransport]:
    with FolderTransport(root, timeout_s=LONG_S, rescan_s=LONG_S) as transport:
        yield transport


def test_drug_xml_under_the_official_names(root: Path, transport: FolderTransport) -> None:
    with Terminal(root) as terminal:
        answer = transport.medical_info(DRUG)
    assert terminal.seen == ["YZKsiquc01req_20260401Y001.xml"]
    (sent,) = terminal.bodies
    assert sent.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    assert parse_medinfo_request(sent) == DRUG
    assert answer.media_type == XML_MEDIA_TYPE and not answer.is_document
    assert answer.result.kind == "drug" and answer.result.months == MONTHS
    assert 0 < answer.round_trip_s < LONG_S
    # read once, moved to trash/ like every handled file
    assert os.listdir(root / "res") == [] and os.listdir(root / "req") == []
    assert (root / "trash" / "YZKsiquc01res_20260401Y001.xml").read_bytes() == answer.raw


def test_a_pdf_request_is_answered_by_the_pdf_of_the_same_base_name(
    root: Path, transport: FolderTransport
) -> None:
    with Terminal(root) as terminal:
        answer = transport.medical_info(CHECKUP_PDF)
    assert terminal.seen == ["TKKsiquc01req_20260401T001.xml"]
    assert parse_medinfo_request(terminal.bodies[0]).file_category == "1"
    assert answer.is_document and answer.media_type == PDF_MEDIA_TYPE
    assert answer.raw == PDF
    assert (answer.result.kind, answer.result.file_id, answer.result.segment_of_result) == (
        "checkup",
        "20260401T001",
        "1",
    )
    assert os.listdir(root / "res") == []
    assert (root / "trash" / "TKKsiquc01res_20260401T001.pdf").read_bytes() == PDF


def test_a_pdf_request_refused_is_an_xml_answer(root: Path, transport: FolderTransport) -> None:
    def refuse(root: Path, name: str, request: MedicalInfoRequest) -> None:
        land(
            root / "res" / res(name),
            answer_xml(
                request,
                segment_of_result="9",
                error_code="EK01",
                error_message="同意なし",
                start_month="",
                end_month="",
            ),
        )

    with Terminal(root, refuse):
        answer = transport.medical_info(CHECKUP_PDF)
    assert not answer.is_document
    assert (answer.result.segment_of_result, answer.result.error_code) == ("9", "EK01")


@pytest.mark.parametrize("watch", [True, False], ids=["events", "rescan-only"])
def test_a_half_written_pdf_is_read_again_until_whole(root: Path, watch: bool) -> None:
    def half_then_rest(root: Path, name: str, request: MedicalInfoRequest) -> None:
        with open(root / "res" / res(name, ".pdf"), "wb") as file:
            file.write(PDF[: len(PDF) // 2])  # starts with %PDF-, no %%EOF yet
            file.flush()
            time.sleep(0.4)
            file.write(PDF[len(PDF) // 2 :])

    with (
        FolderTransport(root, timeout_s=LONG_S, rescan_s=0.2, watch=watch) as transport,
        Terminal(root, half_then_rest),
    ):
        answer = transport.medical_info(CHECKUP_PDF)
    assert answer.raw == PDF


@pytest.mark.parametrize(
    "data", [PDF[:-20], b"%PDF-1.4\n" + b"x" * 3000], ids=["cut-short", "no-end"]
)
def test_a_pdf_never_whole_is_unreadable_at_the_deadline_and_left_in_place(
    root: Path, data: bytes
) -> None:
    def bad(root: Path, name: str, request: MedicalInfoRequest) -> None:
        land(root / "res" / res(name, ".pdf"), data)

    with (
        FolderTransport(root, timeout_s=0.5, rescan_s=0.1) as transport,
        Terminal(root, bad),
        pytest.raises(CentralUnreadable, match="cannot be read"),
    ):
        transport.medical_info(CHECKUP_PDF)
    assert os.listdir(root / "res") == ["TKKsiquc01res_20260401T001.pdf"]


def test_a_file_that_is_no_pdf_is_unreadable_without_waiting_for_the_deadline(
    root: Path, transport: FolderTransport
) -> None:
    def html(root: Path, name: str, request: MedicalInfoRequest) -> None:
        land(root / "res" / res(name, ".pdf"), b"<html>not a pdf</html>")

    with Terminal(root, html), pytest.raises(CentralUnreadable, match="is not a PDF"):
        transport.medical_info(CHECKUP_PDF)  # the deadline is 20 s: the match says why


def test_an_oversized_pdf_is_unreadable_without_waiting_for_the_deadline(
    root: Path, transport: FolderTransport
) -> None:
    def huge(root: Path, name: str, request: MedicalInfoRequest) -> None:
        land(root / "res" / res(name, ".pdf"), PDF[:-6] + b" " * MAX_DOCUMENT_BYTES + b"%%EOF\n")

    with Terminal(root, huge), pytest.raises(CentralUnreadable, match="too large"):
        transport.medical_info(CHECKUP_PDF)


def test_an_xml_request_is_never_answered_by_a_pdf(root: Path) -> None:
    def pdf_anyway(root: Path, name: str, request: MedicalInfoRequest) -> None:
        land(root / "res" / res(name, ".pdf"), PDF)

    with (
        FolderTransport(root, timeout_s=0.3, rescan_s=0.1) as transport,
        Terminal(root, pdf_anyway),
        pytest.raises(CentralUnavailable),
    ):
        transport.medical_info(DRUG)  # the .pdf is not the answer it waits for


def test_an_answer_of_the_other_kind_or_id_is_unreadable(
    root: Path, transport: FolderTransport
) -> None:
    def checkup_inside(root: Path, name: str, request: MedicalInfoRequest) -> None:
        land(root / "res" / res(name), answer_xml(replace(request, kind="checkup")))

    with Terminal(root, checkup_inside), pytest.raises(CentralUnreadable, match="another kind"):
        transport.medical_info(DRUG)

    def other_id(root: Path, name: str, request: MedicalInfoRequest) -> None:
        land(root / "res" / res(name), answer_xml(request, file_id="other9"))

    with Terminal(root, other_id), pytest.raises(CentralUnreadable, match="another request"):
        transport.medical_info(replace(DRUG, file_id="20260401Y002"))


def test_an_answer_already_waiting_is_taken_without_asking_again(
    root: Path, transport: FolderTransport
) -> None:
    land(root / "res" / "TKKsiquc01res_20260401T001.pdf", PDF)
    answer = transport.medical_info(CHECKUP_PDF)
    assert answer.raw == PDF
    assert os.listdir(root / "req") == []  # nothing was sent


def test_a_silent_terminal_is_unavailable_the_request_taken_back_and_the_breaker_opens(
    root: Path,
) -> None:
    with FolderTransport(root, timeout_s=0.2, rescan_s=0.1) as transport:
        breaker = CircuitBreaker(transport, failures=2, open_s=30)
        for n in range(2):
            with pytest.raises(CentralUnavailable, match="did not answer"):
                breaker.call(
                    lambda n=n: transport.medical_info(replace(DRUG, file_id=f"silent{n}"))
                )
    assert breaker.state is BreakerState.OPEN
    assert os.listdir(root / "req") == []
