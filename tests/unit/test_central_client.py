from __future__ import annotations

import base64
import dataclasses

import httpx
import pytest

from sync.central import (
    CentralAnswerError,
    CentralClient,
    CentralRefused,
    CentralUnavailable,
)
from sync.medinfo import (
    Dispensing,
    DrugMonth,
    MedicalInfoRequest,
    MedicalInfoResult,
    MessageError,
    build_medinfo_result,
    parse_medinfo_request,
)
from sync.xmlmsg import QualificationRequest, QualificationResult, SearchInfo, build_result

REQUEST = QualificationRequest(
    medical_institution_code="1312345670",
    confirmation_date="20261122",
    file_id="abc123",
    reference_classification="2",
    search=SearchInfo("06139015", "12", "19800401"),
)


def result_for(file_id: str) -> bytes:
    return build_result(
        QualificationResult(
            process_time="20261122101500",
            confirmation_date="20261122",
            medical_institution_code="1312345670",
            file_id=file_id,
            reference_classification="2",
            segment_of_result="1",
            processing_status="1",
            validity="4",
        )
    )


def client(handler: httpx.MockTransport, retries: int = 2) -> CentralClient:
    return CentralClient(
        "https://central.test",
        verify=False,
        transport=handler,
        retries=retries,
        sleep=lambda s: None,
    )


def test_confirm_returns_parsed_and_raw_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/qualification"
        assert b"abc123" in request.content
        return httpx.Response(200, content=result_for("abc123"))

    answer = client(httpx.MockTransport(handler)).confirm(REQUEST)
    assert answer.result.validity == "4" and answer.raw == result_for("abc123")


def test_transport_errors_are_retried_then_unavailable() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused")

    with pytest.raises(CentralUnavailable, match="unreachable"):
        client(httpx.MockTransport(handler)).confirm(REQUEST)
    assert len(calls) == 3


def test_a_retry_succeeds_after_a_503() -> None:
    replies = [httpx.Response(503), httpx.Response(200, content=result_for("abc123"))]
    answer = client(httpx.MockTransport(lambda r: replies.pop(0))).confirm(REQUEST)
    assert answer.result.file_id == "abc123"


def test_refusal_is_not_retried_and_keeps_the_reason() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(403, json={"error": "wrong medical institution"})

    with pytest.raises(CentralRefused) as info:
        client(httpx.MockTransport(handler)).confirm(REQUEST)
    assert info.value.status == 403 and "wrong medical" in info.value.reason
    assert len(calls) == 1


@pytest.mark.parametrize("body", [b"not xml", b"<XmlMsg/>", result_for("someone-else")])
def test_bad_answers_are_errors(body: bytes) -> None:
    with pytest.raises(CentralAnswerError):
        client(httpx.MockTransport(lambda r: httpx.Response(200, content=body))).confirm(REQUEST)


def test_nonce() -> None:
    nonce = bytes(range(32))
    c = client(
        httpx.MockTransport(
            lambda r: httpx.Response(200, json={"nonce": base64.b64encode(nonce).decode()})
        )
    )
    assert c.nonce() == nonce
    bad = client(httpx.MockTransport(lambda r: httpx.Response(200, json={"nonce": "!!"})))
    with pytest.raises(CentralAnswerError):
        bad.nonce()


# ---------------------------------------------------------------- medical information

MEDINFO_REQUEST = MedicalInfoRequest(
    kind="drug",
    medical_institution_code="1312345670",
    file_id="med-1",
    insurer_number="01130012",
    number="15",
    birthdate="19860512",
    start_month="202312",
    end_month="202611",
)


def medinfo_for(file_id: str, kind: str = "drug", segment: str = "1") -> bytes:
    months = (DrugMonth("202610", (Dispensing("20261019", "さくら薬局 駅前店", "内科", ()),)),)
    served = segment == "1"
    return build_medinfo_result(
        MedicalInfoResult(
            kind=kind,
            process_time="20261122101500",
            medical_institution_code="1312345670",
            file_id=file_id,
            segment_of_result=segment,
            error_code="" if served else "EK02",
            error_message="" if served else "同意の有効期限が切れています / consent expired",
            start_month="202312" if served else "",
            end_month="202611" if served else "",
            months=months if served and kind == "drug" else (),
        )
    )


@pytest.mark.parametrize(
    ("kind", "path"), [("drug", "/v1/drug-information"), ("checkup", "/v1/health-checkups")]
)
def test_medical_info_posts_to_the_kind_endpoint(kind: str, path: str) -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers["content-type"]))
        assert parse_medinfo_request(request.content).kind == kind
        return httpx.Response(200, content=medinfo_for("med-1", kind))

    request = dataclasses.replace(MEDINFO_REQUEST, kind=kind)
    answer = client(httpx.MockTransport(handler)).medical_info(request)
    assert seen == [("POST", path, "application/xml")]
    assert answer.raw == medinfo_for("med-1", kind)
    assert answer.result.kind == kind and answer.result.segment_of_result == "1"
    assert answer.round_trip_s >= 0
    if kind == "drug":
        assert answer.result.months[0].dispensings[0].institution == "さくら薬局 駅前店"


def test_medical_info_refusal_is_an_answer_not_an_error() -> None:
    body = medinfo_for("med-1", segment="9")
    answer = client(httpx.MockTransport(lambda r: httpx.Response(200, content=body))).medical_info(
        MEDINFO_REQUEST
    )
    assert (answer.result.segment_of_result, answer.result.error_code) == ("9", "EK02")
    assert answer.result.error_message.startswith("同意の有効期限")


@pytest.mark.parametrize(
    "body",
    [
        b"<XmlMsg/>",
        medinfo_for("someone-else"),
        medinfo_for("med-1", kind="checkup"),
        result_for("med-1"),
    ],
    ids=["empty", "other-file-id", "other-kind", "qualification-result"],
)
def test_medical_info_bad_answers_are_errors(body: bytes) -> None:
    with pytest.raises(CentralAnswerError):
        client(httpx.MockTransport(lambda r: httpx.Response(200, content=body))).medical_info(
            MEDINFO_REQUEST
        )


def test_medical_info_is_retried_after_a_503_and_refusals_are_not() -> None:
    replies = [httpx.Response(503), httpx.Response(200, content=medinfo_for("med-1"))]
    answer = client(httpx.MockTransport(lambda r: replies.pop(0))).medical_info(MEDINFO_REQUEST)
    assert answer.result.file_id == "med-1"
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.content)
        return httpx.Response(400, json={"error": "MessageBody/EndDate がありません"})

    with pytest.raises(CentralRefused) as info:
        client(httpx.MockTransport(refuse)).medical_info(MEDINFO_REQUEST)
    assert info.value.status == 400 and len(calls) == 1


def test_medical_info_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow")

    with pytest.raises(CentralUnavailable):
        client(httpx.MockTransport(handler), retries=1).medical_info(MEDINFO_REQUEST)


def test_medical_info_refuses_an_unknown_kind_before_sending() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with pytest.raises(MessageError):
        client(httpx.MockTransport(handler)).medical_info(
            dataclasses.replace(MEDINFO_REQUEST, kind="surgery")
        )
