"""The simulated terminal's bulk inquiry and 照会番号 desk (DOMAIN.md §3, §8; docs/terminal.md).

`onshi sim terminal` (sim/terminal.py) hands each `OQSmuquc01req_<id>.xml` (bulk upload),
`OQSmuquc02req_<id>.xml` (bulk download), `OQSsiimm01req_<id>.xml` and `OQSmuimm01req_<id>.xml`
(照会番号 registration) it finds in `req/` to `answer_bulk`, which answers through the simulated
central's own desk (sim/central/bulk.py via CentralService: the same jobs, the same answers per
entry, the same registry as the HTTPS API). The answer is named after the request with `req` →
`res`; a ready bulk download is written zipped (`OQSmuquc02res_<id>.zip` holding the XML of the
same base name) when the terminal runs with `zip_bulk`. A request the central would have refused
over HTTP (an unknown reception number, another institution's code) is answered with
SegmentOfResult 9 and ErrorCode E<status>, as the qualification path does.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable

from sim.central.answers import Answer, RequestRejected, process_time
from sim.central.service import CHARACTER_CODE, CentralService
from sync.bulkmsg import (
    AID_QUERY_REQUEST,
    AID_UPLOAD_REQUEST,
    BULK_QUERY_REQUEST,
    BULK_UPLOAD_REQUEST,
    MAX_BULK_BYTES,
    REFERENCE_REQUEST,
    REFERENCES_REQUEST,
    BulkAnswer,
    BulkReceipt,
    ReferenceAnswer,
    answer_name,
    build_bulk_answer,
    build_bulk_receipt,
    build_reference_answer,
)
from sync.xmldoc import MessageError, parse_document

log = logging.getLogger(__name__)

BULK_PREFIXES = (
    BULK_UPLOAD_REQUEST,
    BULK_QUERY_REQUEST,
    REFERENCE_REQUEST,
    REFERENCES_REQUEST,
    AID_UPLOAD_REQUEST,  # the monthly 医療扶助 bulk (OQSmutic), laid out as OQSmuquc
    AID_QUERY_REQUEST,
)
_NAME = re.compile(
    r"(?P<prefix>OQS[a-z]{5}[0-9]{2}req)_(?P<suffix>[0-9A-Za-z][0-9A-Za-z_.-]*)\.xml"
)


def answer_bulk(
    service: CentralService, name: str, body: bytes, *, zip_bulk: bool = False
) -> tuple[str, bytes] | None:
    """(the answer's file name, its bytes) for the request file `name` holding `body`; None for
    a request whose header cannot be read (no id to answer under: the terminal leaves it)."""
    found = _NAME.fullmatch(name)
    if found is None or found["prefix"] not in BULK_PREFIXES:
        raise ValueError(f"not a bulk or registration request: {name!r}")
    prefix = found["prefix"]
    try:
        header = parse_document(body, limit=MAX_BULK_BYTES).require("MessageHeader")
        institution = header.text("MedicalInstitutionCode", required=True)
        file_id = header.text("ArbitraryFileIdentifier", required=True)
    except MessageError as exc:
        log.warning("request %s not answered: %s", name, exc)
        return None
    answered: dict[str, Callable[[bytes, str], Answer]] = {
        BULK_UPLOAD_REQUEST: service.bulk_upload,
        BULK_QUERY_REQUEST: service.bulk_result,
        REFERENCE_REQUEST: service.register_references,
        REFERENCES_REQUEST: service.register_references,
        AID_UPLOAD_REQUEST: service.aid_upload,
        AID_QUERY_REQUEST: service.aid_result,
    }
    reply = answer_name(name)
    try:
        data = answered[prefix](body, institution).body
    except RequestRejected as exc:
        return reply, _refusal(service, prefix, institution, file_id, exc)
    downloads = (BULK_QUERY_REQUEST, AID_QUERY_REQUEST)
    if prefix in downloads and zip_bulk and b"<BulkResultList" in data:
        return reply.removesuffix(".xml") + ".zip", _zipped(reply, data)
    return reply, data


def _zipped(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return out.getvalue()


def _refusal(
    service: CentralService, prefix: str, institution: str, file_id: str, exc: RequestRejected
) -> bytes:
    """SegmentOfResult 9 in the layout the reader waits for."""
    stamp = process_time(service.clock())
    code = CHARACTER_CODE[service.encoding]
    error = (f"E{exc.status}", exc.message)
    if prefix in (BULK_UPLOAD_REQUEST, AID_UPLOAD_REQUEST):
        receipt = BulkReceipt(file_id, "", stamp, "9", *error)
        return build_bulk_receipt(
            receipt,
            medical_institution_code=institution,
            character_code=code,
            encoding=service.encoding,
        )
    if prefix in (BULK_QUERY_REQUEST, AID_QUERY_REQUEST):
        answer = BulkAnswer(file_id, "", stamp, "9", error_code=error[0], error_message=error[1])
        return build_bulk_answer(
            answer,
            medical_institution_code=institution,
            character_code=code,
            encoding=service.encoding,
        )
    refused = ReferenceAnswer(file_id, stamp, (), "9", *error)
    return build_reference_answer(
        refused,
        medical_institution_code=institution,
        character_code=code,
        encoding=service.encoding,
    )
