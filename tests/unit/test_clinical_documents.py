"""The history as the central's PDF: device/clinical.py `open_document` (consent gate, kept
encrypted until the consent ends, audit), its page in web/clinical.py, the encrypted table
(sync/store/clinicaldocs.py), and the simulator's PDF (sim/central/medpdf.py) and its terminal
desk (sim/terminal_medinfo.py).

A real Store on a temp file, the injected clock of test_clinical.py, a fake central that
answers FileCategory 1 requests with a PDF.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pypdf
import pytest
from flask.testing import FlaskClient

from device.accounts import Accounts
from device.clinical import ClinicalRecords, ClinicalRefused
from device.config import load_config
from device.events import EventBus
from sim.central.medpdf import GAIJI, medinfo_lines, medinfo_pdf, text_pdf
from sim.central.service import CentralService
from sim.medical import drug_history
from sim.population import person
from sim.terminal_medinfo import answer_medinfo, is_medinfo_request
from sync.breaker import CircuitBreaker
from sync.central import CentralUnavailable
from sync.fieldcrypt import DecryptError, FieldCipher, FieldKeys
from sync.medinfo import (
    PDF_MEDIA_TYPE,
    MedicalInfoAnswer,
    MedicalInfoRequest,
    MessageError,
    build_medinfo_request,
    check_pdf,
    document_answer,
    parse_medinfo_result,
)
from sync.store import Store
from tests.fake_services import services_with
from tests.unit.test_clinical import (
    MIC,
    NOW,
    UNTIL,
    Clock,
    FakeCentral,
    agreed,
    audit_of,
    declined,
    save_card_visit,
    simulated_answer,
)
from tests.unit.test_clinical_web import Desk, page
from web.app import CSP, create_staff_app

DOCTOR = "doctor"
PDF = text_pdf(["薬剤情報", "メトホルミン塩酸塩錠250mgMT 2錠"], title="薬剤情報")


@dataclass
class DocumentCentral(FakeCentral):
    """FakeCentral that answers a FileCategory 1 request with `document` (a PDF by default;
    b"" answers XML instead, as a central without PDFs would)."""

    document: bytes = PDF

    def medical_info(self, request: MedicalInfoRequest) -> MedicalInfoAnswer:
        if request.file_category != "1" or not self.document:
            return super().medical_info(request)
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        answer = document_answer(request, PDF, 0.01)
        return replace(answer, raw=self.document)  # unchecked: the appliance checks again


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
    yield s
    s.close()


@pytest.fixture
def central(clock: Clock) -> DocumentCentral:
    return DocumentCentral(clock)


@pytest.fixture
def records(store: Store, central: DocumentCentral, clock: Clock) -> ClinicalRecords:
    return ClinicalRecords(
        store, central, MIC, clock=clock, breaker=CircuitBreaker(cast(Any, central))
    )


def refused(records: ClinicalRecords, cid: int, kind: str) -> ClinicalRefused:
    with pytest.raises(ClinicalRefused) as caught:
        records.open_document(cid, kind, user=DOCTOR)
    return caught.value


def stored_documents(store: Store) -> list[tuple[int, str, bytes]]:
    with store._lock:
        rows = store._db.execute(
            "SELECT confirmation_id, kind, enc_data FROM clinical_documents"
        ).fetchall()
    return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]


# -- device/clinical.py -------------------------------------------------------------------------
def test_the_pdf_under_consent_is_kept_encrypted_and_every_view_audited(
    records: ClinicalRecords, store: Store, central: DocumentCentral, clock: Clock
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    first = records.open_document(cid, "drug", user=DOCTOR)
    assert (first.data, first.media_type, first.from_cache) == (PDF, PDF_MEDIA_TYPE, False)
    assert (first.fetched_at, first.available_until) == (NOW, UNTIL)
    (request,) = central.requests
    assert (request.kind, request.file_category) == ("drug", "1")
    ((row_id, row_kind, blob),) = stored_documents(store)
    assert (row_id, row_kind) == (cid, "drug")
    assert b"%PDF" not in blob and "メトホルミン".encode("utf-16-be") not in blob
    clock.now = NOW + timedelta(hours=1)
    again = records.open_document(cid, "drug", user=DOCTOR)
    assert again.from_cache and again.data == PDF and len(central.requests) == 1
    assert [a[3] for a in audit_of(store)] == ["drug.pdf online", "drug.pdf cache"]
    # the page view and the PDF are kept apart: opening the page asks again (XML)
    assert records.open(cid, "drug", user=DOCTOR).result.months
    assert [r.file_category for r in central.requests] == ["1", "2"]
    # never kept past the consent
    clock.now = UNTIL
    assert refused(records, cid, "drug").reason == "expired"
    assert records.purge_expired() == 2  # the XML and the PDF
    assert stored_documents(store) == []


def test_no_consent_asks_nothing_and_keeps_nothing(
    records: ClinicalRecords, store: Store, central: DocumentCentral
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"), declined("checkup")))
    assert refused(records, cid, "checkup").reason == "no_consent"
    assert central.requests == [] and stored_documents(store) == []
    assert audit_of(store) == [
        (DOCTOR, "clinical.refused", f"confirmation:{cid}", "checkup.pdf:no_consent")
    ]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"", "no_document"),  # the central answered the page's XML instead
        (b"<html>not a pdf</html>", "unreadable"),
        (PDF[:-30], "unreadable"),  # cut short
    ],
    ids=["xml-instead", "not-a-pdf", "cut-short"],
)
def test_an_answer_that_is_not_a_whole_pdf_is_refused_and_nothing_kept(
    records: ClinicalRecords,
    store: Store,
    central: DocumentCentral,
    document: bytes,
    reason: str,
) -> None:
    central.document = document
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    assert refused(records, cid, "drug").reason == reason
    assert stored_documents(store) == []
    assert audit_of(store)[-1][3] == f"drug.pdf:{reason}"


def test_a_central_refusal_and_an_outage_are_the_pages_refusals(
    records: ClinicalRecords, store: Store, central: DocumentCentral
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    central.error = CentralUnavailable("down")
    assert refused(records, cid, "drug").reason == "unavailable"
    central.error = None
    central.document = b""
    central.answer = lambda req: replace(
        simulated_answer(req, NOW), segment_of_result="9", error_code="EK02", months=()
    )
    no = refused(records, cid, "drug")
    assert (no.reason, no.answered) == ("central", True) and "EK02" in no.detail
    assert stored_documents(store) == []


def test_a_kept_document_copied_to_another_row_does_not_decrypt(
    records: ClinicalRecords, store: Store
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"), agreed("checkup")))
    records.open_document(cid, "drug", user=DOCTOR)
    ((_, _, blob),) = stored_documents(store)
    with store._lock:
        store._db.execute(
            "INSERT INTO clinical_documents (confirmation_id, kind, media_type, fetched_at,"
            " expires_at, enc_data) SELECT confirmation_id, 'checkup', media_type, fetched_at,"
            " expires_at, enc_data FROM clinical_documents"
        )
    with pytest.raises(DecryptError):
        store.clinical_document(cid, "checkup", NOW)
    assert blob


def test_documents_go_with_their_confirmation(records: ClinicalRecords, store: Store) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    records.open_document(cid, "drug", user=DOCTOR)
    with store._lock:
        store._db.execute("DELETE FROM confirmations WHERE id = ?", [cid])
    assert stored_documents(store) == []


# -- sync/medinfo.py -----------------------------------------------------------------------
def test_check_pdf() -> None:
    assert check_pdf(PDF) == PDF
    for bad in (b"", b"%PDF-", b"PDF-1.4 ... %%EOF", PDF[:-10]):
        with pytest.raises(MessageError):
            check_pdf(bad)
    request = MedicalInfoRequest("drug", MIC, "x1", "06130012", "1", "19800101", "202401", "202604")
    with pytest.raises(MessageError, match="request for XML"):
        document_answer(request, PDF, 0.0)


# -- web/clinical.py ---------------------------------------------------------------------------
@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    clock = Clock(NOW)
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
    central = DocumentCentral(clock)
    accounts = Accounts(store)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path), "kiosk_port": 18081})
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(Any, None),
        accounts=accounts,
        clinical=ClinicalRecords(
            store, central, MIC, clock=clock, breaker=CircuitBreaker(cast(Any, central))
        ),
    )
    yield Desk(create_staff_app(config, services), store, accounts, central, clock)
    store.close()


@pytest.fixture
def doctor(desk: Desk) -> FlaskClient:
    return desk.client("doctor", "clinical")


def test_the_page_links_its_pdf_and_the_pdf_is_served_inline(
    desk: Desk, doctor: FlaskClient
) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"), agreed("checkup")))
    for kind in ("drug", "checkup"):
        html = page(doctor.get(f"/clinical/confirmations/{cid}/{kind}"))
        assert f'href="/clinical/confirmations/{cid}/{kind}.pdf"' in html
        assert "PDFで開く" in html
    r = doctor.get(f"/clinical/confirmations/{cid}/drug.pdf")
    assert r.status_code == 200 and r.data == PDF
    assert r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"] == f'inline; filename="drug-{cid}.pdf"'
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == CSP
    assert audit_of(desk.store)[-1] == (
        "doctor",
        "clinical.view",
        f"confirmation:{cid}",
        "drug.pdf online",
    )


def test_the_pdf_is_refused_without_consent_and_for_bad_answers(
    desk: Desk, doctor: FlaskClient
) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"), declined("checkup")))
    r = doctor.get(f"/clinical/confirmations/{cid}/checkup.pdf")
    assert r.status_code == 403 and r.mimetype == "text/html"
    html = page(r)
    assert 'data-reason="no_consent"' in html and "%PDF" not in html
    central = cast(DocumentCentral, desk.central)
    central.document = b"GIF89a not a pdf"
    r = doctor.get(f"/clinical/confirmations/{cid}/drug.pdf?lang=en")
    assert r.status_code == 403
    assert 'data-reason="unreadable"' in page(r) and "answered something unreadable" in page(r)
    central.document = b""
    r = doctor.get(f"/clinical/confirmations/{cid}/drug.pdf?lang=ja")  # one language per page
    assert 'data-reason="no_document"' in page(r) and "PDFで提供しませんでした" in page(r)
    assert stored_documents(desk.store) == []
    central.document, central.error = PDF, CentralUnavailable("down")
    r = doctor.get(f"/clinical/confirmations/{cid}/drug.pdf")
    assert r.status_code == 503
    assert f'href="/clinical/confirmations/{cid}/drug.pdf"' in page(r)  # try again
    assert doctor.get("/clinical/confirmations/999/drug.pdf").status_code == 404
    assert doctor.get(f"/clinical/confirmations/{cid}/surgery.pdf").status_code == 404


def test_reception_staff_cannot_open_the_pdf(desk: Desk) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"),))
    reception = desk.client("uketsuke", "reception")
    assert reception.get(f"/clinical/confirmations/{cid}/drug.pdf").status_code == 403
    assert desk.central.requests == []


# -- the simulator -------------------------------------------------------------------------------
def test_the_simulated_pdf_is_a_real_pdf_with_the_drug_lines() -> None:
    p = person("P010")
    request = MedicalInfoRequest(
        "drug",
        MIC,
        "pdf1",
        p.insurer_number,
        p.number,
        p.birthdate,
        "202305",
        "202604",
        p.symbol,
        p.branch,
        "1",
    )
    result = simulated_answer(request, NOW)
    data = medinfo_pdf(result)
    assert check_pdf(data) == data and data == medinfo_pdf(result)  # whole, deterministic
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    text = "".join(page.extract_text() for page in reader.pages)
    names = {d.name for m in drug_history(p, NOW.date()) for x in m.dispensings for d in x.drugs}
    assert names and all(name in text for name in names)
    assert len(reader.pages) >= 2 and reader.metadata is not None
    assert reader.metadata.title == "薬剤情報 / Drug information"
    assert len(medinfo_lines(result)) > 50
    # outside the BMP (𠮷) is drawn as gaiji; an empty document is still one page
    assert GAIJI in pypdf.PdfReader(io.BytesIO(text_pdf(["𠮷田"]))).pages[0].extract_text()
    assert len(pypdf.PdfReader(io.BytesIO(text_pdf([]))).pages) == 1


def test_the_terminal_desk_answers_through_the_central_with_its_consent_rules(
    sim_pki: Any,
) -> None:
    from sync.xmlmsg import ConsentAnswer

    service = CentralService(sim_pki, encoding="shift_jis", clock=lambda: NOW)
    p = person("P010")
    service.medical.record_consents(MIC, p, [ConsentAnswer("drug", True, "20260401101500")])
    base = MedicalInfoRequest(
        "drug",
        MIC,
        "t1",
        p.insurer_number,
        p.number,
        p.birthdate,
        "202305",
        "202604",
        p.symbol,
        p.branch,
    )

    def ask(request: MedicalInfoRequest, name: str = "") -> tuple[str, bytes] | None:
        prefix = "YZK" if request.kind == "drug" else "TKK"
        name = name or f"{prefix}siquc01req_{request.file_id}.xml"
        assert is_medinfo_request(name)
        return answer_medinfo(service, name, build_medinfo_request(request, "shift_jis"))

    name, data = ask(base) or ("", b"")
    assert name == "YZKsiquc01res_t1.xml" and parse_medinfo_result(data).months
    assert data.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    name, data = ask(replace(base, file_id="t2", file_category="1")) or ("", b"")
    assert name == "YZKsiquc01res_t2.pdf" and check_pdf(data) == data
    # no consent for checkups: an XML refusal, also to a PDF request
    name, data = ask(replace(base, kind="checkup", file_id="t3", file_category="1")) or ("", b"")
    refusal = parse_medinfo_result(data)
    assert name == "TKKsiquc01res_t3.xml"
    assert (refusal.segment_of_result, refusal.error_code) == ("9", "EK01")
    # a request the HTTPS API would refuse (another institution, a kind not the file's)
    name, data = ask(replace(base, file_id="t4"), "TKKsiquc01req_t4.xml") or ("", b"")
    assert name == "TKKsiquc01res_t4.xml"
    assert parse_medinfo_result(data).error_code == "E400"
    assert answer_medinfo(service, "YZKsiquc01req_t5.xml", b"<XmlMsg>") is None
    assert not is_medinfo_request("OQSsiquc01req_t6.xml")
    assert not is_medinfo_request(".YZKsiquc01req_t6.xml.tmp")
    with pytest.raises(ValueError):
        answer_medinfo(service, "OQSsiquc01req_t6.xml", b"")
