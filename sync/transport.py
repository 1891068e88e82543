"""How a qualification request reaches the central service, whatever carries it.

The HTTPS API (sync.central.CentralClient) is one transport; the official terminal's shared
req/res folders (sync.folders.FolderTransport) are another, and a circuit breaker or an outbox
may wrap either. Everything above the transport sees only this interface, its answer and its
four kinds of failure.

Every failure is one of four meanings (CentralFault), each its own error class:
- CentralUnavailable: not reached, or no whole answer before the deadline: try again later.
- CentralRefused: the service answered, and the answer is a refusal; retrying the same request
  will not help. CentralUnsupported is one: the transport has no way to carry the call.
- CentralUnreadable: the service answered something that cannot be read (malformed, oversized,
  an encoding that does not decode): neither "try later" nor "refused".
- CentralUntrusted: the identities do not match (certificates): a configuration error that no
  retry fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Generic, Protocol, TypeVar

from sync.bulkmsg import (
    AidUpload,
    BulkAnswer,
    BulkQuery,
    BulkReceipt,
    BulkUpload,
    ReferenceAnswer,
    ReferenceRequest,
    build_aid_upload,
    build_bulk_query,
    build_bulk_upload,
    build_reference_request,
    parse_bulk_answer,
    parse_bulk_receipt,
    parse_reference_answer,
)
from sync.xmlmsg import QualificationRequest, QualificationResult


class CentralFault(StrEnum):
    """What went wrong talking to the central, as a meaning; the pages turn it into words."""

    UNAVAILABLE = "unavailable"  # not reached or no answer in time: try again later
    REFUSED = "refused"  # the service answered no
    UNREADABLE = "unreadable"  # the service answered something that cannot be read
    UNTRUSTED = "untrusted"  # the identities do not match: fix the configuration


class CentralError(Exception):
    """Root of the errors talking to the central service; `fault` says which kind."""

    fault: ClassVar[CentralFault]


class CentralUnavailable(CentralError):
    """The service could not be reached or did not answer in time: try again later."""

    fault = CentralFault.UNAVAILABLE


class CentralRefused(CentralError):
    """The service answered, and the answer was a refusal (its status and its reason)."""

    fault = CentralFault.REFUSED

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(
            f"中央サービスが拒否しました / central service refused ({status}): {reason}"
        )
        self.status = status
        self.reason = reason


class CentralUnsupported(CentralRefused):
    """The transport cannot carry this kind of call at all (e.g. a card's challenge over the
    official terminal's folders, which have no such path): a refusal by construction, so it
    never opens the circuit breaker nor queues a re-check; `status` is 501 (not implemented)."""

    def __init__(self, reason: str) -> None:
        super().__init__(501, reason)


class CentralUnreadable(CentralError):
    """The service answered with something that is not a valid answer: malformed, too
    large (as sent or once decompressed), or in an encoding we did not ask for."""

    fault = CentralFault.UNREADABLE


class CentralUntrusted(CentralError):
    """The identities do not match: the central's certificate does not chain to the pinned CA
    (or names another host), or the central did not accept this appliance's certificate. A
    configuration error: retrying does not help, an administrator must fix the certificates."""

    fault = CentralFault.UNTRUSTED


@dataclass(frozen=True)
class CentralAnswer:
    """One qualification answer, read once by the transport: `result` is the parsed message
    (so nobody above parses it again), `raw` exactly as received, for the store and the
    レセコン folder."""

    result: QualificationResult
    raw: bytes
    round_trip_s: float


class QualificationTransport(Protocol):
    """Carries qualification requests to the central service and their answers back.

    Every call raises only CentralError subclasses for the central's failures.

    The bulk inquiry and 照会番号 registration (sync/bulkmsg.py) are idempotent by the request's
    file id: the same upload sent again gets the same reception number, so a retry is safe.
    An answer that refuses the whole request (SegmentOfResult 9: an unknown reception number,
    a malformed upload) is raised as CentralRefused, so `bulk_result` returns only answers
    that are ready (`.ready`) or in progress (ask again later, with a new file id)."""

    def nonce(self) -> bytes:
        """A fresh single-use challenge for a card to sign."""
        ...

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        """The answer to one request; its file id is the request's."""
        ...

    def bulk_upload(self, request: BulkUpload) -> BulkReceipt:
        """Send one OQSmuquc01req (≤ MAX_BULK_ENTRIES entries): its reception number."""
        ...

    def bulk_result(self, request: BulkQuery) -> BulkAnswer:
        """Ask for the results of a reception number (OQSmuquc02req); `.ready` False: the
        central is still working, ask again later (each ask with its own file id)."""
        ...

    def register_references(self, request: ReferenceRequest) -> ReferenceAnswer:
        """Register 照会番号 (OQSsiimm01req for one, OQSmuimm01req for more): one outcome
        per registration."""
        ...

    def aid_upload(self, request: AidUpload) -> BulkReceipt:
        """Send one 医療扶助 bulk (OQSmutic01req: the month's recipients): its reception
        number, idempotent by file id as bulk_upload."""
        ...

    def aid_result(self, request: BulkQuery) -> BulkAnswer:
        """The 医療券 of a reception number (OQSmutic02req → OQSmutic02res), as bulk_result."""
        ...


ABNORMAL_STATUS = 422  # CentralRefused.status of an answer with SegmentOfResult 9


def abnormal_answer(error_code: str, error_message: str) -> CentralRefused:
    """The refusal a bulk or registration answer with SegmentOfResult 9 stands for (its
    ErrorCode and ErrorMessage, as the central wrote them, for the administrator)."""
    reason = f"{error_code} {error_message}".strip() or "SegmentOfResult 9"
    return CentralRefused(ABNORMAL_STATUS, reason[:500])


def same_request(answered: str, sent: str) -> None:
    """An answer for another request (its ArbitraryFileIdentifier) is unreadable as ours."""
    if answered != sent:
        raise CentralUnreadable(
            "応答のファイル識別子が一致しません / answer is for another request "
            f"({answered!r} ≠ {sent!r})"
        )


def checked_receipt(receipt: BulkReceipt, request: BulkUpload | AidUpload) -> BulkReceipt:
    """An upload's answer as both transports return it: for this upload, with a reception
    number; SegmentOfResult 9 raised as CentralRefused."""
    same_request(receipt.file_id, request.file_id)
    if receipt.segment_of_result == "9":
        raise abnormal_answer(receipt.error_code, receipt.error_message)
    if receipt.segment_of_result != "1" or not receipt.reception_number:
        raise CentralUnreadable("受付番号がありません / answer without a reception number")
    return receipt


def checked_bulk_answer(answer: BulkAnswer, request: BulkQuery) -> BulkAnswer:
    """A bulk answer as both transports return it: for this query and its reception number,
    ready or in progress; SegmentOfResult 9 raised as CentralRefused."""
    same_request(answer.file_id, request.file_id)
    if answer.segment_of_result == "9":
        raise abnormal_answer(answer.error_code, answer.error_message)
    if answer.reception_number and answer.reception_number != request.reception_number:
        raise CentralUnreadable(
            "応答の受付番号が一致しません / answer is for another reception number"
        )
    return answer


def checked_reference_answer(answer: ReferenceAnswer, request: ReferenceRequest) -> ReferenceAnswer:
    """A registration's answer as both transports return it (SegmentOfResult 9 raised)."""
    same_request(answer.file_id, request.file_id)
    if answer.segment_of_result == "9":
        raise abnormal_answer(answer.error_code, answer.error_message)
    return answer


# What a bulk or registration call sends and answers (BulkExchange, a transport's generic helper).
BulkRequestT = TypeVar("BulkRequestT", BulkUpload, AidUpload, BulkQuery, ReferenceRequest)
BulkAnswerT = TypeVar("BulkAnswerT", BulkReceipt, BulkAnswer, ReferenceAnswer)


@dataclass(frozen=True)
class BulkExchange(Generic[BulkRequestT, BulkAnswerT]):
    """How one bulk or registration call is written and read, whichever transport carries it:
    `build` the request (in an encoding), `parse` the answer (MessageError when it cannot be
    read), `check` it against the request (the checked_… functions above)."""

    build: Callable[[BulkRequestT, str], bytes]
    parse: Callable[[bytes], BulkAnswerT]
    check: Callable[[BulkAnswerT, BulkRequestT], BulkAnswerT]


BULK_UPLOAD = BulkExchange(build_bulk_upload, parse_bulk_receipt, checked_receipt)
BULK_RESULT = BulkExchange(build_bulk_query, parse_bulk_answer, checked_bulk_answer)
AID_UPLOAD = BulkExchange(build_aid_upload, parse_bulk_receipt, checked_receipt)
AID_RESULT = BulkExchange(build_bulk_query, parse_bulk_answer, checked_bulk_answer)
REFERENCES = BulkExchange(build_reference_request, parse_reference_answer, checked_reference_answer)

_T = TypeVar("_T")


class RelayTransport:
    """A QualificationTransport that hands every call of `inner` to `call` (the circuit
    breaker runs each under its state): the whole protocol by construction, so a call added
    to the protocol cannot be missed by a wrapper."""

    def __init__(self, inner: QualificationTransport) -> None:
        self._inner = inner

    def call(self, run: Callable[[], _T]) -> _T:
        raise NotImplementedError

    def nonce(self) -> bytes:
        return self.call(self._inner.nonce)

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        return self.call(lambda: self._inner.confirm(request))

    def bulk_upload(self, request: BulkUpload) -> BulkReceipt:
        return self.call(lambda: self._inner.bulk_upload(request))

    def bulk_result(self, request: BulkQuery) -> BulkAnswer:
        return self.call(lambda: self._inner.bulk_result(request))

    def register_references(self, request: ReferenceRequest) -> ReferenceAnswer:
        return self.call(lambda: self._inner.register_references(request))

    def aid_upload(self, request: AidUpload) -> BulkReceipt:
        return self.call(lambda: self._inner.aid_upload(request))

    def aid_result(self, request: BulkQuery) -> BulkAnswer:
        return self.call(lambda: self._inner.aid_result(request))
