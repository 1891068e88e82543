"""Drug and checkup history for doctors, only while the patient's consent is valid.

Consent is what the central returned with the confirmation (DOMAIN.md §4): per kind, agreed
or not, valid for 24 hours. It is checked here against the injected clock before anything is
asked of the central, so an expired consent never costs a request. An answer is cached
(encrypted) no longer than the consent it was fetched under, and every outcome, view or
refusal, is audited with the staff user.

The central is asked through the appliance's one circuit breaker (sync/breaker.py), like every
other call to it: while the circuit is open a view that has no cached copy is refused at once
("unavailable", nothing sent) instead of waiting the connect deadline, and a view that cannot
reach the central counts toward opening the circuit. A refusal by the central (no consent, an
answer with SegmentOfResult 9) is an answer: it never opens the circuit.

The same history can be had as the document the central (or the terminal) makes of it
(`open_document`, a FileCategory 1 request): a PDF checked to be one whole PDF, kept encrypted
(sync/store/clinicaldocs.py) under the same consent rules and for no longer, each view audited.
Anything else that comes back (an XML answer, bytes that are not a PDF, one too large) is
refused and nothing is kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sync.breaker import CircuitOpen
from sync.central import CentralError, CentralFault
from sync.clock import JST, utc_now
from sync.codes import is_insured
from sync.medinfo import (
    MEDICAL_INFO_KINDS,
    PDF_MEDIA_TYPE,
    MedicalInfoAnswer,
    MedicalInfoRequest,
    MedicalInfoResult,
    check_pdf,
    parse_medinfo_result,
)
from sync.store import Confirmation, ConsentRecord, Store
from sync.xmlmsg import MessageError, Qualification

HISTORY_MONTHS = {"drug": 36, "checkup": 60}  # DOMAIN.md §3: drugs 3 years, checkups 5 years
CONSENT_WINDOW = timedelta(hours=24)  # DOMAIN.md §4: a consent opens the data for 24 hours
T = TypeVar("T")
CONSENT_STATES = ("valid", "refused", "expired", "not_asked")
REFUSAL_REASONS = (
    "no_confirmation",
    "no_consent",  # the patient was asked and did not agree
    "cannot_consent",  # checked by the insurance numbers (資格確認書): no consent can exist
    "not_asked",  # a card visit that asked no consent for this kind (DOMAIN.md: expiry grace)
    "expired",
    "not_insured",
    "central",  # the central answered no (a refusal, or SegmentOfResult 9)
    "unavailable",  # not reached or no answer in time: try again shortly
    "unreadable",  # the central answered something that cannot be read
    "untrusted",  # the certificates do not match: the administrator must fix the settings
    "no_document",  # asked for the PDF, the central answered with XML only
)


class MedicalInfoSource(Protocol):
    """What asks the central for the history: sync.central.CentralClient (central_mode api) or
    sync.folders.FolderTransport (folders, through the official terminal)."""

    def medical_info(self, request: MedicalInfoRequest) -> MedicalInfoAnswer: ...


class CentralGate(Protocol):
    """What every call to the central goes through (sync.breaker.CircuitBreaker.call)."""

    def call(self, run: Callable[[], T]) -> T: ...


@dataclass(frozen=True)
class ConsentStatus:
    kind: str
    state: str  # "valid" | "refused" | "expired" | "not_asked"
    until: datetime | None  # end of the viewing window (aware), when one is known

    @property
    def valid(self) -> bool:
        return self.state == "valid"


class ClinicalRefused(Exception):
    """Why one kind of history cannot be shown: `reason` is one of REFUSAL_REASONS (the pages
    word it, web/strings_clinical.py); `until` is when an expired consent ended; `detail` is
    what the central itself said (its message and code, or the HTTP refusal), shown verbatim;
    `answered` tells a failed answer (SegmentOfResult 9) from a refused request; `circuit_open`
    says an "unavailable" request was not even sent (the central is known to be unreachable)."""

    def __init__(
        self,
        reason: str,
        kind: str,
        *,
        until: datetime | None = None,
        detail: str = "",
        answered: bool = False,
        circuit_open: bool = False,
    ) -> None:
        super().__init__(f"{kind}: {reason}" + (f": {detail}" if detail else ""))
        self.reason = reason
        self.kind = kind
        self.until = until
        self.detail = detail
        self.answered = answered
        self.circuit_open = circuit_open


@dataclass(frozen=True)
class ClinicalRecord:
    confirmation_id: int
    kind: str
    result: MedicalInfoResult
    fetched_at: datetime  # when the central answered (aware)
    available_until: datetime  # end of the consent this answer was fetched under
    from_cache: bool


@dataclass(frozen=True)
class ClinicalDocument:
    confirmation_id: int
    kind: str
    data: bytes  # checked: one whole PDF
    media_type: str  # "application/pdf"
    fetched_at: datetime
    available_until: datetime
    from_cache: bool


_Opened = TypeVar("_Opened", ClinicalRecord, ClinicalDocument)


class ClinicalRecords:
    """`central` asks for the history; `breaker` is the appliance's one circuit breaker, which
    every request to `central` goes through."""

    def __init__(
        self,
        store: Store,
        central: MedicalInfoSource,
        medical_institution_code: str,
        clock: Callable[[], datetime] = utc_now,
        *,
        breaker: CentralGate,
    ) -> None:
        self._store = store
        self._central = central
        self._breaker = breaker
        self._code = medical_institution_code
        self._clock = clock

    def now(self) -> datetime:
        """The clock the consent rules use, for pages that show times relative to them."""
        return self._clock()

    def consent_statuses(
        self, confirmation_id: int, *, confirmed_at: datetime | None = None
    ) -> dict[str, ConsentStatus]:
        """Each kind's consent now.

        `confirmed_at` is the confirmation's created_at: a caller that has it at hand saves
        reading the confirmation again.
        """
        now = self._clock()
        if confirmed_at is None:
            confirmation = self._store.confirmation(confirmation_id)
            if confirmation is None:  # its consents went with it
                return {k: ConsentStatus(k, "not_asked", None) for k in MEDICAL_INFO_KINDS}
            confirmed_at = confirmation.created_at
        records = {r.kind: r for r in self._store.consents(confirmation_id)}
        return {
            kind: _status(kind, records.get(kind), now, confirmed_at) for kind in MEDICAL_INFO_KINDS
        }

    def open(self, confirmation_id: int, kind: str, *, user: str) -> ClinicalRecord:
        """The history of one kind, from the cache or the central; ClinicalRefused otherwise."""
        return self._audited(confirmation_id, kind, user, kind, self._open)

    def open_document(self, confirmation_id: int, kind: str, *, user: str) -> ClinicalDocument:
        """The history of one kind as the central's PDF, from the cache or the central, under
        the same consent rules as `open`; ClinicalRefused otherwise."""
        return self._audited(confirmation_id, kind, user, f"{kind}.pdf", self._open_document)

    def purge_expired(self) -> int:
        return self._store.purge_clinical_cache(self._clock())

    def _audited(
        self,
        confirmation_id: int,
        kind: str,
        user: str,
        what: str,
        run: Callable[[int, str], _Opened],
    ) -> _Opened:
        if kind not in MEDICAL_INFO_KINDS:
            raise ValueError(f"unknown medical information kind: {kind!r}")
        subject = f"confirmation:{confirmation_id}"
        try:
            opened = run(confirmation_id, kind)
        except ClinicalRefused as refused:
            detail = f"{what}:{refused.reason}" + (" circuit_open" if refused.circuit_open else "")
            self._store.audit(user, "clinical.refused", subject, detail)
            raise
        source = "cache" if opened.from_cache else "online"
        self._store.audit(user, "clinical.view", subject, f"{what} {source}")
        return opened

    # -- the rules ----------------------------------------------------------------------
    def _consented(
        self, confirmation_id: int, kind: str, now: datetime
    ) -> tuple[Confirmation, datetime]:
        """The confirmation and the end of its valid consent for `kind`; ClinicalRefused when
        there is none."""
        confirmation = self._store.confirmation(confirmation_id)
        if confirmation is None:
            raise _refusal("no_confirmation", kind)
        if not is_insured(confirmation.result):
            raise _refusal("not_insured", kind)
        records = {r.kind: r for r in self._store.consents(confirmation_id)}
        status = _status(kind, records.get(kind), now, confirmation.created_at)
        if status.state == "expired":
            raise _refusal("expired", kind, status.until)
        if status.state == "not_asked":
            # Consent is given only on the card reader: a check by the numbers has none.
            raise _refusal("cannot_consent" if confirmation.kind != "card" else "not_asked", kind)
        if status.state != "valid" or status.until is None:
            raise _refusal("no_consent", kind)
        return confirmation, status.until

    def _ask(self, request: MedicalInfoRequest) -> MedicalInfoAnswer:
        """The central's answer through the breaker; ClinicalRefused for every failure and for
        an answer that is a refusal (SegmentOfResult other than 1)."""
        kind = request.kind
        try:
            answer = self._breaker.call(lambda: self._central.medical_info(request))
        except CircuitOpen as exc:  # known to be down: nothing was sent, no wait
            raise ClinicalRefused("unavailable", kind, circuit_open=True) from exc
        except CentralError as exc:
            if exc.fault is not CentralFault.REFUSED:
                raise _refusal(exc.fault.value, kind) from exc
            raise ClinicalRefused("central", kind, detail=str(exc)) from exc
        result = answer.result
        if result.segment_of_result != "1":
            code = f"({result.error_code})" if result.error_code else ""
            detail = " ".join(p for p in (result.error_message, code) if p)
            raise ClinicalRefused("central", kind, detail=detail, answered=True)
        return answer

    def _open(self, confirmation_id: int, kind: str) -> ClinicalRecord:
        now = self._clock()
        confirmation, until = self._consented(confirmation_id, kind, now)
        cached = self._store.clinical_cache(confirmation_id, kind, now)
        if cached is not None:
            try:
                result = parse_medinfo_result(cached.data)
            except MessageError:
                result = None  # unreadable copy: fetch a fresh one, which replaces it
            if result is not None and result.kind == kind:
                return ClinicalRecord(confirmation_id, kind, result, cached.fetched_at, until, True)

        answer = self._ask(self._request(confirmation.result.results[0], kind, now))
        if answer.is_document:  # a source that answers an XML request with a PDF
            raise _refusal("unreadable", kind)
        # Never kept longer than the consent it was fetched under.
        self._store.put_clinical_cache(confirmation_id, kind, answer.raw, now, until)
        return ClinicalRecord(confirmation_id, kind, answer.result, now, until, False)

    def _open_document(self, confirmation_id: int, kind: str) -> ClinicalDocument:
        now = self._clock()
        confirmation, until = self._consented(confirmation_id, kind, now)
        kept = self._store.clinical_document(confirmation_id, kind, now)
        if kept is not None and kept.media_type == PDF_MEDIA_TYPE:
            return ClinicalDocument(
                confirmation_id, kind, kept.data, kept.media_type, kept.fetched_at, until, True
            )
        request = self._request(confirmation.result.results[0], kind, now)
        answer = self._ask(replace(request, file_category="1"))
        if not answer.is_document:
            raise _refusal("no_document", kind)
        try:
            data = check_pdf(answer.raw)  # whatever the source checked: nothing else is kept
        except MessageError as exc:
            raise _refusal("unreadable", kind) from exc
        self._store.put_clinical_document(confirmation_id, kind, data, PDF_MEDIA_TYPE, now, until)
        return ClinicalDocument(confirmation_id, kind, data, PDF_MEDIA_TYPE, now, until, False)

    def _request(self, q: Qualification, kind: str, now: datetime) -> MedicalInfoRequest:
        start, end = history_period(kind, now)
        return MedicalInfoRequest(
            kind=kind,
            medical_institution_code=self._code,
            file_id=secrets.token_hex(10),
            insurer_number=q.insurer_number,
            number=q.number,
            birthdate=q.birthdate,
            start_month=start,
            end_month=end,
            symbol=q.symbol,
            branch=q.branch,
        )


def history_period(kind: str, now: datetime) -> tuple[str, str]:
    """(StartDate, EndDate) as YYYYMM: HISTORY_MONTHS months ending with this month in Japan."""
    local = now.astimezone(JST)
    end = local.year * 12 + local.month - 1
    start = end - (HISTORY_MONTHS[kind] - 1)
    return _yyyymm(start), _yyyymm(end)


def _yyyymm(months: int) -> str:
    return f"{months // 12:04d}{months % 12 + 1:02d}"


def _status(
    kind: str, record: ConsentRecord | None, now: datetime, confirmed_at: datetime
) -> ConsentStatus:
    """The state of one kind's consent at `now`.

    `confirmed_at` is when the answer carrying the consent was stored: the consent was given at
    the card reader just before, so it bounds the window when the consent time is missing.
    """
    if record is None:
        return ConsentStatus(kind, "not_asked", None)
    if not record.agreed:
        # "2" is "expired" in other interfaces; "0", "3" and anything else is no consent.
        state = "expired" if record.flag == "2" else "refused"
        return ConsentStatus(kind, state, record.available_until)
    # A window longer than the rule allows is cut back to it. Without a readable ConsTime it is
    # counted from the confirmation, so a far AvailableTime never makes it unbounded.
    until = record.available_until
    if record.consented_at is not None:
        limit = record.consented_at + CONSENT_WINDOW
        until = limit if until is None else min(until, limit)
    elif until is not None:
        until = min(until, confirmed_at + CONSENT_WINDOW)
    if until is None or now >= until:
        return ConsentStatus(kind, "expired", until)
    return ConsentStatus(kind, "valid", until)


def _refusal(fault: str, kind: str, until: datetime | None = None) -> ClinicalRefused:
    """A refusal of this module's own (a reason) or a central failure (a CentralFault value)."""
    reason = fault if fault in REFUSAL_REASONS else "unavailable"
    return ClinicalRefused(reason, kind, until=until)
