"""The simulated terminal's drug and checkup desk (DOMAIN.md §3, §8).

`onshi sim terminal` (sim/terminal.py) hands each `YZKsiquc01req_<id>.xml` (drug information)
and `TKKsiquc01req_<id>.xml` (specific health checkups) it finds in `req/` to `answer_medinfo`,
which answers through the simulated central's own desk (sim.central.medinfo.MedicalInfoDesk via
CentralService.medical_info: the same population, histories and consent rules as the HTTPS
API). The answer is named after the request with `req` → `res`: `.xml`, or `.pdf` for a
FileCategory 1 request the desk answered with the document. A refusal (no consent, consent
expired, nobody with these numbers) is an XML answer with SegmentOfResult 9, and so is a
request the central would have refused over HTTP (another institution's code, a MessageKind
that is not the file name's), with ErrorCode E<status>, as the qualification path does.
"""

from __future__ import annotations

import logging
import re

from sim.central.answers import RequestRejected, process_time
from sim.central.service import CentralService
from sync.medinfo import (
    PDF_MEDIA_TYPE,
    MedicalInfoResult,
    build_medinfo_result,
    parse_medinfo_request,
    result_document_name,
    result_file_name,
)
from sync.xmlmsg import MessageError

log = logging.getLogger(__name__)

MEDINFO_REQUEST_NAME = re.compile(
    r"(?P<marker>YZK|TKK)siquc01req_(?P<suffix>[0-9A-Za-z][0-9A-Za-z_.-]*)\.xml"
)
KIND_OF_MARKER = {"YZK": "drug", "TKK": "checkup"}


def is_medinfo_request(name: str) -> bool:
    return MEDINFO_REQUEST_NAME.fullmatch(name) is not None


def answer_medinfo(service: CentralService, name: str, body: bytes) -> tuple[str, bytes] | None:
    """(the answer's file name, its bytes) for the request file `name` holding `body`; None for
    a request that cannot be read at all (no id to answer under: the terminal leaves it)."""
    match = MEDINFO_REQUEST_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"not a drug or checkup request: {name!r}")
    kind = KIND_OF_MARKER[match["marker"]]
    try:
        request = parse_medinfo_request(body)
    except MessageError as exc:
        log.warning("medical information request %s not answered: %s", name, exc)
        return None
    try:
        answer = service.medical_info(body, request.medical_institution_code, kind)
    except RequestRejected as exc:
        refusal = MedicalInfoResult(
            kind=kind,  # the file name's: the reader waits for an answer named after it
            process_time=process_time(service.clock()),
            medical_institution_code=request.medical_institution_code,
            file_id=request.file_id,
            segment_of_result="9",
            error_code=f"E{exc.status}",
            error_message=exc.message,
        )
        data = build_medinfo_result(refusal, encoding=service.encoding)
        return result_file_name(kind, request.file_id), data
    if answer.content_type == PDF_MEDIA_TYPE:
        return result_document_name(kind, request.file_id), answer.body
    return result_file_name(kind, request.file_id), answer.body
