"""The simulated central's drug and checkup desk: the consents patients gave at the card
reader, and the histories served under them.

Consent is recorded per (institution, person, kind) from card visits and lasts CONSENT_VALID;
without a valid one a request is refused with SegmentOfResult 9 (EK01-EK03), never with an
HTTP error, so the appliance can show the reason verbatim. A request with FileCategory 1 is
answered with the same history as a PDF (sim/central/medpdf.py); its refusals stay XML.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sim.central.answers import (
    Answer,
    Failure,
    ReplayLog,
    RequestRejected,
    check_institution,
    process_time,
    xml_answer,
)
from sim.central.medpdf import medinfo_pdf
from sim.medical import checkup_history, drug_history
from sim.population import Person
from sync.clock import JST
from sync.medinfo import (
    PDF_MEDIA_TYPE,
    MedicalInfoRequest,
    MedicalInfoResult,
    build_medinfo_result,
    parse_medinfo_request,
)
from sync.xmlmsg import ConsentAnswer, MessageError

CONSENT_VALID = timedelta(hours=24)

# Refusals of drug / checkup requests (SegmentOfResult 9, shown to the doctor verbatim).
NO_CONSENT = Failure(
    "EK01",
    "この情報の閲覧に患者の同意がありません。マイナンバーカードで同意を取得してください",
    "the patient has not consented to sharing this information",
)
CONSENT_EXPIRED = Failure(
    "EK02",
    "同意の有効期限 (24時間) が切れています。再度カードで同意を取得してください",
    "the patient's consent has expired (valid for 24 hours)",
)
PERSON_NOT_FOUND = Failure(
    "EK03",
    "該当する被保険者が見つかりません。保険者番号・記号・番号・生年月日を確認してください",
    "no insured person matches these insurance numbers",
)

# Registered people with these insurance numbers:
# (insurer number, symbol, number, birthdate, branch — only when given).
PersonFinder = Callable[[str, str, str, str, str], list[Person]]


@dataclass(frozen=True)
class _Consent:
    agreed: bool
    until: datetime | None  # aware; None when refused


class MedicalInfoDesk:
    """Consents given at card visits, and the drug / checkup answers they allow.

    The owner passes in how people are found, the replay log shared with its other
    endpoints, and its clock."""

    def __init__(
        self, find: PersonFinder, replay: ReplayLog, clock: Callable[[], datetime]
    ) -> None:
        self._find = find
        self._replay = replay
        self._clock = clock
        self._lock = threading.Lock()
        # (institution, person id) → kind → the latest answer from a card visit
        self._consents: dict[tuple[str, str], dict[str, _Consent]] = {}

    def record_consents(
        self, institution: str, holder: Person, answers: Sequence[ConsentAnswer]
    ) -> None:
        if not answers:
            return
        now = self._clock()
        recorded = {a.kind: _consent(a, now) for a in answers}
        with self._lock:
            # a later card visit replaces the answers for the kinds it carries
            self._consents.setdefault((institution, holder.id), {}).update(recorded)

    def medical_info(self, body: bytes, institution: str, kind: str, encoding: str) -> Answer:
        """Answer one YZKsiquc01req ("drug") or TKKsiquc01req ("checkup") document, rendered
        in `encoding`.

        Raises RequestRejected for 400 (malformed, or another kind than the endpoint's),
        403 and 409; refusals by consent are 200 answers with SegmentOfResult 9."""
        try:
            req = parse_medinfo_request(body)
        except MessageError as e:
            raise RequestRejected(400, str(e)) from None
        if req.kind != kind:
            raise RequestRejected(
                400,
                f"MessageHeader/MessageKind がこの窓口 ({kind}) と違います / "
                f"MessageHeader/MessageKind is {req.kind}, this endpoint serves {kind}",
            )
        check_institution(req.medical_institution_code, institution)
        return self._replay.once(
            (institution, kind, req.file_id), body, lambda: self._render(req, encoding)
        )

    def _render(self, req: MedicalInfoRequest, encoding: str) -> Answer:
        result = self._answer(req)
        if req.file_category == "1" and result.segment_of_result == "1":
            return Answer(medinfo_pdf(result), PDF_MEDIA_TYPE)
        return xml_answer(build_medinfo_result(result, encoding=encoding), encoding)

    def _answer(self, req: MedicalInfoRequest) -> MedicalInfoResult:
        matches = self._find(req.insurer_number, req.symbol, req.number, req.birthdate, req.branch)
        if len(matches) != 1:
            return self._refusal(req, PERSON_NOT_FOUND)
        holder = matches[0]
        with self._lock:
            consent = self._consents.get((req.medical_institution_code, holder.id), {}).get(
                req.kind
            )
        if consent is None or not consent.agreed or consent.until is None:
            return self._refusal(req, NO_CONSENT)
        now = self._clock()
        if now >= consent.until:
            return self._refusal(req, CONSENT_EXPIRED)
        until = now.astimezone(JST).date()
        start, end = req.start_month, req.end_month
        result = MedicalInfoResult(
            kind=req.kind,
            process_time=process_time(self._clock()),
            medical_institution_code=req.medical_institution_code,
            file_id=req.file_id,
            segment_of_result="1",
            start_month=start,
            end_month=end,
        )
        if req.kind == "drug":
            months = tuple(m for m in drug_history(holder, until) if start <= m.month <= end)
            return replace(result, months=months)
        exams = tuple(e for e in checkup_history(holder, until) if start <= e.date[:6] <= end)
        return replace(result, exams=exams)

    def _refusal(self, req: MedicalInfoRequest, failure: Failure) -> MedicalInfoResult:
        return MedicalInfoResult(
            kind=req.kind,
            process_time=process_time(self._clock()),
            medical_institution_code=req.medical_institution_code,
            file_id=req.file_id,
            segment_of_result="9",
            error_code=failure.code,
            error_message=failure.message,
        )


def _consent(answer: ConsentAnswer, now: datetime) -> _Consent:
    """Agreed: valid for CONSENT_VALID from ConsTime (Japan time), or from now without one."""
    if not answer.agreed:
        return _Consent(False, None)
    given = (
        datetime.strptime(answer.time, "%Y%m%d%H%M%S").replace(tzinfo=JST) if answer.time else now
    )
    return _Consent(True, given + CONSENT_VALID)
