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

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

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

    Both calls raise only CentralError subclasses for the central's failures."""

    def nonce(self) -> bytes:
        """A fresh single-use challenge for a card to sign."""
        ...

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        """The answer to one request; its file id is the request's."""
        ...
