"""The doctor's drug and checkup history through the official terminal's folders: the simulated
terminal (sim/terminal.py, answering through the simulated central's own desk and its consent
rules) on real directories, the appliance's ClinicalRecords over a real FolderTransport behind
the circuit breaker, a real SQLite store. XML and PDF, consent refused by the central, and a
silent terminal as the doctor's view's outage path.

The terminal runs in this process (the same SimTerminal `onshi sim terminal` runs) so that the
consent the patient gave on the official reader can be recorded at its central directly; the
face files that carry it to the appliance are tested on their own (test_folder_transport.py).
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pypdf
import pytest

from device.clinical import ClinicalRecords, ClinicalRefused
from sim.central.service import CentralService
from sim.medical import checkup_history, drug_history
from sim.population import person
from sim.terminal import SimTerminal, TerminalFaults
from sync.breaker import CircuitBreaker
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.folders import FolderTransport
from sync.medinfo import MedicalInfoRequest
from sync.store import Store
from sync.xmlmsg import ConsentAnswer
from tests.unit.test_clinical import (
    CONSENT_TIME,
    MIC,
    NOW,
    Clock,
    agreed,
    audit_of,
    declined,
    save_card_visit,
)
from web.clinical import refusal_words

from .test_folder_transport import sim_terminal

PERSON = "P010"  # drug history and yearly checkups in the simulator
LONG_S = 20.0


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
    yield s
    s.close()


@pytest.fixture
def central(sim_pki: Any, clock: Clock) -> CentralService:
    """The simulated central behind the terminal; the patient agreed to drugs, not checkups,
    on the official reader."""
    service = CentralService(sim_pki, encoding="shift_jis", clock=clock)
    service.medical.record_consents(
        MIC,
        person(PERSON),
        [ConsentAnswer("drug", True, CONSENT_TIME), ConsentAnswer("checkup", False, CONSENT_TIME)],
    )
    return service


def records_over(
    transport: FolderTransport, store: Store, clock: Clock, breaker: CircuitBreaker | None = None
) -> ClinicalRecords:
    return ClinicalRecords(
        store, transport, MIC, clock=clock, breaker=breaker or CircuitBreaker(transport)
    )


@pytest.mark.parametrize(
    "faults",
    [TerminalFaults(delay_s=0.05), TerminalFaults(delay_s=0, half_written=True)],
    ids=["whole", "half-written"],
)
def test_drugs_xml_and_pdf_through_the_terminal_and_checkups_refused_by_its_central(
    tmp_path: Path, store: Store, central: CentralService, clock: Clock, faults: TerminalFaults
) -> None:
    root = tmp_path / "terminal"
    terminal = SimTerminal(root, central, faults)
    terminal.start()
    try:
        with FolderTransport(root, timeout_s=LONG_S, rescan_s=0.2) as transport:
            records = records_over(transport, store, clock)
            # The appliance's copy of the consents says yes to both (as if the face file had
            # said so): what refuses checkups below is the central's own consent rule.
            cid = save_card_visit(store, PERSON, (agreed("drug"), agreed("checkup")))

            drug = records.open(cid, "drug", user="doctor")
            today = NOW.astimezone(JST).date()
            expected = {
                d.name
                for m in drug_history(person(PERSON), today)
                for x in m.dispensings
                for d in x.drugs
            }
            shown = {d.name for m in drug.result.months for x in m.dispensings for d in x.drugs}
            assert expected and shown and shown <= expected and not drug.from_cache

            pdf = records.open_document(cid, "drug", user="doctor")
            reader = pypdf.PdfReader(io.BytesIO(pdf.data), strict=True)
            text = "".join(page.extract_text() for page in reader.pages)
            assert all(name in text for name in shown)
            assert records.open_document(cid, "drug", user="doctor").from_cache

            for opened in (records.open, records.open_document):
                with pytest.raises(ClinicalRefused) as refused:
                    opened(cid, "checkup", user="doctor")
                assert (refused.value.reason, refused.value.answered) == ("central", True)
                assert "EK01" in refused.value.detail
    finally:
        terminal.stop()
    assert [a[3] for a in audit_of(store)] == [
        "drug online",
        "drug.pdf online",
        "drug.pdf cache",
        "checkup:central",
        "checkup.pdf:central",
    ]
    # every request handled, every answer read and moved to trash/ (the PDF under its name)
    assert os.listdir(root / "req") == [] and os.listdir(root / "res") == []
    trash = sorted(os.listdir(root / "trash"))
    assert [n[:14] for n in trash if n.endswith(".pdf")] == ["YZKsiquc01res_"]
    assert len([n for n in trash if n.startswith("TKKsiquc01res_")]) == 2


def test_checkups_with_consent_through_the_terminal(
    tmp_path: Path, store: Store, sim_pki: Any, clock: Clock
) -> None:
    service = CentralService(sim_pki, encoding="shift_jis", clock=clock)
    p = person("P004")
    service.medical.record_consents(MIC, p, [ConsentAnswer("checkup", True, CONSENT_TIME)])
    root = tmp_path / "terminal"
    terminal = SimTerminal(root, service, TerminalFaults(delay_s=0))
    terminal.start()
    try:
        with FolderTransport(root, timeout_s=LONG_S, rescan_s=0.2, watch=False) as transport:
            records = records_over(transport, store, clock)
            cid = save_card_visit(store, "P004", (agreed("checkup"), declined("drug")))
            checkup = records.open(cid, "checkup", user="doctor")
            exams = checkup_history(p, NOW.astimezone(JST).date())
            assert {e.date for e in checkup.result.exams} <= {e.date for e in exams}
            assert checkup.result.exams
            pdf = records.open_document(cid, "checkup", user="doctor")
            assert pdf.data.startswith(b"%PDF-") and not pdf.from_cache
    finally:
        terminal.stop()


def test_a_silent_terminal_is_the_doctors_outage_path(
    tmp_path: Path, store: Store, central: CentralService, clock: Clock
) -> None:
    root = tmp_path / "terminal"
    terminal = SimTerminal(root, central, TerminalFaults(silent=True))
    terminal.start()
    try:
        with FolderTransport(root, timeout_s=0.3, rescan_s=0.1) as transport:
            breaker = CircuitBreaker(transport, failures=2, open_s=3600)
            records = records_over(transport, store, clock, breaker)
            cid = save_card_visit(store, PERSON, (agreed("drug"),))
            for opened in (records.open, records.open_document):
                with pytest.raises(ClinicalRefused) as refused:
                    opened(cid, "drug", user="doctor")
                assert refused.value.reason == "unavailable" and not refused.value.circuit_open
            # the circuit is open now: the next view is refused at once, nothing written
            with pytest.raises(ClinicalRefused) as at_once:
                records.open_document(cid, "drug", user="doctor")
            assert at_once.value.circuit_open
            words = refusal_words(at_once.value)
            assert "お薬手帳" in words.ja and "medication notebook" in words.en
    finally:
        terminal.stop()
    assert os.listdir(root / "req") == []  # each unanswered request taken back
    assert [a[3] for a in audit_of(store)] == [
        "drug:unavailable",
        "drug.pdf:unavailable",
        "drug.pdf:unavailable circuit_open",
    ]


def test_the_terminal_process_answers_drug_requests_under_its_consent_rules(
    tmp_path: Path, sim_pki: Any
) -> None:
    """`onshi sim terminal` itself: nobody agreed at its central, so both the XML and the PDF
    request are refused there, with the central's words, as XML answers."""
    data = tmp_path / "sim-data"
    shutil.copytree(sim_pki.root, data / "pki")
    root = tmp_path / "terminal"
    p = person(PERSON)
    request = MedicalInfoRequest(
        "drug",
        MIC,
        "proc1",
        p.insurer_number,
        p.number,
        p.birthdate,
        "202305",
        "202604",
        p.symbol,
        p.branch,
    )
    with (
        sim_terminal(root, data, "--delay", "0"),
        FolderTransport(root, timeout_s=LONG_S, rescan_s=0.2) as transport,
    ):
        for category in ("2", "1"):
            asked = replace(request, file_id=f"proc{category}", file_category=category)
            answer = transport.medical_info(asked)
            assert not answer.is_document
            assert (answer.result.segment_of_result, answer.result.error_code) == ("9", "EK01")
            assert "同意がありません" in answer.result.error_message
    assert sorted(os.listdir(root / "trash")) == [
        "YZKsiquc01req_proc1.xml",
        "YZKsiquc01req_proc2.xml",
        "YZKsiquc01res_proc1.xml",
        "YZKsiquc01res_proc2.xml",
    ]
