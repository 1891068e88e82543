from __future__ import annotations

import base64

import httpx
import pytest

from sync.central import (
    CentralAnswerError,
    CentralClient,
    CentralRefused,
    CentralUnavailable,
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
