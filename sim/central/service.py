"""The simulated central eligibility service: nonces, card checks, lookups, faults; drug and
checkup information through its `MedicalInfoDesk` (medinfo.py).

No HTTP here: `app.py` maps requests onto these methods. Everything a real service would
enforce is enforced (chain to the JPKI root, validity, revocation, single-use expiring nonces
bound to the institution, the card's signature over `sync.challenge.signed_payload`, consent
before drug/checkup data), and failures are answered the way the real system does: a result
with SegmentOfResult 9.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sim.central.answers import (
    Answer,
    Failure,
    ReplayLog,
    check_institution,
    process_time,
    xml_answer,
)
from sim.central.answers import RequestRejected as RequestRejected  # re-exported for app.py
from sim.central.bulk import DEFAULT_BULK_DELAY_S, BulkDesk
from sim.central.changes import changed_people
from sim.central.faults import NORMAL, Faults, FaultSettings
from sim.central.medinfo import CONSENT_VALID, MedicalInfoDesk
from sim.central.publicexpense import medical_tickets, public_expenses
from sim.pki import PkiPaths
from sim.population import Person, population
from sync.bulkmsg import AidEntry, BulkEntry
from sync.cardexpiry import CardStanding, card_expiry
from sync.challenge import signed_payload
from sync.clock import utc_now
from sync.xmlmsg import (
    SIGNED_METHODS,
    ConsentAnswer,
    ConsentState,
    ElderlyInfo,
    LimitInfo,
    MessageError,
    Qualification,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_result,
    parse_request,
)

AID_CARD = "A1"  # InsuredCardClassification of a 医療扶助 record

NONCE_BYTES = 32
NONCE_TTL_S = 120.0
NONCE_KEEP_S = 3600.0  # used/expired nonces are remembered this long, so reuse is named as such
CHARACTER_CODE = {"utf-8": "0", "shift_jis": "1"}  # CharacterCodeIdentifier

# Limit certificates in the population are all valid for the fiscal year around the
# population's reference date.
LIMIT_ISSUED = "20250801"
LIMIT_VALID_END = "20260731"


@dataclass(frozen=True)
class Nonce:
    value: bytes
    expires_in: int  # seconds

    def to_json(self) -> dict[str, object]:
        return {
            "nonce": base64.b64encode(self.value).decode("ascii"),
            "expires_in": self.expires_in,
        }


@dataclass
class _IssuedNonce:
    issued: float  # monotonic
    institution: str
    used: bool = False


CERT_UNREADABLE = Failure("EC01", "電子証明書を読み取れません", "certificate cannot be read")
CERT_CHAIN = Failure(
    "EC02", "電子証明書の発行元を確認できません", "certificate does not chain to the JPKI root"
)
CERT_EXPIRED = Failure("EC03", "電子証明書の有効期限が切れています", "certificate has expired")
CERT_NOT_YET = Failure("EC04", "電子証明書がまだ有効ではありません", "certificate not yet valid")
CERT_REVOKED = Failure("EC05", "電子証明書は失効しています", "certificate has been revoked")
BAD_SIGNATURE = Failure("EC06", "カードの署名を検証できません", "card signature does not verify")
NONCE_UNKNOWN = Failure(
    "EN01", "チャレンジ値が発行されていません", "nonce was not issued by this service"
)
NONCE_EXPIRED = Failure("EN02", "チャレンジ値の有効期限が切れています", "nonce has expired")
NONCE_REUSED = Failure("EN03", "チャレンジ値は使用済みです", "nonce was already used")

# ProcessingResultMessage for outcomes staff must act on (shown verbatim).
VALIDITY_MESSAGE = {
    "2": ("Q002", "資格が無効です。喪失日以降は保険診療の対象外です。"),
    "3": ("Q003", "照会した資格は無効です。新しい資格が登録されています。"),
    "4": ("Q004", "該当する資格がありません。入力内容や保険者への届出を確認してください。"),
    "5": ("Q005", "複数の資格が該当しました。保険者に確認してください。"),
    "6": ("Q006", "医療扶助の資格が有効です（未登録）。福祉事務所に確認してください。"),
}


class CentralService:
    def __init__(
        self,
        pki: PkiPaths,
        people: Sequence[Person] | None = None,
        *,
        latency_s: float = 0.0,
        fail_rate: float = 0.0,
        encoding: str = "utf-8",
        clock: Callable[[], datetime] = utc_now,
        faults: FaultSettings = NORMAL,
        bulk_delay_s: float = DEFAULT_BULK_DELAY_S,
    ) -> None:
        self.people = tuple(population() if people is None else people)
        self.latency_s = latency_s
        self.fail_rate = fail_rate  # fraction of requests answered 503 (drills)
        self.encoding = encoding  # "utf-8" or "shift_jis" for result documents
        self.nonce_ttl_s = NONCE_TTL_S
        self.clock = clock
        self._revoked_file = pki.revoked_serials_file
        self._root = x509.load_pem_x509_certificate(pki.jpki_root_cert.read_bytes())
        self._by_id = {p.id: p for p in self.people}
        self._by_serial: dict[int, Person] = {}
        for p in self.people:
            path = pki.card_cert(p.id)
            if p.card_status != "none" and path.exists():
                serial = x509.load_der_x509_certificate(path.read_bytes()).serial_number
                self._by_serial[serial] = p
        self._lock = threading.Lock()
        self._nonces: dict[bytes, _IssuedNonce] = {}
        self._replay = ReplayLog()
        # drug and checkup requests, and the consents given at card visits that allow them
        self.medical = MedicalInfoDesk(self._find, self._replay, self._now)
        # bulk inquiries and the 照会番号 registry (bulk.py)
        self.bulk = BulkDesk(
            self._answer_entry,
            self._find,
            self._replay,
            self._now,
            delay_s=bulk_delay_s,
            answer_aid=self._answer_aid,
        )
        self._fail_next: list[int] = []
        self._outage = False
        self._random = random.Random()
        # down / slow / flapping / changed answers, switchable at run time (faults.py)
        self.faults = Faults(lambda: self.clock(), faults, on_recovery=self._answers_change)

    # -- fault injection --

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next n requests (any endpoint) are answered with status and nothing else."""
        with self._lock:
            self._fail_next.extend([status] * n)

    def outage(self, on: bool) -> None:
        """While on, every request is answered 503."""
        with self._lock:
            self._outage = on

    def _answers_change(self, down_since: datetime, recovered: datetime) -> None:
        """After the first outage with `changed_after_recovery`: see changes.py."""
        people = changed_people(self.people, down_since)
        with self._lock:
            self.people = people
            self._by_id = {p.id: p for p in people}
            self._by_serial = {serial: self._by_id[p.id] for serial, p in self._by_serial.items()}

    def injected_failure(self) -> int | None:
        """Called once per HTTP request: the status to fail with, if a fault is due."""
        with self._lock:
            if self._outage:
                return 503
            if self._fail_next:
                return self._fail_next.pop(0)
            if self.fail_rate > 0 and self._random.random() < self.fail_rate:
                return 503
        return None

    # -- nonces --

    def issue_nonce(self, institution: str) -> Nonce:
        value = secrets.token_bytes(NONCE_BYTES)
        now = time.monotonic()
        with self._lock:
            self._forget_old_nonces(now)
            self._nonces[value] = _IssuedNonce(now, institution)
        return Nonce(value, int(self.nonce_ttl_s))

    def _consume_nonce(self, value: bytes, institution: str) -> Failure | None:
        now = time.monotonic()
        with self._lock:
            issued = self._nonces.get(value)
            if issued is None or issued.institution != institution:
                return NONCE_UNKNOWN
            if issued.used:
                return NONCE_REUSED
            issued.used = True  # any use spends it, so a failed attempt cannot be retried
            if now - issued.issued > self.nonce_ttl_s:
                return NONCE_EXPIRED
        return None

    def _forget_old_nonces(self, now: float) -> None:
        keep = max(NONCE_KEEP_S, self.nonce_ttl_s)
        stale = [v for v, n in self._nonces.items() if now - n.issued > keep]
        for v in stale:
            del self._nonces[v]

    # -- qualification --

    def qualify(self, body: bytes, institution: str) -> Answer:
        """Answer one OQSsiquc01req document sent by the client whose certificate CN is
        `institution`. Raises RequestRejected for 400/403/409."""
        try:
            req = parse_request(body)
        except MessageError as e:
            raise RequestRejected(400, str(e)) from None
        check_institution(req.medical_institution_code, institution)
        return self._replay.once(
            (institution, "qualification", req.file_id), body, lambda: self._answer(req)
        )

    def _answer(self, req: QualificationRequest) -> Answer:
        if req.reference_classification == "1":
            assert req.card is not None  # parse_request guarantees it for "1"
            if self._in_grace(req.card.certificate):
                # An expired certificate within its grace confirms qualification only: any
                # consent the request carries is refused (not recorded, none in the answer).
                req = replace(req, consents=())
            found = self._card_holder(req)
            if isinstance(found, Failure):
                return self._render(self._failure(req, found))
            matches = self._card_group(found)
        else:
            assert req.search is not None  # parse_request guarantees it for "2"
            matches = self._search(req)
        result = self._result(req, matches)
        if req.reference_classification == "1" and len(matches) == 1:
            # consent is given at the card reader, to the person whose record was answered
            # (the newer qualification for validity 3: its numbers are what the clinic sees)
            shown = self._by_id.get(matches[0].newer_id, matches[0])
            self.medical.record_consents(req.medical_institution_code, shown, req.consents)
        return self._render(result)

    def _card_holder(self, req: QualificationRequest) -> Person | Failure | None:
        assert req.card is not None
        # A visual check (目視確認) proves nothing on the card: there is no nonce or signature
        # to check, only the certificate itself.
        signed = req.card.method in SIGNED_METHODS
        if signed:
            nonce_failure = self._consume_nonce(req.card.nonce, req.medical_institution_code)
            if nonce_failure is not None:
                return nonce_failure
        try:
            cert = x509.load_der_x509_certificate(req.card.certificate)
        except ValueError:
            return CERT_UNREADABLE
        try:
            cert.verify_directly_issued_by(self._root)
        except (ValueError, TypeError, InvalidSignature):
            return CERT_CHAIN
        now = self.clock()
        if card_expiry(cert.not_valid_after_utc, now).standing is CardStanding.GRACE_OVER:
            return CERT_EXPIRED  # within its grace an expired certificate still qualifies
        if now < cert.not_valid_before_utc:
            return CERT_NOT_YET
        if str(cert.serial_number) in self._revoked():
            return CERT_REVOKED
        if not signed:
            return self._by_serial.get(cert.serial_number)
        public = cert.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            return BAD_SIGNATURE
        payload = signed_payload(req.card.nonce, req.medical_institution_code, req.file_id)
        try:
            public.verify(req.card.signature, payload, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return BAD_SIGNATURE
        return self._by_serial.get(cert.serial_number)

    def _in_grace(self, certificate: bytes) -> bool:
        """Whether the card's certificate has expired and is within its grace (DOMAIN.md §10)."""
        try:
            cert = x509.load_der_x509_certificate(certificate)
        except ValueError:
            return False  # _card_holder answers it as unreadable
        expiry = card_expiry(cert.not_valid_after_utc, self.clock())
        return expiry.standing is CardStanding.GRACE

    def _revoked(self) -> set[str]:
        # Read on every check so a serial revoked while running takes effect at once.
        try:
            return {str(s) for s in json.loads(self._revoked_file.read_text())}
        except FileNotFoundError:
            return set()

    # -- drug and checkup information --

    def medical_info(self, body: bytes, institution: str, kind: str) -> Answer:
        """Answer one YZKsiquc01req ("drug") or TKKsiquc01req ("checkup") document: see
        `MedicalInfoDesk.medical_info`."""
        return self.medical.medical_info(body, institution, kind, self.encoding)

    # -- bulk inquiry and 照会番号 (bulk.py) --

    def bulk_upload(self, body: bytes, institution: str) -> Answer:
        """OQSmuquc01req → OQSmuquc01res (a reception number)."""
        return self.bulk.upload(body, institution, self.encoding, CHARACTER_CODE[self.encoding])

    def bulk_result(self, body: bytes, institution: str) -> Answer:
        """OQSmuquc02req → OQSmuquc02res (in progress, or every unit)."""
        return self.bulk.result(body, institution, self.encoding, CHARACTER_CODE[self.encoding])

    def aid_upload(self, body: bytes, institution: str) -> Answer:
        """OQSmutic01req → OQSmutic01res (a reception number)."""
        return self.bulk.aid_upload(body, institution, self.encoding, CHARACTER_CODE[self.encoding])

    def aid_result(self, body: bytes, institution: str) -> Answer:
        """OQSmutic02req → OQSmutic02res (in progress, or every recipient's 医療券)."""
        return self.bulk.result(body, institution, self.encoding, CHARACTER_CODE[self.encoding])

    def register_references(self, body: bytes, institution: str) -> Answer:
        """OQSsiimm01req / OQSmuimm01req → one outcome per registration."""
        return self.bulk.register(body, institution, self.encoding, CHARACTER_CODE[self.encoding])

    def _answer_entry(
        self, institution: str, confirmation_date: str, entry: BulkEntry
    ) -> QualificationResult:
        """A bulk entry answered exactly as the single request with its numbers would be."""
        req = QualificationRequest(
            medical_institution_code=institution,
            confirmation_date=confirmation_date,
            file_id=entry.identifier,
            reference_classification="2",
            search=entry.search,
        )
        return self._result(req, self._search(req))

    def _answer_aid(self, institution: str, month: str, entry: AidEntry) -> QualificationResult:
        """A 医療扶助 recipient's answer for the month: a single answer dated its first day
        (so it carries that month's 医療券); only 医療扶助 records (A1) are recipients."""
        search = SearchInfo(entry.public_number, entry.recipient, entry.birthdate)
        req = QualificationRequest(
            medical_institution_code=institution,
            confirmation_date=f"{month}01",
            file_id=entry.identifier,
            reference_classification="2",
            search=search,
        )
        found = self._find(entry.public_number, "", entry.recipient, entry.birthdate, "")
        return self._result(req, [p for p in found if p.card_classification == AID_CARD])

    def _referenced(self, institution: str, q: Qualification, *people: Person) -> Qualification:
        """`q` with the 照会番号 the institution registered for its person, if any."""
        number = self.bulk.reference(institution, people)
        return replace(q, reference_number=number) if number else q

    # -- people --

    def _card_group(self, holder: Person | None) -> list[Person]:
        if holder is None or not holder.registered:
            return []
        if holder.validity == "5":
            return [p for p in self.people if p.registered and _same_numbers(p, holder)]
        return [holder]

    def _search(self, req: QualificationRequest) -> list[Person]:
        assert req.search is not None
        s = req.search
        return self._find(s.insurer_number, s.symbol, s.number, s.birthdate, s.branch)

    def _find(
        self, insurer_number: str, symbol: str, number: str, birthdate: str, branch: str
    ) -> list[Person]:
        """Registered people with these insurance numbers (the branch only when given).

        The symbol is matched as the national system tolerates it: exactly (after NFKC, so
        full-width and half-width are one) first; failing that, with spaces, hyphens and case
        aside, or left out altogether, when that leaves exactly one person with the insurer,
        number and birth date asked. Such an answer is "valid" with the person's registered
        numbers, which differ from those asked (記号番号の相違). The number itself is never
        tolerated: a wrong number is 該当資格なし."""
        insurer = _trimmed(insurer_number)
        number = _norm(number)
        branch = _norm(branch).zfill(2) if branch.strip() else ""
        candidates = [
            p
            for p in self.people
            if p.registered
            and _trimmed(p.insurer_number) == insurer
            and _norm(p.number) == number
            and p.birthdate == birthdate
            and (not branch or p.branch == branch)
        ]
        exact = [p for p in candidates if _norm(p.symbol) == _norm(symbol)]
        if exact:
            return exact
        loose = _loose(symbol)
        tolerated = [p for p in candidates if not loose or _loose(p.symbol) == loose]
        return tolerated if len(tolerated) == 1 else []

    def _result(self, req: QualificationRequest, matches: list[Person]) -> QualificationResult:
        consents = _consent_states(req.consents)
        institution = req.medical_institution_code
        with_limit = req.reference_classification == "1" or (
            req.search is not None and req.search.limit_consent
        )
        results: tuple[Qualification, ...] = ()
        on, institution = req.confirmation_date, req.medical_institution_code
        if not matches:
            validity = "4"
        elif len(matches) > 1:
            validity = "5"
            results = tuple(
                self._referenced(
                    institution,
                    _qualification(p, consents, with_limit, on=on, institution=institution),
                    p,
                )
                for p in matches
            )
        else:
            holder = matches[0]
            validity = holder.validity
            shown = self._by_id.get(holder.newer_id, holder) if validity == "3" else holder
            results = (
                self._referenced(
                    institution,
                    _qualification(shown, consents, with_limit, on=on, institution=institution),
                    shown,
                    holder,
                ),
            )
        code, message = VALIDITY_MESSAGE.get(validity, ("", ""))
        return QualificationResult(
            process_time=self._process_time(),
            confirmation_date=req.confirmation_date,
            medical_institution_code=req.medical_institution_code,
            file_id=req.file_id,
            reference_classification=req.reference_classification,
            segment_of_result="1",
            processing_status="1",
            processing_code=code,
            processing_message=message,
            validity=validity,
            character_code=CHARACTER_CODE[self.encoding],
            search=req.search,
            results=results,
        )

    def _failure(self, req: QualificationRequest, failure: Failure) -> QualificationResult:
        return QualificationResult(
            process_time=self._process_time(),
            confirmation_date=req.confirmation_date,
            medical_institution_code=req.medical_institution_code,
            file_id=req.file_id,
            reference_classification=req.reference_classification,
            segment_of_result="9",
            error_code=failure.code,
            error_message=failure.message,
            character_code=CHARACTER_CODE[self.encoding],
        )

    def _now(self) -> datetime:
        return self.clock()  # read at each call, so a clock set on the service reaches the desk

    def _process_time(self) -> str:
        return process_time(self.clock())

    def _render(self, result: QualificationResult) -> Answer:
        return xml_answer(build_result(result, encoding=self.encoding), self.encoding)


def _trimmed(insurer_number: str) -> str:
    # 国保 numbers come padded to 8 with spaces or zeros; no 法別番号 starts with 0 0.
    return _norm(insurer_number).lstrip("0")


def _norm(s: str) -> str:
    return unicodedata.normalize("NFKC", s).strip()


_IGNORED_IN_SYMBOL = str.maketrans("", "", " \u3000-\u2010\u2212")


def _loose(symbol: str) -> str:
    """A symbol as the tolerant search compares it: NFKC, case, spaces and hyphens aside."""
    return _norm(symbol).casefold().translate(_IGNORED_IN_SYMBOL)


def _same_numbers(a: Person, b: Person) -> bool:
    return (a.insurer_number, a.symbol, a.number, a.branch, a.birthdate) == (
        b.insurer_number,
        b.symbol,
        b.number,
        b.branch,
        b.birthdate,
    )


def _consent_states(answers: Sequence[ConsentAnswer]) -> tuple[ConsentState, ...]:
    states = []
    for a in answers:
        available = ""
        if a.agreed and a.time:
            until = datetime.strptime(a.time, "%Y%m%d%H%M%S") + CONSENT_VALID
            available = until.strftime("%Y%m%d%H%M%S")
        states.append(ConsentState(a.kind, "1" if a.agreed else "0", a.time, available))
    return tuple(states)


def _qualification(
    p: Person,
    consents: tuple[ConsentState, ...],
    with_limit: bool,
    *,
    on: str = "",
    institution: str = "",
) -> Qualification:
    """One record as answered; `on` (the confirmation date) and `institution` (the asking
    one) place a 医療扶助 person's 医療券: without `on` the answer carries none."""
    return Qualification(
        card_classification=p.card_classification,
        insurer_number=p.insurer_number,
        symbol=p.symbol,
        number=p.number,
        branch=p.branch,
        personal_family=p.personal_family,
        insured_name=p.insured_name,
        name=p.name,
        name_kana=p.name_kana,
        sex=p.sex,
        birthdate=p.birthdate,
        address=p.address,
        post_number=p.post_number,
        qualification_date=p.qualification_date,
        disqualification_date=p.disqualification_date,
        reason_of_loss=p.reason_of_loss,
        card_valid_date=p.qualification_date,
        contribution_ratio=p.contribution_ratio,
        preschool=p.preschool,
        insurer_name=p.insurer_name,
        elderly=_elderly(p),
        limit=_limit(p) if with_limit else None,
        consents=consents,
        public_expenses=public_expenses(p),
        medical_tickets=medical_tickets(p, on, institution),
    )


def _elderly(p: Person) -> ElderlyInfo | None:
    if not p.elderly_ratio:
        return None
    born = date(int(p.birthdate[:4]), int(p.birthdate[4:6]), int(p.birthdate[6:]))
    seventieth = born.replace(year=born.year + 70)
    # Valid from the first of the month after the 70th birthday (that day when born on a 1st)
    # until the day before the 75th, when 後期高齢者 coverage takes over.
    start = seventieth if seventieth.day == 1 else _first_of_next_month(seventieth)
    end = born.replace(year=born.year + 75) - timedelta(days=1)
    stamp = start.strftime("%Y%m%d")
    return ElderlyInfo(stamp, stamp, end.strftime("%Y%m%d"), p.elderly_ratio)


def _first_of_next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _limit(p: Person) -> LimitInfo | None:
    if not p.limit_classification:
        return None
    return LimitInfo(
        p.limit_classification, p.limit_flag, LIMIT_ISSUED, LIMIT_ISSUED, LIMIT_VALID_END
    )
