"""Client of the central eligibility service — the only HTTP client of the appliance, and the
HTTPS implementation of sync.transport.QualificationTransport.

Mutual TLS: the appliance presents its device certificate and trusts only the pinned central CA.
Every failure is one of four meanings (sync.transport.CentralFault), each its own error class:
- CentralUnavailable: not reached, or no whole answer before the deadline: try again later.
- CentralRefused: an HTTP answer that is not a success; the server said so, and retrying the
  same request will not help.
- CentralUnreadable: the service answered 200 with something that cannot be read (malformed,
  oversized, an encoding that does not decode): neither "try later" nor "refused".
- CentralUntrusted: the TLS identities do not match (the central's certificate is not from the
  pinned CA, or the central does not accept this appliance's): a configuration error that no
  retry fixes.
Every call has an overall deadline (retries, backoff and every byte included): a service that
trickles its answer cannot hold a caller longer, because per-read timeouts alone restart with
each byte. The size cap applies while the body is read and again to its decompressed size.
Qualification and medical-information requests are idempotent by ArbitraryFileIdentifier, so
they are retried a bounded number of times with jitter; nonces are cheap and retried too.
"""

from __future__ import annotations

import base64
import json
import random
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpcore
import httpx

from sync import bulkmsg as bulk
from sync.medinfo import (
    PDF_MAGIC,
    MedicalInfoAnswer,
    MedicalInfoRequest,
    build_medinfo_request,
    document_answer,
    parse_medinfo_result,
)
from sync.transport import (
    AID_RESULT,
    AID_UPLOAD,
    BULK_RESULT,
    BULK_UPLOAD,
    REFERENCES,
    BulkAnswerT,
    BulkExchange,
    BulkRequestT,
    CentralAnswer,
    CentralError,
    CentralFault,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
    same_request,
)
from sync.xmlmsg import (
    MAX_MESSAGE_BYTES,
    MessageError,
    QualificationRequest,
    build_request,
    parse_result,
)

# The failures and the answer are the transport interface's (sync/transport.py); they are
# named here too, where callers of the HTTPS client have always found them.
__all__ = [
    "CentralAnswer",
    "CentralAnswerError",
    "CentralClient",
    "CentralError",
    "CentralFault",
    "CentralRefused",
    "CentralUnavailable",
    "CentralUnreadable",
    "CentralUntrusted",
    "MedicalInfoAnswer",
    "tls_context",
]

T = TypeVar("T")

DEFAULT_DEADLINE_S = 20.0
# The encodings we ask for, and so the only ones we decode (each with a bounded inflater).
ACCEPTED_ENCODINGS = "gzip, deflate"
REASON_BYTES = 4096  # read of a refusal's body: its reason, not a document


# The earlier name of CentralUnreadable.
CentralAnswerError = CentralUnreadable


