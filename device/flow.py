"""A My Number card visit as an explicit state machine.

card placed → reading → certificate read → awaiting PIN → signing → confirming → stored → done.
Removing the card at any state aborts the visit: nothing half-written (a visit row without
personal data, no confirmation), the kiosk goes back to the start, the next card works.
One visit at a time per appliance: the reader thread reports cards, a worker thread runs the
visit, the kiosk hands in PINs through a PinSource.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from device.events import (
    ConfirmationStored,
    EventBus,
    PinBlocked,
    PinRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from reader.connection import CardConnection, TimedConnection
from reader.errors import (
    CardRemoved,
    ForbiddenApdu,
    NotAJpkiCard,
    PinFormatError,
    ReaderError,
    WrongPin,
)
from reader.errors import PinBlocked as CardPinBlocked
from reader.events import CardInserted, CardRemovedEvent, ReaderEvent
from reader.guard import GuardedConnection
from reader.jpki import JpkiSession, digest_info_sha256
from sync.central import CentralAnswerError, CentralClient, CentralRefused, CentralUnavailable
from sync.challenge import payload_digest
from sync.clock import JST, utc_now
from sync.store import Confirmation, Store, VisitRecord
from sync.xmlmsg import CardAuthentication, QualificationRequest

log = logging.getLogger(__name__)


class VisitState(StrEnum):
    CARD_PLACED = "card_placed"
    READING = "reading"
    CERT_READ = "cert_read"
    AWAITING_PIN = "awaiting_pin"
    PIN_BLOCKED = "pin_blocked"
    SIGNING = "signing"
    CONFIRMING = "confirming"
    STORED = "stored"
    DONE = "done"
    ABORTED = "aborted"
    FAILED = "failed"


# Why a visit ended without an answer: code → Japanese / English shown to staff and patient.
REASONS: dict[str, tuple[str, str]] = {
    "card_removed": ("カードが取り外されました", "The card was removed"),
    "timeout": (
        "時間切れです。もう一度カードを置いてください",
        "Timed out. Please place the card again",
    ),
    "pin_blocked": (
        "暗証番号がロックされています。市区町村の窓口で解除できます。受付で目視確認もできます",
        "The PIN is locked; the city office can unlock it. Staff can confirm visually",
    ),
    "not_jpki": ("マイナンバーカードではありません", "This is not a My Number card"),
    "bad_certificate": ("カードの証明書を読めません", "The card's certificate cannot be read"),
    "card_error": ("カードの読み取りに失敗しました", "Reading the card failed"),
    "forbidden": ("許可されていないカード操作を止めました", "A forbidden card command was stopped"),
    "signature_mismatch": (
        "カードの署名を確認できません",
        "The card's signature does not match its certificate",
    ),
    "central_unavailable": (
        "資格確認サービスに接続できません。しばらくしてから再度お試しください",
        "The eligibility service cannot be reached. Please try again shortly",
    ),
    "central_refused": ("資格確認サービスが要求を拒否しました", "The eligibility service refused"),
}


def reason_text(code: str, lang: str = "ja") -> str:
    ja, en = REASONS.get(code, (code, code))
    return ja if lang == "ja" else en


@dataclass
class ActiveVisit:
    id: str
    reader: str
    started_at: datetime
    state: VisitState = VisitState.CARD_PLACED
    method: str = ""
    tries_left: int | None = None
    end_reason: str = ""  # why the PIN step ended without a verified PIN
    pin_wait_s: float = 0.0  # time spent waiting for the patient
    cancelled: threading.Event = field(default_factory=threading.Event)


class PinSource(Protocol):
    def wait_pin(self, visit: ActiveVisit, timeout: float) -> str | None:
        """The PIN for this visit, or None when the visit was cancelled or the time ran out."""

    def cancel(self, visit_id: str) -> None: ...


class KioskPins:
    """PINs handed in by the kiosk page; kept only until the card takes them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[str, str] = {}
        self._waiting: str | None = None

    def submit(self, visit_id: str, pin: str) -> bool:
        """False when no visit is waiting for a PIN under that id (stale kiosk page)."""
        with self._cond:
            if self._waiting != visit_id:
                return False
            self._pending[visit_id] = pin
            self._cond.notify_all()
            return True

    def wait_pin(self, visit: ActiveVisit, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiting = visit.id
            try:
                while visit.id not in self._pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or visit.cancelled.is_set():
                        return None
                    self._cond.wait(remaining)
                return self._pending.pop(visit.id)
            finally:
                self._waiting = None
                self._pending.pop(visit.id, None)

    def cancel(self, visit_id: str) -> None:
        with self._cond:
            self._pending.pop(visit_id, None)
            self._cond.notify_all()


@dataclass(frozen=True)
class VisitTimings:
    card_io_s: float = 0.0
    central_s: float = 0.0
    total_s: float = 0.0
    pin_wait_s: float = 0.0  # time the patient took: not the appliance's
    answer_to_event_s: float = 0.0  # central answer received → reception event published
    apdus: int = 0

    @property
    def overhead_s(self) -> float:
        """Time spent in the appliance itself: everything but card, central and patient."""
        return max(0.0, self.total_s - self.card_io_s - self.central_s - self.pin_wait_s)


@dataclass(frozen=True)
class VisitOutcome:
    visit_id: str
    state: VisitState
    reason: str = ""
    confirmation: Confirmation | None = None
    timings: VisitTimings = VisitTimings()


class VisitFlow:
    def __init__(
        self,
        *,
        medical_institution_code: str,
        connect: Callable[[str], CardConnection],
        central: CentralClient,
        store: Store,
        bus: EventBus,
        pins: PinSource,
        pin_timeout_s: float = 90.0,
        clock: Callable[[], datetime] = utc_now,
        on_refused: Callable[[bytes], None] | None = None,
    ) -> None:
        self._code = medical_institution_code
        self._connect = connect
        self._central = central
        self._store = store
        self._bus = bus
        self._pins = pins
        self._pin_timeout_s = pin_timeout_s
        self._clock = clock
        self._on_refused = on_refused
        self._lock = threading.Lock()
        self._current: ActiveVisit | None = None
        self._worker: threading.Thread | None = None
        self.last_outcome: VisitOutcome | None = None

    @property
    def current(self) -> ActiveVisit | None:
        return self._current

    # -- reader events (called from the reader monitor thread) ----------------------------
    def handle(self, event: ReaderEvent) -> None:
        if isinstance(event, CardInserted):
            with self._lock:
                if self._worker is not None and self._worker.is_alive():
                    return  # one visit at a time; the card of the running visit is still there
                self._worker = threading.Thread(
                    target=self.run_visit, args=(event.reader,), name="visit", daemon=True
                )
                self._worker.start()
        elif isinstance(event, CardRemovedEvent):
            visit = self._current
            if visit is not None and visit.reader == event.reader:
                visit.cancelled.set()
                self._pins.cancel(visit.id)

    def wait_idle(self, timeout: float) -> bool:
        """For tests and shutdown: wait until no visit is running."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    # -- one visit ---------------------------------------------------------------------
    def run_visit(self, reader: str) -> VisitOutcome:
        visit = ActiveVisit(id=secrets.token_hex(8), reader=reader, started_at=self._clock())
        self._current = visit
        started = time.perf_counter()
        timed: TimedConnection | None = None
        central_s = 0.0
        answer_to_event_s = 0.0
        connect_s = 0.0
        outcome: VisitOutcome
        self._bus.publish(VisitStarted(visit.id, reader, visit.started_at))
        try:
            t0 = time.perf_counter()
            connection = self._connect(reader)  # powers the card up: card I/O, like transmit
            connect_s = time.perf_counter() - t0
            timed = TimedConnection(connection)
            card = JpkiSession(GuardedConnection(timed, self._on_refused))
            self._set(visit, VisitState.READING)
            certificate = card.read_auth_certificate()
            public_key = _auth_public_key(certificate)
            self._set(visit, VisitState.CERT_READ)
            if not self._verify_pin(visit, card):
                outcome = self._end(visit, VisitState.ABORTED, visit.end_reason or "card_removed")
            else:
                stored, central_s, answered = self._confirm(visit, card, certificate, public_key)
                self._bus.publish(ConfirmationStored(stored.id, visit.id))
                answer_to_event_s = time.perf_counter() - answered
                self._set(visit, VisitState.DONE)
                outcome = VisitOutcome(visit.id, VisitState.DONE, "", stored)
        except CardRemoved:
            outcome = self._end(visit, VisitState.ABORTED, "card_removed")
        except NotAJpkiCard:
            outcome = self._end(visit, VisitState.FAILED, "not_jpki")
        except ForbiddenApdu:
            log.error("visit %s: a forbidden APDU was stopped by the guard", visit.id)
            outcome = self._end(visit, VisitState.FAILED, "forbidden")
        except _BadCertificate:
            outcome = self._end(visit, VisitState.FAILED, "bad_certificate")
        except _SignatureMismatch:
            outcome = self._end(visit, VisitState.FAILED, "signature_mismatch")
        except ReaderError as exc:
            log.warning("visit %s: card error: %s", visit.id, exc)
            outcome = self._end(visit, VisitState.FAILED, "card_error")
        except CentralUnavailable as exc:
            log.warning("visit %s: %s", visit.id, exc)
            outcome = self._end(visit, VisitState.FAILED, "central_unavailable")
        except (CentralRefused, CentralAnswerError) as exc:
            log.warning("visit %s: %s", visit.id, exc)
            outcome = self._end(visit, VisitState.FAILED, "central_refused")
        finally:
            if timed is not None:
                t0 = time.perf_counter()
                timed.close()
                connect_s += time.perf_counter() - t0
            if self._current is visit:
                self._current = None
        total = time.perf_counter() - started
        timings = VisitTimings(
            card_io_s=(timed.seconds if timed else 0.0) + connect_s,
            central_s=central_s,
            total_s=total,
            pin_wait_s=visit.pin_wait_s,
            answer_to_event_s=answer_to_event_s,
            apdus=timed.count if timed else 0,
        )
        outcome = VisitOutcome(
            outcome.visit_id, outcome.state, outcome.reason, outcome.confirmation, timings
        )
        self.last_outcome = outcome
        return outcome

    def _confirm(
        self, visit: ActiveVisit, card: JpkiSession, certificate: bytes, key: rsa.RSAPublicKey
    ) -> tuple[Confirmation, float, float]:
        """Sign the central's nonce, check the signature here, ask central, store the answer.

        Returns the stored confirmation, the seconds spent waiting for central and the
        perf_counter() instant the answer arrived.
        """
        self._set(visit, VisitState.SIGNING)
        file_id = secrets.token_hex(10)
        t0 = time.perf_counter()
        nonce = self._central.nonce()
        central_s = time.perf_counter() - t0
        digest = payload_digest(nonce, self._code, file_id)
        signature = card.sign(digest_info_sha256(digest))
        try:
            # Possession + PIN are proven here already, even if central is unreachable.
            key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        except InvalidSignature:
            raise _SignatureMismatch("signature does not match the certificate") from None
        self._set(visit, VisitState.CONFIRMING)
        request = QualificationRequest(
            medical_institution_code=self._code,
            confirmation_date=self._clock().astimezone(JST).strftime("%Y%m%d"),
            file_id=file_id,
            reference_classification="1",
            card=CardAuthentication(certificate, nonce, signature, visit.method),
        )
        t0 = time.perf_counter()
        answer = self._central.confirm(request)
        answered = time.perf_counter()
        central_s += answered - t0
        # An answer that arrives after the card left is still kept: the holder was verified.
        record = VisitRecord(
            visit.id,
            visit.started_at,
            self._clock(),
            visit.reader,
            visit.method,
            "done",
            file_id=file_id,
        )
        stored = self._store.save_confirmation(
            file_id=file_id,
            raw_result=answer.raw,
            kind="card",
            method=visit.method,
            actor="reader",
            visit=record,
        )
        self._set(visit, VisitState.STORED)
        return stored, central_s, answered

    def _verify_pin(self, visit: ActiveVisit, card: JpkiSession) -> bool:
        """Ask for the PIN until it is right; False when the visit must end (reason on visit)."""
        visit.method = "pin"
        tries = card.pin_tries_left()
        wrong = False
        while True:
            visit.tries_left = tries
            if tries <= 0:
                return self._blocked(visit)
            self._set(visit, VisitState.AWAITING_PIN)
            self._bus.publish(PinRequested(visit.id, tries, wrong))
            waited_from = time.perf_counter()
            pin = self._pins.wait_pin(visit, self._pin_timeout_s)
            visit.pin_wait_s += time.perf_counter() - waited_from
            if pin is None:
                visit.end_reason = "card_removed" if visit.cancelled.is_set() else "timeout"
                return False
            try:
                card.verify_pin(pin)
                return True
            except PinFormatError:
                wrong = True  # a typo never costs a card try; ask again with the same count
            except WrongPin as exc:
                tries, wrong = exc.tries_left, True
            except CardPinBlocked:
                return self._blocked(visit)

    def _blocked(self, visit: ActiveVisit) -> bool:
        self._set(visit, VisitState.PIN_BLOCKED)
        self._bus.publish(PinBlocked(visit.id))
        # Keep the visit on screen until the card is taken (or time runs out).
        visit.cancelled.wait(self._pin_timeout_s)
        visit.end_reason = "pin_blocked"
        return False

    def _set(self, visit: ActiveVisit, state: VisitState) -> None:
        visit.state = state
        self._bus.publish(VisitStateChanged(visit.id, state.value))

    def _end(self, visit: ActiveVisit, state: VisitState, reason: str) -> VisitOutcome:
        visit.state = state
        self._store.record_visit(
            VisitRecord(
                visit.id,
                visit.started_at,
                self._clock(),
                visit.reader,
                visit.method,
                state.value,
                reason,
            )
        )
        message = f"{reason_text(reason, 'ja')} / {reason_text(reason, 'en')}"
        if state is VisitState.ABORTED:
            self._bus.publish(VisitAborted(visit.id, reason, message))
        else:
            self._bus.publish(VisitFailed(visit.id, reason, message))
        self._bus.publish(VisitStateChanged(visit.id, state.value))
        return VisitOutcome(visit.id, state, reason)


class _BadCertificate(ReaderError):
    pass


class _SignatureMismatch(ReaderError):
    pass


def _auth_public_key(der: bytes) -> rsa.RSAPublicKey:
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except ValueError as exc:
        raise _BadCertificate("certificate does not parse") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise _BadCertificate("certificate key is not RSA")
    return key
