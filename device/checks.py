"""Insurance-number checks typed at reception (資格確認書, old cards): validate, ask, store.

Everything typed is checked before anything is sent, and every problem is reported at once,
so a worn card's typo costs one correction instead of one 該当資格なし per field. The request
takes the card path's later half (DESIGN "the main job", step 6) with ReferenceClassification 2.
A re-check asks about the same person again today, from the numbers of a stored answer.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from device.confirm import ConfirmationFailed, Confirmations
from device.outbox import Outbox
from device.reasons import EndReason
from sync.clock import JST, utc_now
from sync.identifiers import (
    IdentifierError,
    normalize_digits,
    validate_birthdate,
    validate_branch,
    validate_insurer_number,
)
from sync.store import Confirmation, Store
from sync.transport import CentralFault
from sync.xmlmsg import QualificationRequest, SearchInfo

log = logging.getLogger(__name__)

MAX_SYMBOL = 20  # InsuredCardSymbol
MAX_NUMBER = 20  # InsuredIdentificationNumber
XML_INSURER_WIDTH = 8  # 国保's 6 digits travel padded to 8 (DOMAIN §2)


class InputProblem(StrEnum):
    """What is wrong with one typed field (the pages word it: web/field_errors.py)."""

    MISSING = "missing"
    TOO_LONG = "too_long"  # more than FieldError.limit characters
    UNPRINTABLE = "unprintable"  # a character that cannot be sent
    DATE_FORMAT = "date_format"  # a date of care in no accepted form
    FUTURE = "future"  # a date of care after today
    AFTER_CARE_DATE = "after_care_date"  # a birth date after the date of care
    NO_NUMBERS = "no_numbers"  # a stored answer to re-check names no numbers to ask with
    IDENTIFIER = "identifier"  # sync/identifiers refused it: FieldError.identifier says how


@dataclass(frozen=True)
class FieldError:
    problem: InputProblem
    limit: int | None = None  # TOO_LONG: the most characters allowed
    identifier: IdentifierError | None = None  # IDENTIFIER: the digit at fault and the expected


@dataclass(frozen=True)
class NumbersInput:
    """Exactly what staff typed (strings), before any normalisation."""

    insurer_number: str
    symbol: str
    number: str
    branch: str
    birthdate: str
    care_date: str = ""  # empty: today in Japan
    # The patient agreed to share 限度額 information (asked aloud at the desk, as on the
    # official terminal); without it central leaves that block out.
    limit_consent: bool = False


@dataclass(frozen=True)
class CheckedNumbers:
    """The input after validation: what goes on the wire."""

    insurer_number: str  # 6 (国保) or 8 digits
    symbol: str
    number: str
    branch: str  # "" or two digits
    birthdate: str  # YYYYMMDD
    care_date: str  # YYYYMMDD
    limit_consent: bool


class InputRejected(Exception):
    """Something typed is wrong; `errors` maps each field at fault → what is wrong with it.
    Nothing was sent."""

    def __init__(self, errors: dict[str, FieldError]) -> None:
        super().__init__("; ".join(f"{field}: {e.problem.value}" for field, e in errors.items()))
        self.errors = errors


class CheckFailed(Exception):
    """Central gave no usable answer; `reason` says which way (an EndReason: central_unavailable,
    central_refused, central_unreadable, central_untrusted); the pages put it in words.
    `queued`: the request is in the re-check queue and will be asked again by itself (the
    central was unavailable)."""

    def __init__(
        self, reason: EndReason, *, queued: bool = False, earlier: Confirmation | None = None
    ) -> None:
        self.reason = reason
        self.queued = queued
        # A queued check's 前回確認: the last answer stored for these numbers, which the desk
        # charges meanwhile and the re-check's answer is compared with.
        self.earlier = earlier
        super().__init__(reason.value)


class ConfirmationNotFound(LookupError):
    """recheck() of a confirmation that is not stored (never was, or purged)."""


def _free_text(typed: str, limit: int, *, required: bool) -> tuple[str, FieldError | None]:
    """NFKC without spaces; (value, error)."""
    value = "".join(unicodedata.normalize("NFKC", typed).split())
    if not value:
        if required:
            return "", FieldError(InputProblem.MISSING)
        return "", None
    if len(value) > limit:
        return "", FieldError(InputProblem.TOO_LONG, limit=limit)
    if not value.isprintable():
        return "", FieldError(InputProblem.UNPRINTABLE)
    return value, None


def _care_date(typed: str, today: date) -> tuple[str, FieldError | None]:
    if not normalize_digits(typed):
        return today.strftime("%Y%m%d"), None
    try:
        # The same formats as a birth date (western and 和暦) are accepted.
        value = validate_birthdate(typed)
    except IdentifierError:
        return "", FieldError(InputProblem.DATE_FORMAT)
    if value > today.strftime("%Y%m%d"):
        return "", FieldError(InputProblem.FUTURE)
    return value, None


def validate_numbers(typed: NumbersInput, today: date) -> CheckedNumbers:
    """Every field checked; InputRejected lists all problems at once."""
    errors: dict[str, FieldError] = {}
    values: dict[str, str] = {}
    for field, validate in (
        ("insurer_number", validate_insurer_number),
        ("birthdate", lambda text: validate_birthdate(text, today=today)),  # not in the future
        ("branch", validate_branch),
    ):
        try:
            values[field] = validate(getattr(typed, field))
        except IdentifierError as exc:
            errors[field] = FieldError(InputProblem.IDENTIFIER, identifier=exc)
    for field, limit, required in (("symbol", MAX_SYMBOL, False), ("number", MAX_NUMBER, True)):
        value, error = _free_text(getattr(typed, field), limit, required=required)
        if error:
            errors[field] = error
        values[field] = value
    care, error = _care_date(typed.care_date, today)
    if error:
        errors["care_date"] = error
    birthdate = values.get("birthdate", "")
    if birthdate and care and birthdate > care:
        errors["birthdate"] = FieldError(InputProblem.AFTER_CARE_DATE)
    if errors:
        raise InputRejected(errors)
    return CheckedNumbers(
        insurer_number=values["insurer_number"],
        symbol=values["symbol"],
        number=values["number"],
        branch=values["branch"],
        birthdate=birthdate,
        care_date=care,
        limit_consent=typed.limit_consent,
    )


class ManualChecks:
    """`clock` gives the date of care. The appliance passes ClockTrust.care_now: the wall clock
    while the central's time agrees with it, the central's time when it does not (a clinic needs
    the check to go out with today's date, not a refusal it cannot act on), so a box whose clock
    was set a year back never sends last year's date.

    `outbox`: where a check the central could not answer because it was unavailable goes to
    be asked again after recovery. It is this caller's collaborator rather than
    Confirmations': the outbox asks through Confirmations itself (its own failures must not
    queue again), and only the caller knows what was charged (a re-check's 前回確認).
    None (tools and tests that queue nothing): such a check only fails."""

    def __init__(
        self,
        *,
        medical_institution_code: str,
        confirmations: Confirmations,
        store: Store,
        clock: Callable[[], datetime] = utc_now,
        outbox: Outbox | None = None,
    ) -> None:
        self._code = medical_institution_code
        self._confirmations = confirmations
        self._store = store
        self._clock = clock
        self._outbox = outbox

    def check(
        self,
        typed: NumbersInput,
        *,
        actor: str,
        charged: int | None = None,
        for_visit: int | None = None,
    ) -> Confirmation:
        """Validate (InputRejected), then ask, store and tell the desk through the one
        confirmation path (CheckFailed when the central gave no answer; queued for a re-check
        when it was unavailable). `charged`: the confirmation this one checks again.
        `for_visit`: a card visit kept offline (its confirmation) that these numbers are the
        card's: the answer is linked to the card, so its next visit finds them (前回確認)."""
        if for_visit is not None:
            found = self._store.confirmation(for_visit)
            if found is None or not found.offline:
                raise ConfirmationNotFound(f"no card visit kept offline: {for_visit}")
        request = self._request(typed)
        file_id = request.file_id
        try:
            stored = self._confirmations.confirm(
                request,
                kind="numbers",
                method="numbers",
                actor=actor,
                label=f"numbers check {file_id}",
                card_from=for_visit,
            )
        except ConfirmationFailed as exc:
            queued = False
            earlier = None
            if self._outbox is not None and exc.cause.fault is CentralFault.UNAVAILABLE:
                if charged is None:  # typed at the desk: what is known of these numbers
                    earlier = self._last_answer_for(request)
                    charged = earlier.id if earlier is not None else None
                queued = self._outbox.enqueue(
                    request,
                    "numbers",
                    "numbers",
                    actor,
                    charged=charged,
                    card_from=for_visit,
                    reason=exc.reason.value,
                )
            raise CheckFailed(exc.reason, queued=queued, earlier=earlier) from exc.cause
        log.info("numbers check %s stored as confirmation %d", file_id, stored.id)
        return stored

    def _last_answer_for(self, request: QualificationRequest) -> Confirmation | None:
        """The newest stored answer for the numbers asked about (any kind of check), or None."""
        search = request.search
        if search is None:
            return None
        found = self._store.find_by_numbers(search.insurer_number, search.symbol, search.number, 1)
        return found[0] if found else None

    def recheck(self, confirmation_id: int, *, actor: str) -> Confirmation:
        """The same person again, today, by the numbers of a stored answer (card visits too;
        for a visit stored offline, the numbers of its 前回確認).

        ConfirmationNotFound when there is no such confirmation; InputRejected when it holds
        no numbers to ask with (an answer that failed before naming anyone, without a search
        echo)."""
        typed, charged = self._recheck_input(confirmation_id)
        return self.check(typed, actor=actor, charged=charged)

    def recheck_request(self, confirmation_id: int) -> QualificationRequest:
        """The request a re-check of this stored answer would send, built and not sent: an
        offline card visit queues it (the card's own request cannot be sent again: its
        challenge was single-use). Raises as `recheck` does."""
        typed, _charged = self._recheck_input(confirmation_id)
        return self._request(typed)

    def _request(self, typed: NumbersInput) -> QualificationRequest:
        """Validate (InputRejected), then the request for these numbers, with a new file id."""
        checked = validate_numbers(typed, self._clock().astimezone(JST).date())
        return QualificationRequest(
            medical_institution_code=self._code,
            confirmation_date=checked.care_date,
            file_id=secrets.token_hex(10),
            reference_classification="2",
            search=SearchInfo(
                insurer_number=checked.insurer_number.zfill(XML_INSURER_WIDTH),
                number=checked.number,
                birthdate=checked.birthdate,
                symbol=checked.symbol,
                branch=checked.branch,
                limit_consent=checked.limit_consent,
            ),
        )

    def _recheck_input(self, confirmation_id: int) -> tuple[NumbersInput, int]:
        """The numbers to ask with and the confirmation they come from (what was charged)."""
        found = self._store.confirmation(confirmation_id)
        if found is not None and found.offline:
            # An offline visit has no answer of its own: its 前回確認 has the numbers.
            earlier_id = found.earlier_id
            earlier = None if earlier_id is None else self._store.confirmation(earlier_id)
            if earlier is None:  # none was known, or it was purged since
                raise InputRejected({"confirmation": FieldError(InputProblem.NO_NUMBERS)})
            found = earlier
        if found is None:
            raise ConfirmationNotFound(f"no confirmation {confirmation_id}")
        result = found.result
        first = result.results[0] if result.results else None
        search = result.search
        # Shared 限度額 information means the patient agreed to share it: ask the same way.
        limit_consent = (search is not None and search.limit_consent) or (
            first is not None and first.limit is not None
        )
        if first is not None and first.insurer_number and first.number and first.birthdate:
            source = (first.insurer_number, first.symbol, first.number, first.branch)
            birthdate = first.birthdate
        elif search is not None:
            source = (search.insurer_number, search.symbol, search.number, search.branch)
            birthdate = search.birthdate
        else:
            raise InputRejected({"confirmation": FieldError(InputProblem.NO_NUMBERS)})
        return NumbersInput(*source, birthdate, limit_consent=limit_consent), found.id