# Endpoint of each medical information kind (sync.medinfo.MEDICAL_INFO_KINDS).
MEDICAL_INFO_PATH = {"drug": "/v1/drug-information", "checkup": "/v1/health-checkups"}
# The bulk inquiry (OQSmuquc01/02) and 照会番号 registration (OQSsiimm01/OQSmuimm01).
BULK_UPLOAD_PATH = "/v1/bulk"
BULK_RESULT_PATH = "/v1/bulk/result"
# The monthly 医療扶助 bulk (OQSmutic01/02), laid out as the bulk inquiry.
AID_UPLOAD_PATH = "/v1/aid"
AID_RESULT_PATH = "/v1/aid/result"
REFERENCES_PATH = "/v1/references"


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
        deadline_s: float = DEFAULT_DEADLINE_S,
        retries: int = 2,
        connect_timeout_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._deadlines = _Deadlines()
        if transport is None:
            transport = _deadline_transport(verify, self._deadlines)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            verify=verify,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"User-Agent": "onshi-edge", "Accept-Encoding": ACCEPTED_ENCODINGS},
        )
        self._timeout_s = timeout_s
        # Reaching the service (TCP and the TLS handshake), retries included: past it a call
        # that has not connected is unreachable, however long its whole deadline is.
        self._connect_s = timeout_s if connect_timeout_s is None else connect_timeout_s
        self._deadline_s = deadline_s
        self._retries = retries
        self._sleep = sleep
        self.last_round_trip_s: float | None = None

    @property
    def deadline_s(self) -> float:
        """The longest any one call may take, retries included."""
        return self._deadline_s

    def close(self) -> None:
        self._client.close()

    def nonce(self) -> bytes:
        """A fresh single-use challenge for the card to sign."""
        body = self._json("POST", "/v1/nonce")
        try:
            value = base64.b64decode(str(body["nonce"]), validate=True)
        except (KeyError, ValueError) as exc:
            raise CentralUnreadable("nonce の形式が違います / malformed nonce answer") from exc
        if len(value) < 16:
            raise CentralUnreadable("nonce が短すぎます / nonce too short")
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
            raise CentralUnreadable("時刻の形式が違います / malformed time answer") from exc
        if value.tzinfo is None:
            raise CentralUnreadable("時刻にタイムゾーンがありません / time without a zone")
        return value

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        """Send one qualification request; the answer's file id must match ours."""
        raw = self._post_xml("/v1/qualification", build_request(request))
        result = _read(parse_result, raw)
        same_request(result.file_id, request.file_id)
        return CentralAnswer(result, raw, self.last_round_trip_s or 0.0)

    def medical_info(self, request: MedicalInfoRequest) -> MedicalInfoAnswer:
        """Drug information or specific health checkups for one patient under their consent.

        A refusal by the service (no consent, consent expired, person not found) is a normal
        answer with SegmentOfResult 9, so its message can be shown verbatim. Asked with
        FileCategory 1, the answer may be the PDF itself (within this client's size cap).
        """
        path = MEDICAL_INFO_PATH.get(request.kind)
        if path is None:
            raise MessageError(
                f"医療情報の種類が不明です ({request.kind[:20]}) / "
                f"unknown medical information kind ({request.kind[:20]})"
            )
        raw = self._post_xml(path, build_medinfo_request(request))
        try:
            if request.file_category == "1" and raw.startswith(PDF_MAGIC):
                return document_answer(request, raw, self.last_round_trip_s or 0.0)
            result = parse_medinfo_result(raw)
        except MessageError as exc:
            raise CentralUnreadable(f"応答を解釈できません / malformed answer: {exc}") from exc
        same_request(result.file_id, request.file_id)
        if result.kind != request.kind:
            raise CentralUnreadable(
                "応答の種類が要求と違います / answer is of another kind "
                f"({result.kind} ≠ {request.kind})"
            )
        return MedicalInfoAnswer(result, raw, self.last_round_trip_s or 0.0)

    def bulk_upload(self, request: bulk.BulkUpload) -> bulk.BulkReceipt:
        """Send one bulk inquiry (OQSmuquc01req): its reception number. The same file id sent
        again gets the same number, so the retries here (and a caller's) are safe."""
        return self._bulk(BULK_UPLOAD_PATH, BULK_UPLOAD, request)

    def bulk_result(self, request: bulk.BulkQuery) -> bulk.BulkAnswer:
        """The results of a reception number (OQSmuquc02req → OQSmuquc02res, up to
        MAX_BULK_BYTES): ready, or in progress (ask again later, with a new file id)."""
        return self._bulk(BULK_RESULT_PATH, BULK_RESULT, request)

    def aid_upload(self, request: bulk.AidUpload) -> bulk.BulkReceipt:
        """Send the month's 医療扶助 recipients (OQSmutic01req): a reception number."""
        return self._bulk(AID_UPLOAD_PATH, AID_UPLOAD, request)

    def aid_result(self, request: bulk.BulkQuery) -> bulk.BulkAnswer:
        """Their 医療券 (OQSmutic02req → OQSmutic02res): ready or in progress."""
        return self._bulk(AID_RESULT_PATH, AID_RESULT, request)

    def register_references(self, request: bulk.ReferenceRequest) -> bulk.ReferenceAnswer:
        """Register 照会番号 (OQSsiimm01req / OQSmuimm01req): one outcome per registration."""
        return self._bulk(REFERENCES_PATH, REFERENCES, request)

    def _bulk(
        self, path: str, exchange: BulkExchange[BulkRequestT, BulkAnswerT], request: BulkRequestT
    ) -> BulkAnswerT:
        raw = self._post_xml(path, exchange.build(request, "utf-8"), cap=bulk.MAX_BULK_BYTES)
        return exchange.check(_read(exchange.parse, raw), request)

    # -- transport --------------------------------------------------------------------
    def _post_xml(self, path: str, body: bytes, *, cap: int = MAX_MESSAGE_BYTES) -> bytes:
        return self._send(
            "POST", path, content=body, headers={"Content-Type": "application/xml"}, cap=cap
        )

    def _json(self, method: str, path: str) -> dict[str, Any]:
        body = self._send(method, path)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise CentralUnreadable(f"{path}: JSON ではありません / not JSON") from exc
        if not isinstance(data, dict):
            raise CentralUnreadable(f"{path}: 予期しない応答 / unexpected answer")
        return data

    def _backoff(self, attempt: int, deadline: float) -> None:
        # Exponential backoff with full jitter: clinics retrying together do not sync up.
        # Never past the deadline: the last attempt still gets what time is left.
        pause = random.uniform(0, 0.2 * 2**attempt)
        self._sleep(max(0.0, min(pause, deadline - time.monotonic() - 0.1)))

    def _send(
        self, method: str, path: str, *, cap: int = MAX_MESSAGE_BYTES, **kwargs: Any
    ) -> bytes:
        """The body of a 200 answer, read within the deadline and the size cap."""
        deadline = time.monotonic() + self._deadline_s
        self._deadlines.at = deadline
        try:
            return self._attempts(method, path, deadline, cap, **kwargs)
        finally:
            self._deadlines.at = None

    def _attempts(self, method: str, path: str, deadline: float, cap: int, **kwargs: Any) -> bytes:
        attempt = 0
        connect_by = time.monotonic() + self._connect_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _late(self._deadline_s)
            started = time.perf_counter()
            try:
                status, body = self._exchange(method, path, deadline, remaining, cap, **kwargs)
            except httpx.TransportError as exc:
                untrusted = _identity_failure(exc)
                if untrusted is not None:
                    raise untrusted from exc
                if time.monotonic() >= deadline:
                    raise _late(self._deadline_s) from exc
                not_connected = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if not_connected and time.monotonic() >= connect_by:
                    raise CentralUnavailable(
                        f"中央サービスに {self._connect_s:g} 秒以内に接続できません / central "
                        f"service not reached within {self._connect_s:g} s: {type(exc).__name__}"
                    ) from exc
                if attempt >= self._retries:
                    raise CentralUnavailable(
                        f"中央サービスに接続できません / central service unreachable: "
                        f"{type(exc).__name__}"
                    ) from exc
                attempt += 1
                self._backoff(attempt, min(deadline, connect_by) if not_connected else deadline)
                continue
            self.last_round_trip_s = time.perf_counter() - started
            if status >= 500 and attempt < self._retries and time.monotonic() < deadline:
                attempt += 1
                self._backoff(attempt, deadline)
                continue
            if status >= 500:
                raise CentralUnavailable(
                    f"中央サービスが一時的に応答できません / central service unavailable "
                    f"(HTTP {status})"
                )
            if status != 200:
                raise CentralRefused(status, _reason(body))
            return body

    def _exchange(
        self, method: str, path: str, deadline: float, remaining: float, cap: int, **kwargs: Any
    ) -> tuple[int, bytes]:
        """One attempt: the status and the decoded body, read as it streams in."""
        wait = min(self._timeout_s, remaining)
        timeout = httpx.Timeout(wait, connect=min(self._connect_s, wait))
        with self._client.stream(method, path, timeout=timeout, **kwargs) as response:
            encoding = response.headers.get("Content-Encoding", "")
            chunks: Iterable[bytes] = response.iter_raw()
            if response.is_stream_consumed:
                # Already in memory and decoded: a test's MockTransport answer (content=...).
                chunks, encoding = [response.content], ""
            if response.status_code != 200:
                # Only the reason is wanted: a few bytes, and never an error of their own.
                raw = _read_capped(chunks, deadline, self._deadline_s, cap, REASON_BYTES)
                try:
                    return response.status_code, _decoded(raw, encoding, cap)
                except CentralUnreadable:
                    return response.status_code, b""
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise _too_large(int(declared), cap)
            raw = _read_capped(chunks, deadline, self._deadline_s, cap)
            return response.status_code, _decoded(raw, encoding, cap)


