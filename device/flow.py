"""A My Number card visit as an explicit state machine.

card placed → reading → certificate read → awaiting PIN → awaiting consent → signing →
confirming → stored → done. Instead of the PIN, reception may switch a waiting visit to 目視確認
(staff looked at the card and the patient): then nothing is signed and the request says so.
A locked PIN, or a patient who asks for staff rather than risk the last try, waits for that.
Removing the card at any state aborts the visit, whatever it waits for (a person, the card or
the central, whose calls run on a thread of their own): nothing half-written (a visit row
without personal data, no confirmation), an answer arriving afterwards is dropped, the kiosk
goes back to the start, and the next card starts its visit at once. pcscd going away ends a
visit as "the reader service restarted", not as a removed card.
One visit at a time per appliance: the reader thread reports cards and never waits, a worker
thread runs the visit, the kiosk and reception hand in PINs, consent, calls for staff and the
visual check through the flow's methods (enter_pin, give_consent, ask_staff, switch_to_visual).
Why a visit ended is an EndReason; the pages put it in words.
The certificate's expiry is read before anything is asked (device/cardexpiry.py): a card
about to expire goes on with a notice, one in its grace is confirmed without consent, one past
its grace ends the visit before the PIN. A card left on the reader after its visit ended is
reported (CardLeftOnReader) once it has stayed card_left_alert_s (device/cardleft.py).
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
from typing import Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from device.cardexpiry import certificate_expiry, expiry_event
from device.cardleft import Alarm, CardLeftWatch, start_alarm
from device.cardproof import (
    BadCertificate,
    SignatureMismatch,
    auth_public_key,
    sign_challenge,
    signed_and_checked,
)
from device.cardtrust import CardUntrusted
from device.confirm import CENTRAL_REASONS as CENTRAL_REASONS
from device.confirm import ConfirmationFailed, Confirmations
from device.events import (
    ConsentRequested,
    EventBus,
    PinBlocked,
    PinRequested,
    StaffHelpRequested,
    VisitAborted,
    VisitAnswered,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
    VisualCheckChosen,
)
from device.inputs import (
    ConsentChoice,
    StaffCalled,
    VisitInput,
    VisualCheck,
)
from device.offline import OfflineVisits, identity_of
from device.reasons import EndReason as EndReason
from reader.connection import CardConnection, TimedConnection
from reader.errors import (
    CardRemoved,
    ForbiddenApdu,
    NotAJpkiCard,
    PinFormatError,
    ReaderError,
    ReaderUnavailable,
    WrongPin,
)
from reader.errors import PinBlocked as CardPinBlocked
from reader.events import CardInserted, CardRemovedEvent, ReaderEvent, RemovalCause
from reader.guard import GuardedConnection
from reader.jpki import JpkiSession
from sync.cardexpiry import CardStanding
from sync.challenge import payload_digest
from sync.clock import JST, utc_now
from sync.store import Confirmation, Store, StoreFullError, VisitRecord
from sync.xmlmsg import CardAuthentication, ConsentAnswer, QualificationRequest

log = logging.getLogger(__name__)


class VisitState(StrEnum):
    CARD_PLACED = "card_placed"
    READING = "reading"
    CERT_READ = "cert_read"
    AWAITING_PIN = "awaiting_pin"
    AWAITING_STAFF = "awaiting_staff"  # the patient asked for staff instead of the PIN
    PIN_BLOCKED = "pin_blocked"
    AWAITING_CONSENT = "awaiting_consent"
    SIGNING = "signing"
    CONFIRMING = "confirming"
    STORED = "stored"
    DONE = "done"
    # The central was unreachable: card and holder proven on the box, kept for a re-check.
    OFFLINE_DONE = "offline_done"
    ABORTED = "aborted"
    FAILED = "failed"


# How often a visit waiting for the central looks whether its card is still there.
CANCEL_POLL_S = 0.05

_T = TypeVar("_T")


@dataclass
class ActiveVisit:
    id: str
    reader: str
    started_at: datetime
    state: VisitState = VisitState.CARD_PLACED
    method: str = ""  # "pin" or "visual" once known
    staff: str = ""  # staff user who confirmed visually
    tries_left: int | None = None
    consent_kinds: tuple[str, ...] = ()  # asked at the kiosk (for a reloaded page)
    end_reason: str = ""  # why a waiting step ended the visit (an EndReason)
    pin_wait_s: float = 0.0  # time spent waiting for people (patient or staff)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self, reason: EndReason) -> None:
        """End the visit from outside (card gone, reader service gone, appliance stopping);
        the first reason given is the one that counts."""
        if not self.end_reason:
            self.end_reason = reason
        self.cancelled.set()


class InputSource(Protocol):
    def submit(self, visit_id: str, value: VisitInput) -> bool:
        """Hand something to the visit; False when it is not waiting for that."""

    def wait(self, visit: ActiveVisit, step: str, timeout: float) -> VisitInput | None:
        """What was handed in for this step, or None when cancelled or the time ran out."""

    def cancel(self, visit_id: str) -> None: ...


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
        confirmations: Confirmations,
        store: Store,
        bus: EventBus,
        inputs: InputSource,
        pin_timeout_s: float = 90.0,
        consent_kinds: tuple[str, ...] = (),
        consent_timeout_s: float = 90.0,
        staff_timeout_s: float = 300.0,
        clock: Callable[[], datetime] = utc_now,
        on_refused: Callable[[bytes], None] | None = None,
        offline: OfflineVisits | None = None,
        card_left_alert_s: float = 20.0,
        alarm: Callable[[float, Callable[[], None]], Alarm] = start_alarm,
    ) -> None:
        """`offline`: how a visit goes on while the central is unreachable (device/offline.py);
        None where a visit must fail instead (the technician's card check tests the central).
        `card_left_alert_s`: how long a card may stay after its visit ended before the desk is
        told (CardLeftOnReader); `alarm` starts that wait (tests hand in their own)."""
        self._code = medical_institution_code
        self._connect = connect
        self._confirmations = confirmations
        self._store = store
        self._bus = bus
        self._inputs = inputs
        self._pin_timeout_s = pin_timeout_s
        self._consent_kinds = consent_kinds
        self._consent_timeout_s = consent_timeout_s
        self._staff_timeout_s = staff_timeout_s
        self._clock = clock
        self._on_refused = on_refused
        self._offline = offline
        self._cards = CardLeftWatch(bus, card_left_alert_s, alarm)
        self._lock = threading.Lock()
        self._current: ActiveVisit | None = None
        self._worker: threading.Thread | None = None
        self.last_outcome: VisitOutcome | None = None

    @property
    def current(self) -> ActiveVisit | None:
        return self._current

    @property
    def card_left(self) -> str | None:
        """The visit whose card is still on the reader after the visit ended, if any."""
        return self._cards.visit

    # -- reader events (called from the reader monitor thread) ----------------------------
    def handle(self, event: ReaderEvent) -> None:
        """Never blocks: whatever the running visit waits for (a person, the card, the
        central), a removed card ends it and the next card starts a visit at once."""
        if isinstance(event, CardInserted):
            self._cards.placed(event.reader)
            with self._lock:
                previous = self._worker
                if previous is not None and previous.is_alive():
                    visit = self._current
                    if visit is not None and not visit.cancelled.is_set():
                        return  # one visit at a time; the card of the running visit is still there
                else:
                    previous = None
                # The previous visit is ending (its card left): this one follows it at once.
                self._worker = threading.Thread(
                    target=self._run_after,
                    args=(previous, event.reader),
                    name="visit",
                    daemon=True,
                )
                self._worker.start()
        elif isinstance(event, CardRemovedEvent):
            self._cards.removed(event.reader)
            visit = self._current
            if visit is not None and visit.reader == event.reader:
                lost = event.cause is RemovalCause.SERVICE_LOST
                visit.cancel(EndReason.READER_RESTARTED if lost else EndReason.CARD_REMOVED)
                self._inputs.cancel(visit.id)

    def _run_after(self, previous: threading.Thread | None, reader: str) -> None:
        if previous is not None:
            previous.join()  # it was cancelled: it ends within a poll of the central wait
        outcome = self.run_visit(reader)
        self._cards.visit_ended(outcome.visit_id, reader)

    # -- people acting on the running visit (web threads) ----------------------------------
    # The only doors into a running visit: the pages hand everything to these methods.
    def enter_pin(self, visit_id: str, pin: str) -> bool:
        """The patient's PIN from the kiosk; False when that visit is not waiting for one."""
        return self._inputs.submit(visit_id, pin)

    def give_consent(self, visit_id: str, choice: ConsentChoice) -> bool:
        """The patient's consent answers; False when that visit is not asking for them."""
        return self._inputs.submit(visit_id, choice)

    def switch_to_visual(self, visit_id: str, staff: str) -> bool:
        """Reception confirms the holder by looking; False when that visit is not waiting for
        a PIN or for staff (already past that step, or gone)."""
        visit = self._current
        if visit is None or visit.id != visit_id or not staff:
            return False
        if not self._inputs.submit(visit_id, VisualCheck(staff)):
            return False
        self._store.audit(staff, "visit.visual_check", f"visit:{visit_id}")
        return True

    def ask_staff(self, visit_id: str) -> bool:
        """The patient would rather have staff confirm than enter the PIN."""
        return self._inputs.submit(visit_id, StaffCalled())

    def stop(self, timeout: float) -> bool:
        """For shutdown and restarts: end the running visit now (it may be waiting minutes for a
        person) and wait for it; False when it did not end in time."""
        visit = self._current
        if visit is not None:
            visit.cancel(EndReason.STOPPED)
            self._inputs.cancel(visit.id)
        return self.wait_idle(timeout)

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
            parsed, public_key = auth_public_key(certificate)
            self._set(visit, VisitState.CERT_READ)
            # The certificate's expiry before anything is asked of the patient.
            expiry = certificate_expiry(parsed, self._clock())
            notice = expiry_event(visit.id, expiry)
            if notice is not None:
                self._bus.publish(notice)
            if expiry.standing is CardStanding.GRACE_OVER:
                raise _GraceOver()
            consents: tuple[ConsentAnswer, ...] | None = ()
            if self._holder_confirmed(visit, card):
                # Consent cannot be registered while the central is unreachable, nor through the
                # terminal's folders, nor with a certificate in its grace: not asked.
                no_consent = self._no_consent() or not expiry.shares_information
                consents = () if no_consent else self._ask_consent(visit)
            if visit.end_reason or consents is None:
                outcome = self._end(visit, VisitState.ABORTED, _ended_by(visit))
            else:
                stored, central_s, answered = self._confirm(
                    visit, card, certificate, public_key, consents, identity_of(parsed)
                )
                answer_to_event_s = time.perf_counter() - answered  # the desk was told
                final = VisitState.OFFLINE_DONE if stored.offline else VisitState.DONE
                self._set(visit, final)
                outcome = VisitOutcome(visit.id, final, "", stored)
        except (CardRemoved, _Cancelled):
            # A card "removed" because pcscd went away keeps the reason the monitor gave.
            outcome = self._end(visit, VisitState.ABORTED, _ended_by(visit))
        except ReaderUnavailable as exc:
            log.warning("visit %s: the reader service went away: %s", visit.id, exc)
            outcome = self._end(visit, VisitState.ABORTED, EndReason.READER_RESTARTED)
        except _GraceOver:
            outcome = self._end(visit, VisitState.FAILED, EndReason.CARD_GRACE_OVER)
        except NotAJpkiCard:
            outcome = self._end(visit, VisitState.FAILED, EndReason.NOT_JPKI)
        except ForbiddenApdu:
            log.error("visit %s: a forbidden APDU was stopped by the guard", visit.id)
            outcome = self._end(visit, VisitState.FAILED, EndReason.FORBIDDEN)
        except BadCertificate:
            outcome = self._end(visit, VisitState.FAILED, EndReason.BAD_CERTIFICATE)
        except SignatureMismatch:
            outcome = self._end(visit, VisitState.FAILED, EndReason.SIGNATURE_MISMATCH)
        except CardUntrusted as exc:
            log.warning("visit %s: the card's certificate did not pass: %s", visit.id, exc.problem)
            outcome = self._end(
                visit, VisitState.FAILED, EndReason.CARD_UNTRUSTED, detail=exc.problem.value
            )
        except ReaderError as exc:
            log.warning("visit %s: card error: %s", visit.id, exc)
            outcome = self._end(visit, VisitState.FAILED, EndReason.CARD_ERROR)
        except ConfirmationFailed as exc:  # logged where it was mapped (device/confirm.py)
            outcome = self._end(visit, VisitState.FAILED, exc.reason)
        except StoreFullError as exc:
            log.error("visit %s: the answer could not be saved: %s", visit.id, exc)
            outcome = self._end(visit, VisitState.FAILED, EndReason.DISK_FULL)
        except Exception:
            # A bug must still end the visit on every screen, not leave the kiosk spinning.
            log.exception("visit %s: unexpected error", visit.id)
            outcome = self._end(visit, VisitState.FAILED, EndReason.INTERNAL)
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
        self,
        visit: ActiveVisit,
        card: JpkiSession,
        certificate: bytes,
        key: rsa.RSAPublicKey,
        consents: tuple[ConsentAnswer, ...],
        card_id: str,
    ) -> tuple[Confirmation, float, float]:
        """Sign the central's nonce (PIN visits), ask central, store the answer and tell the
        desk, all through the one confirmation path (device/confirm.py). With the central
        unreachable (known before, or learnt from the nonce or the answer) the visit is proven
        on the box and kept offline instead (device/offline.py).

        Returns the stored confirmation, the seconds spent waiting for central and the
        perf_counter() instant the answer (or the offline row) was told to the desk.
        """
        label = f"visit {visit.id}"
        file_id = secrets.token_hex(10)
        nonce = signature = b""
        central_s = 0.0
        if self._central_down() or self._by_numbers():  # no time spent waiting for it
            started = time.perf_counter()
            stored = self._offline_visit(
                visit, card, certificate, key, file_id, card_id, ask_now=self._by_numbers()
            )
            # By numbers, the central's answer was waited for inside: count it as the central's.
            central_s = 0.0 if stored.offline else time.perf_counter() - started
            return stored, central_s, time.perf_counter()
        if visit.method == "pin":
            self._set(visit, VisitState.SIGNING)
            t0 = time.perf_counter()
            try:
                nonce = self._confirmations.nonce(
                    label=label, run=lambda call: self._ask_central(visit, "nonce", call)
                )
            except ConfirmationFailed as failed:
                if not self._goes_offline(failed):
                    raise
                central_s = time.perf_counter() - t0
                stored = self._offline_visit(visit, card, certificate, key, file_id, card_id)
                return stored, central_s, time.perf_counter()
            central_s = time.perf_counter() - t0
            digest = payload_digest(nonce, self._code, file_id)
            signature = signed_and_checked(card, key, digest)
        # A visual check signs nothing: the card cannot sign without its PIN, and the staff
        # user who looked is on the visit record and in the audit log.
        self._set(visit, VisitState.CONFIRMING)
        request = QualificationRequest(
            medical_institution_code=self._code,
            confirmation_date=self._clock().astimezone(JST).strftime("%Y%m%d"),
            file_id=file_id,
            reference_classification="1",
            card=CardAuthentication(certificate, nonce, signature, visit.method),
            consents=consents,
        )
        t0 = time.perf_counter()
        try:
            answer = self._confirmations.ask(
                request,
                label=label,
                run=lambda call: self._ask_central(visit, "confirm", call),
            )
        except ConfirmationFailed as failed:
            if not self._goes_offline(failed):
                raise
            central_s += time.perf_counter() - t0
            # The card signed the central's nonce and it was checked: proven already.
            stored = self._offline_visit(
                visit, card, certificate, key, file_id, card_id, signed=True
            )
            return stored, central_s, time.perf_counter()
        answered = time.perf_counter()
        central_s += answered - t0
        if visit.cancelled.is_set():
            raise _Cancelled()  # the card left as the answer came: it is not this visit's
        stored = self._confirmations.keep(
            answer,
            file_id=file_id,
            kind="card",
            method=visit.method,
            actor=visit.staff or "reader",
            visit=self._record(visit, file_id),
            card=card_id,
            before_publish=lambda stored: self._answered(visit, stored),
        )
        return stored, central_s, answered

    def _by_numbers(self) -> bool:
        """Card visits are proven here and asked by numbers (the terminal's folders)."""
        return self._offline is not None and self._offline.possible and self._offline.by_numbers

    def _no_consent(self) -> bool:
        return self._central_down() or self._by_numbers()

    def _central_down(self) -> bool:
        """The central is known to be unreachable and the visit can go on without it."""
        return self._offline is not None and self._offline.possible and self._offline.central_down()

    def _goes_offline(self, failed: ConfirmationFailed) -> bool:
        """The central could not be reached, and the visit can go on without it."""
        return (
            self._offline is not None
            and self._offline.possible
            and failed.reason is EndReason.CENTRAL_UNAVAILABLE
        )

    def _offline_visit(
        self,
        visit: ActiveVisit,
        card: JpkiSession,
        certificate: bytes,
        key: rsa.RSAPublicKey,
        file_id: str,
        card_id: str,
        *,
        signed: bool = False,
        ask_now: bool = False,
    ) -> Confirmation:
        """Prove the card and its holder on the box and keep the visit offline (see
        device/offline.py): the certificate against the JPKI root and its validity, and for a
        PIN visit the card's signature of a challenge made here, unless it `signed` the
        central's already. Consent answers given before the central was found unreachable
        are dropped: nothing is registered as consent offline."""
        assert self._offline is not None
        self._offline.check_card(certificate)  # CardUntrusted when it does not pass
        if visit.method == "pin" and not signed:
            self._set(visit, VisitState.SIGNING)
            sign_challenge(card, key, self._code, file_id)
        if visit.cancelled.is_set():
            raise _Cancelled()
        return self._offline.keep(
            file_id=file_id,
            visit=self._record(visit, file_id, EndReason.CENTRAL_UNAVAILABLE),
            card=card_id,
            ask_now=ask_now,
            before_publish=lambda stored: (
                self._set(visit, VisitState.OFFLINE_DONE)
                if stored.offline
                else self._answered(visit, stored)
            ),
        )

    def _answered(self, visit: ActiveVisit, stored: Confirmation) -> None:
        """The answer is stored: what it says goes to the screens before the visit moves on
        (the kiosk says "done" only for a valid one)."""
        self._bus.publish(VisitAnswered(visit.id, stored.badge))
        self._set(visit, VisitState.STORED)

    def _record(self, visit: ActiveVisit, file_id: str, reason: str = "") -> VisitRecord:
        return VisitRecord(
            visit.id,
            visit.started_at,
            self._clock(),
            visit.reader,
            visit.method,
            "done",
            reason,
            file_id=file_id,
            staff=visit.staff,
        )

    def _ask_central(self, visit: ActiveVisit, what: str, call: Callable[[], _T]) -> _T:
        """Run one central call on a thread of its own and wait for it, or for the visit to be
        cancelled (card removed, reader service gone, appliance stopping), whichever is first.

        The call keeps its own deadline; an answer that comes after the visit ended is
        dropped here and never reaches the store or the screens: the visit ended aborted,
        and the patient who placed the next card must not see it.
        """
        outcome: list[tuple[bool, object]] = []
        finished = threading.Event()

        def run() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as exc:  # handed to the visit thread as it is
                outcome.append((False, exc))
            finally:
                finished.set()
            if visit.cancelled.is_set():
                log.info(
                    "visit %s: the central's %s came after the visit ended; dropped", visit.id, what
                )

        threading.Thread(target=run, name=f"visit-central-{what}", daemon=True).start()
        while not finished.wait(CANCEL_POLL_S):
            if visit.cancelled.is_set():
                raise _Cancelled()
        ok, value = outcome[0]
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]

    def _holder_confirmed(self, visit: ActiveVisit, card: JpkiSession) -> bool:
        """PIN verified on the card, or reception confirmed visually (visit.method says which).
        False when the visit must end; the reason is on visit.end_reason."""
        visit.method = "pin"
        tries = card.pin_tries_left()
        wrong = False
        while True:
            visit.tries_left = tries
            if tries <= 0:
                return self._wait_for_staff(visit, VisitState.PIN_BLOCKED)
            self._set(visit, VisitState.AWAITING_PIN)
            self._bus.publish(PinRequested(visit.id, tries, wrong))
            answer = self._wait(visit, "pin", self._pin_timeout_s)
            if answer is None:
                return False
            if isinstance(answer, VisualCheck):
                return self._visual(visit, answer)
            if isinstance(answer, StaffCalled):
                return self._wait_for_staff(visit, VisitState.AWAITING_STAFF)
            assert isinstance(answer, str)  # STEP_INPUTS["pin"]
            try:
                card.verify_pin(answer)
                return True
            except PinFormatError:
                wrong = True  # a typo never costs a card try; ask again with the same count
            except WrongPin as exc:
                tries, wrong = exc.tries_left, True
            except CardPinBlocked:
                return self._wait_for_staff(visit, VisitState.PIN_BLOCKED)

    def _wait_for_staff(self, visit: ActiveVisit, state: VisitState) -> bool:
        """Locked PIN or a call for help: keep the card and wait for reception's visual check."""
        self._set(visit, state)
        if state is VisitState.PIN_BLOCKED:
            self._bus.publish(PinBlocked(visit.id))
        else:
            self._bus.publish(StaffHelpRequested(visit.id))
        answer = self._wait(visit, "staff", self._staff_timeout_s)
        if isinstance(answer, VisualCheck):
            return self._visual(visit, answer)
        if visit.end_reason == EndReason.TIMEOUT:
            blocked = state is VisitState.PIN_BLOCKED
            visit.end_reason = EndReason.PIN_BLOCKED if blocked else EndReason.STAFF_TIMEOUT
        return False

    def _visual(self, visit: ActiveVisit, check: VisualCheck) -> bool:
        visit.method, visit.staff = "visual", check.staff
        self._bus.publish(VisualCheckChosen(visit.id, check.staff))
        return True

    def _ask_consent(self, visit: ActiveVisit) -> tuple[ConsentAnswer, ...] | None:
        """The patient's answers for the kinds the clinic asks; None when the visit must end."""
        if not self._consent_kinds:
            return ()
        visit.consent_kinds = self._consent_kinds
        self._set(visit, VisitState.AWAITING_CONSENT)
        self._bus.publish(ConsentRequested(visit.id, self._consent_kinds))
        answer = self._wait(visit, "consent", self._consent_timeout_s)
        if not isinstance(answer, ConsentChoice):
            return None
        at = self._clock().astimezone(JST).strftime("%Y%m%d%H%M%S")
        given = dict(answer.answers)
        # Kinds the page did not answer count as "no": consent is opt-in.
        return tuple(ConsentAnswer(k, given.get(k, False), at) for k in self._consent_kinds)

    def _wait(self, visit: ActiveVisit, step: str, timeout: float) -> VisitInput | None:
        """Wait for people; the time is theirs, not the appliance's. Sets end_reason on None."""
        waited_from = time.perf_counter()
        answer = self._inputs.wait(visit, step, timeout)
        visit.pin_wait_s += time.perf_counter() - waited_from
        if answer is None and not visit.end_reason:  # a cancel() already said why
            cancelled = visit.cancelled.is_set()
            visit.end_reason = EndReason.CARD_REMOVED if cancelled else EndReason.TIMEOUT
        return answer

    def _set(self, visit: ActiveVisit, state: VisitState) -> None:
        visit.state = state
        self._bus.publish(VisitStateChanged(visit.id, state.value))

    def _end(
        self, visit: ActiveVisit, state: VisitState, reason: str, *, detail: str = ""
    ) -> VisitOutcome:
        visit.state = state
        try:
            self._store.record_visit(
                VisitRecord(
                    visit.id,
                    visit.started_at,
                    self._clock(),
                    visit.reader,
                    visit.method,
                    state.value,
                    reason,
                    staff=visit.staff,
                )
            )
        except Exception:
            # The screens are told all the same; the visit row held no personal data.
            log.exception("visit %s: could not record its end", visit.id)
        if state is VisitState.ABORTED:
            self._bus.publish(VisitAborted(visit.id, reason))
        else:
            self._bus.publish(VisitFailed(visit.id, reason, detail))
        self._bus.publish(VisitStateChanged(visit.id, state.value))
        return VisitOutcome(visit.id, state, reason)


class _GraceOver(Exception):
    """The card's certificate is past its grace: the visit ends before the PIN."""


class _Cancelled(Exception):
    """The visit was cancelled while it waited for the central; visit.end_reason says why."""


def _ended_by(visit: ActiveVisit) -> EndReason:
    return EndReason(visit.end_reason) if visit.end_reason else EndReason.CARD_REMOVED
