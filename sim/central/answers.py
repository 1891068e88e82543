"""What the simulated central answers with, shared by qualification and medical information:
the rendered answer, refusals at the HTTP level, the shape of a SegmentOfResult 9 failure,
the institution check and idempotent replay by ArbitraryFileIdentifier.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sync.clock import JST

REPLAY_CAPACITY = 100_000  # stored answers for idempotent replay (oldest dropped first)
CHARSET = {"utf-8": "utf-8", "shift_jis": "Shift_JIS"}


class RequestRejected(Exception):
    """Refused at the HTTP level (not a qualification answer): 400, 403, 409 or 503."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str


def xml_answer(body: bytes, encoding: str) -> Answer:
    return Answer(body, f"application/xml; charset={CHARSET[encoding]}")


@dataclass(frozen=True)
class Failure:  # answered with SegmentOfResult 9: ErrorCode and "ja / en" ErrorMessage
    code: str
    ja: str
    en: str

    @property
    def message(self) -> str:
        return f"{self.ja} / {self.en}"


def process_time(now: datetime) -> str:
    """ProcessExecutionTime: Japan time, whatever zone the clock is in."""
    return now.astimezone(JST).strftime("%Y%m%d%H%M%S")


def check_institution(code: str, institution: str) -> None:
    """A request speaks for the institution of its client certificate, and no other."""
    if code != institution:
        raise RequestRejected(
            403,
            "医療機関コードがクライアント証明書と一致しません / "
            "MedicalInstitutionCode does not match the client certificate",
        )


class ReplayLog:
    """Idempotency by ArbitraryFileIdentifier: the same body gets the stored answer, another
    body with the same identifier is refused with 409. One log serves every endpoint; the
    key says which."""

    def __init__(self, capacity: int = REPLAY_CAPACITY) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        # (institution, endpoint, file id) → (body digest, answer)
        self._answers: OrderedDict[tuple[str, str, str], tuple[bytes, Answer]] = OrderedDict()

    def once(
        self, key: tuple[str, str, str], body: bytes, answer_it: Callable[[], Answer]
    ) -> Answer:
        digest = hashlib.sha256(body).digest()
        with self._lock:
            stored = self._answers.get(key)
        if stored is not None:
            if stored[0] != digest:
                raise RequestRejected(
                    409,
                    "同じ ArbitraryFileIdentifier で内容の違う要求です / "
                    "ArbitraryFileIdentifier reused with a different request",
                )
            return stored[1]
        answer = answer_it()
        with self._lock:
            first = self._answers.setdefault(key, (digest, answer))
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)
        if first[0] != digest:  # a concurrent request with the same id won the race
            raise RequestRejected(409, "ArbitraryFileIdentifier reused with a different request")
        return first[1]