class _Deadlines(threading.local):
    """The deadline (time.monotonic()) of the call running on this thread, if any."""

    at: float | None = None


def _remaining(deadlines: _Deadlines, timeout: float | None, late: type[Exception]) -> float | None:
    if deadlines.at is None:
        return timeout
    left = deadlines.at - time.monotonic()
    if left <= 0:
        raise late("deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read, write and handshake ends by the call's deadline, however
    slowly the other side sends: a per-read timeout alone restarts with each byte."""

    def __init__(self, inner: httpcore.NetworkStream, deadlines: _Deadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(
            max_bytes, _remaining(self._deadlines, timeout, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(self._deadlines, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _remaining(self._deadlines, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, wait), self._deadlines
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadlines: _Deadlines) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadlines = deadlines

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _remaining(self._deadlines, timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, wait, local_address, socket_options)
        return _DeadlineStream(stream, self._deadlines)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline_transport(
    verify: ssl.SSLContext | bool, deadlines: _Deadlines
) -> httpx.HTTPTransport:
    """httpx's own transport, over sockets that keep the deadline (httpx<1 has no public hook
    for the network backend, so its pool is rebuilt with the same settings and ours)."""
    transport = httpx.HTTPTransport(verify=verify)
    # httpx's defaults (httpx.Limits()): 100 connections, 20 kept alive for 5 s.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(verify=verify),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_DeadlineBackend(deadlines),
    )
    return transport


def _read_capped(
    chunks: Iterable[bytes],
    deadline: float,
    deadline_s: float,
    cap: int = MAX_MESSAGE_BYTES,
    keep: int | None = None,
) -> bytes:
    """The body as sent, refused as soon as it passes the cap or the deadline; with `keep`,
    only its first `keep` bytes, the rest left unread."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if keep is not None and size >= keep:
            parts.append(chunk)
            return b"".join(parts)[:keep]
        if size > cap:
            raise _too_large(size, cap)
        parts.append(chunk)
        if time.monotonic() > deadline:
            raise _late(deadline_s)
    return b"".join(parts)


