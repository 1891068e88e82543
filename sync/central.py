"""Client of the central eligibility service — the only HTTP client of the appliance.

Mutual TLS: the appliance presents its device certificate and trusts only the pinned central CA.
Transport failures (refused, reset, timeout) raise CentralUnavailable: "try later".
An HTTP answer that is not a success raises CentralRefused: the server said so, retrying the
same request will not help. Qualification and medical-information requests are idempotent by
ArbitraryFileIdentifier, so they are retried a bounded number of times with jitter; nonces are
cheap and retried too.
"""

from __future__ import annotations

import base64
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from sync.medinfo import (
    MedicalInfoRequest,
    MedicalInfoResult,
    build_medinfo_request,
    parse_medinfo_result,
)
from sync.xmlmsg import (
    MAX_MESSAGE_BYTES,
    MessageError,
    QualificationRequest,
    QualificationResult,
    build_request,
    parse_result,
)


class CentralError(Exception):
    """Root of the errors talking to the central service."""


class CentralUnavailable(CentralError):
    """The service could not be reached or did not answer in time: try again later."""


class CentralRefused(CentralError):
    """The service answered, and the answer was a refusal (HTTP status and its reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(
            f"中央サービスが拒否しました / central service refused ({status}): {reason}"
        )
        self.status = status
        self.reason = reason


class CentralAnswerError(CentralError):
    """The service answered 200 with something that is not a valid result message."""


@dataclass(frozen=True)
class CentralAnswer:
    result: QualificationResult
    raw: bytes  # exactly as received, for the store and the レセコン folder
    round_trip_s: float


@dataclass(frozen=True)
class MedicalInfoAnswer:
    result: MedicalInfoResult  # a refusal (no consent, expired) is SegmentOfResult 9 + ErrorCode
    raw: bytes  # exactly as received
    round_trip_s: float


# Endpoint of each medical information kind (sync.medinfo.MEDICAL_INFO_KINDS).
MEDICAL_INFO_PATH = {"drug": "/v1/drug-information", "checkup": "/v1/health-checkups"}


def tls_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """Client context: our device certificate, and only the central CA is trusted."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


class CentralClient:
    def __init__(
        self,
        base_url: str,
        *,
        verify: ssl.SSLContext | bool,
        timeout_s: float = 10.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            verify=verify,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"User-Agent": "onshi-edge"},
        )
        self._retries = retries
        self._sleep = sleep
        self.last_round_trip_s: float | None = None

    def close(self) -> None:
        self._client.close()

    def nonce(self) -> bytes:
        """A fresh single-use challenge for the card to sign."""
        body = self._json("POST", "/v1/nonce")
        try:
            value = base64.b64decode(str(body["nonce"]), validate=True)
        except (KeyError, ValueError) as exc:
            raise CentralAnswerError("nonce の形式が違います / malformed nonce answer") from exc
        if len(value) < 16:
            raise CentralAnswerError("nonce が短すぎます / nonce too short")
        return value

    def health(self) -> float:
        """Round-trip time of a health call in seconds (raises when unreachable)."""
        started = time.perf_counter()
        self._json("GET", "/v1/health")
        return time.perf_counter() - started

    def server_time(self) -> datetime:
        """The central's clock (GET /v1/time), aware; for the clock check on the status page."""
        body = self._json("GET", "/v1/time")
        try:
            value = datetime.fromisoformat(str(body["now"]))
        except (KeyError, ValueError) as exc:
            raise CentralAnswerError("時刻の形式が違います / malformed time answer") from exc
        if value.tzinfo is None:
            raise CentralAnswerError("時刻にタイムゾーンがありません / time without a zone")
        return value

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        """Send one qualification request; the answer's file id must match ours."""
        raw = self._post_xml("/v1/qualification", build_request(request))
        try:
            result = parse_result(raw)
        except MessageError as exc:
            raise CentralAnswerError(f"応答を解釈できません / malformed answer: {exc}") from exc
        _same_file_id(result.file_id, request.file_id)
        return CentralAnswer(result, raw, self.last_round_trip_s or 0.0)

    def medical_info(self, request: MedicalInfoRequest) -> MedicalInfoAnswer:
        """Drug information or specific health checkups for one patient under their consent.

        A refusal by the service (no consent, consent expired, person not found) is a normal
        answer with SegmentOfResult 9, so its message can be shown verbatim.
        """
        path = MEDICAL_INFO_PATH.get(request.kind)
        if path is None:
            raise MessageError(
                f"医療情報の種類が不明です ({request.kind[:20]}) / "
                f"unknown medical information kind ({request.kind[:20]})"
            )
        raw = self._post_xml(path, build_medinfo_request(request))
        try:
            result = parse_medinfo_result(raw)
        except MessageError as exc:
            raise CentralAnswerError(f"応答を解釈できません / malformed answer: {exc}") from exc
        _same_file_id(result.file_id, request.file_id)
        if result.kind != request.kind:
            raise CentralAnswerError(
                "応答の種類が要求と違います / answer is of another kind "
                f"({result.kind} ≠ {request.kind})"
            )
        return MedicalInfoAnswer(result, raw, self.last_round_trip_s or 0.0)

    # -- transport --------------------------------------------------------------------
    def _post_xml(self, path: str, body: bytes) -> bytes:
        response = self._send(
            "POST", path, content=body, headers={"Content-Type": "application/xml"}
        )
        if len(response.content) > MAX_MESSAGE_BYTES:
            raise CentralAnswerError("応答が大きすぎます / answer too large")
        return response.content

    def _json(self, method: str, path: str) -> dict[str, Any]:
        response = self._send(method, path)
        try:
            data = response.json()
        except ValueError as exc:
            raise CentralAnswerError(f"{path}: JSON ではありません / not JSON") from exc
        if not isinstance(data, dict):
            raise CentralAnswerError(f"{path}: 予期しない応答 / unexpected answer")
        return data

    def _backoff(self, attempt: int) -> None:
        # Exponential backoff with full jitter: clinics retrying together do not sync up.
        self._sleep(random.uniform(0, 0.2 * 2**attempt))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self._retries:
                    raise CentralUnavailable(
                        f"中央サービスに接続できません / central service unreachable: "
                        f"{type(exc).__name__}"
                    ) from exc
                attempt += 1
                self._backoff(attempt)
                continue
            self.last_round_trip_s = time.perf_counter() - started
            if response.status_code >= 500 and attempt < self._retries:
                attempt += 1
                self._backoff(attempt)
                continue
            if response.status_code >= 500:
                raise CentralUnavailable(
                    f"中央サービスが一時的に応答できません / central service unavailable "
                    f"(HTTP {response.status_code})"
                )
            if response.status_code != 200:
                raise CentralRefused(response.status_code, _reason(response))
            return response


def _same_file_id(answered: str, sent: str) -> None:
    if answered != sent:
        raise CentralAnswerError(
            "応答のファイル識別子が一致しません / answer is for another request "
            f"({answered!r} ≠ {sent!r})"
        )


def _reason(response: httpx.Response) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])[:500]
    except ValueError:
        pass
    return response.text[:200] or response.reason_phrase