def _decoded(raw: bytes, encoding: str, cap: int = MAX_MESSAGE_BYTES) -> bytes:
    """The body with its Content-Encoding undone, never inflated past the cap (a small gzip
    body can hold gigabytes)."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    body = raw
    for coding in reversed(codings):  # applied in the order listed, so undone from the end
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, zlib.MAX_WBITS | 16, cap)
        elif coding == "deflate":
            # "deflate" is zlib-wrapped by the standard, raw by some servers: accept both.
            # A zlib header: method 8 in the low nibble, the first two bytes a multiple of 31.
            wrapped = (
                len(body) >= 2 and body[0] & 0x0F == 8 and int.from_bytes(body[:2], "big") % 31 == 0
            )
            body = _inflate(body, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, cap)
        else:
            raise CentralUnreadable(
                f"応答の符号化を解読できません / answer in an unrequested encoding: {coding[:40]}"
            )
    return body


def _inflate(data: bytes, wbits: int, cap: int = MAX_MESSAGE_BYTES) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise CentralUnreadable(
            f"応答を展開できません / answer does not decompress: {exc}"
        ) from exc
    if len(out) > cap or inflater.unconsumed_tail:
        raise CentralUnreadable(
            f"応答が展開すると大きすぎます (上限 {cap} バイト) / "
            f"answer too large once decompressed (limit {cap} bytes)"
        )
    if not inflater.eof:
        raise CentralUnreadable("応答が途中で切れています / compressed answer is truncated")
    return out


def _too_large(size: int, cap: int = MAX_MESSAGE_BYTES) -> CentralUnreadable:
    return CentralUnreadable(
        f"応答が大きすぎます ({size} バイト以上、上限 {cap}) / "
        f"answer too large ({size}+ bytes, limit {cap})"
    )


def _late(deadline_s: float) -> CentralUnavailable:
    return CentralUnavailable(
        f"中央サービスが {deadline_s:g} 秒以内に応答しませんでした / "
        f"central service did not answer within {deadline_s:g} s"
    )


# OpenSSL's reasons when the other side refused our certificate (an alert from the central).
_PEER_REFUSED_US = ("CERTIFICATE", "UNKNOWN_CA", "ACCESS_DENIED")


def _identity_failure(exc: BaseException) -> CentralUntrusted | None:
    """A TLS failure about identities, found in the exception's chain; None for the rest."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return CentralUntrusted(
                "中央サービスの証明書を信頼できません。central_ca の設定を確認してください / "
                "the central service's certificate is not trusted (check central_ca): "
                f"{getattr(cause, 'verify_message', None) or cause}"
            )
        if isinstance(cause, ssl.SSLError) and any(
            word in str(cause.reason or "") for word in _PEER_REFUSED_US
        ):
            return CentralUntrusted(
                "中央サービスがこの装置の証明書を受け付けません。device_cert の設定を確認して"
                "ください / the central service does not accept this appliance's certificate "
                f"(check device_cert): {cause.reason}"
            )
        cause = cause.__cause__ or cause.__context__
    return None


def _read(parse: Callable[[bytes], T], raw: bytes) -> T:
    try:
        return parse(raw)
    except MessageError as exc:
        raise CentralUnreadable(f"応答を解釈できません / malformed answer: {exc}") from exc


def _reason(body: bytes) -> str:
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])[:500]
    except ValueError:
        pass
    return body[:200].decode("utf-8", "replace") or "(no reason given)"
