"""The one way from a built qualification request to a stored, published answer.

Every answer — a card visit (PIN or 目視), a numbers check typed at reception, 再照会 — goes
through Confirmations: it asks the central through whichever transport the appliance was
built with (sync.transport.QualificationTransport), turns the central's failures into reasons,
saves the answer with its audit entry in one transaction, and tells the desk. Nothing else
asks the central for qualification answers.

A failure leaves in one place, `Confirmations._failed`: the request that got no answer, why,
and the error (ConfirmationFailed). A caller that asked for a numbers check hands an
UNAVAILABLE one to the re-check queue (device/outbox.py, ManualChecks.check), which asks again
after recovery through this same path.
The answer is parsed once, by the transport; the store is handed that parsed result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from device.events import ConfirmationStored, EventBus, PrecheckStored
from device.export import FaceExport
from device.reasons import EndReason
from sync.bulkmsg import (
    AidUpload,
    BulkAnswer,
    BulkQuery,
    BulkReceipt,
    BulkUnit,
    BulkUpload,
    ReferenceAnswer,
    ReferenceRequest,
)
from sync.precheck import PrecheckClass
from sync.store import BatchEnd, Confirmation, PrecheckRecord, Store, VisitRecord
from sync.transport import (
    CentralAnswer,
    CentralError,
    CentralFault,
    CentralUntrusted,
    QualificationTransport,
)
from sync.xmlmsg import QualificationRequest, QualificationResult

if TYPE_CHECKING:
    from sync.store import AppointmentRow

log = logging.getLogger(__name__)

# The end reason of each kind of central failure.
CENTRAL_REASONS: dict[CentralFault, EndReason] = {
    CentralFault.UNAVAILABLE: EndReason.CENTRAL_UNAVAILABLE,
    CentralFault.REFUSED: EndReason.CENTRAL_REFUSED,
    CentralFault.UNREADABLE: EndReason.CENTRAL_UNREADABLE,
    CentralFault.UNTRUSTED: EndReason.CENTRAL_UNTRUSTED,
}

_T = TypeVar("_T")
# A bulk or registration answer: each carries the central's ProcessExecutionTime.
_Stamped = TypeVar("_Stamped", BulkReceipt, BulkAnswer, ReferenceAnswer)


def run_here(call: Callable[[], _T]) -> _T:
    """Run a central call on the caller's thread (a visit runs it on one it can abandon)."""
    return call()


class ConfirmationFailed(Exception):
    """The central gave no usable answer; `reason` says which way (an EndReason), `request` is
    the request that got none (None for a nonce), `cause` the transport's error."""

    def __init__(
        self, reason: EndReason, cause: CentralError, request: QualificationRequest | None
    ) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.cause = cause
        self.request = request


class Confirmations:
    """Ask (`nonce`, `ask`), then keep (`keep`); `confirm` does both for callers that need
    nothing in between. A card visit needs its own steps in between (the card signs the
    nonce; an answer that comes after the card left is dropped), so it calls the parts."""

    def __init__(
        self,
        *,
        transport: QualificationTransport,
        store: Store,
        bus: EventBus,
        export: FaceExport | None = None,
        on_answer: Callable[[CentralAnswer], None] | None = None,
    ) -> None:
        """`export`: the receipt computer's face files, queued with each card visit's answer
        (None: nothing is exported — tools that store nothing for a receipt computer).
        `on_answer`: told of every answer as it arrives (the clock check learns the central's
        time from its stamp: device.clocktrust.ClockTrust.observe_answer)."""
        self._transport = transport
        self._store = store
        self._bus = bus
        self._export = export
        self._on_answer = on_answer

    def nonce(self, *, label: str, run: Callable[[Callable[[], bytes]], bytes] = run_here) -> bytes:
        """A fresh challenge for a card to sign; ConfirmationFailed when there is none.
        `label` names the caller in the log ("visit 1a2b"); `run` runs the call (see ask)."""
        try:
            return run(self._transport.nonce)
        except CentralError as exc:
            raise self._failed(exc, None, label) from exc

    def ask(
        self,
        request: QualificationRequest,
        *,
        label: str,
        run: Callable[[Callable[[], CentralAnswer]], CentralAnswer] = run_here,
    ) -> CentralAnswer:
        """The central's answer to `request`; ConfirmationFailed when there is none.

        `run` is handed the call and runs it: a card visit runs it on a thread it can stop
        waiting for when the card leaves (whatever `run` raises of its own passes through)."""
        try:
            answer = run(lambda: self._transport.confirm(request))
        except CentralError as exc:
            raise self._failed(exc, request, label) from exc
        if self._on_answer is not None:
            self._on_answer(answer)
        return answer

    def keep(
        self,
        answer: CentralAnswer,
        *,
        file_id: str,
        kind: str,
        method: str,
        actor: str,
        visit: VisitRecord | None = None,
        card: str = "",
        face_file: tuple[str, str] | None = None,
        card_from: int | None = None,
        before_publish: Callable[[Confirmation], None] | None = None,
    ) -> Confirmation:
        """Save the answer (with the visit it ended, and its audit entry, in one transaction),
        then tell the desk. `card`: the card's identity on a card visit (sync.store
        card_identity), so an outage visit of the same card finds this answer.
        `before_publish` runs once it is saved and before the desk hears of it (a visit moves
        to "stored" first). StoreFullError when it could not be saved: nothing is stored and
        nobody is told."""
        stored = self._store.save_confirmation(
            file_id=file_id,
            raw_result=answer.raw,
            result=answer.result,
            kind=kind,
            method=method,
            actor=actor,
            visit=visit,
            card=card,
            export=self._export.name_for(kind, method, file_id, answer.result.process_time)
            if self._export is not None
            else "",
            face_file=face_file,
            card_from=card_from,
        )
        return self._published(stored, before_publish)

    def keep_offline(
        self,
        *,
        file_id: str,
        visit: VisitRecord,
        card: str,
        earlier: Confirmation | None,
        recheck: QualificationRequest | None,
        actor: str,
        before_publish: Callable[[Confirmation], None] | None = None,
    ) -> Confirmation:
        """A card visit the central could not answer (it was unavailable) whose card and holder
        were proven on the box: saved with `earlier` (the card's last online answer, shown as
        前回確認) and `recheck` queued in the same transaction, then the desk is told, as
        `keep` does for an answer."""
        stored = self._store.save_offline_visit(
            file_id=file_id,
            visit=visit,
            card=card,
            earlier_id=earlier.id if earlier is not None else None,
            actor=actor,
            recheck=recheck,
            reason=EndReason.CENTRAL_UNAVAILABLE.value,
        )
        return self._published(stored, before_publish)

    def _published(
        self, stored: Confirmation, before_publish: Callable[[Confirmation], None] | None
    ) -> Confirmation:
        if before_publish is not None:
            before_publish(stored)
        self._bus.publish(ConfirmationStored(stored.id, stored.visit_id))
        return stored

    def confirm(
        self,
        request: QualificationRequest,
        *,
        kind: str,
        method: str,
        actor: str,
        label: str,
        card_from: int | None = None,
    ) -> Confirmation:
        """Ask and keep: the stored answer, or ConfirmationFailed (nothing stored)."""
        answer = self.ask(request, label=label)
        return self.keep(
            answer,
            file_id=request.file_id,
            kind=kind,
            method=method,
            actor=actor,
            card_from=card_from,
        )

    # -- the bulk inquiry (一括照会) and 照会番号 registration: same transport, same failures --
    def bulk_upload(self, request: BulkUpload, *, label: str) -> BulkReceipt:
        """Hand a batch to the central (OQSmuquc01): its reception number, or
        ConfirmationFailed. The same file id uploaded again gets the same number."""
        return self._bulk_call(lambda: self._transport.bulk_upload(request), label)

    def bulk_result(self, query: BulkQuery, *, label: str) -> BulkAnswer:
        """Ask for a batch's answers (OQSmuquc02): `.ready` False means ask again later;
        ConfirmationFailed when there is no answer."""
        return self._bulk_call(lambda: self._transport.bulk_result(query), label)

    def aid_upload(self, request: AidUpload, *, label: str) -> BulkReceipt:
        """Hand the month's 医療扶助 recipients to the central (OQSmutic01): a reception
        number, or ConfirmationFailed; as bulk_upload."""
        return self._bulk_call(lambda: self._transport.aid_upload(request), label)

    def aid_result(self, query: BulkQuery, *, label: str) -> BulkAnswer:
        """Ask for their 医療券 (OQSmutic02): as bulk_result."""
        return self._bulk_call(lambda: self._transport.aid_result(query), label)

    def register_references(self, request: ReferenceRequest, *, label: str) -> ReferenceAnswer:
        """Register patient numbers as 照会番号 (OQSsiimm01 for one, OQSmuimm01 for many): one
        outcome per registration, or ConfirmationFailed."""
        return self._bulk_call(lambda: self._transport.register_references(request), label)

    def _bulk_call(self, call: Callable[[], _Stamped], label: str) -> _Stamped:
        """One bulk or registration call: a failure passes `_failed` once (ConfirmationFailed);
        an answer's ProcessExecutionTime feeds the clock check, as `ask` does for one."""
        started = time.monotonic()
        try:
            answer = call()
        except CentralError as exc:
            raise self._failed(exc, None, label) from exc
        self._observe(answer.process_time, started)
        return answer

    def keep_precheck(
        self,
        appointment: AppointmentRow,
        unit: BulkUnit | None,
        klass: PrecheckClass,
        *,
        checked_at: datetime,
        actor: str,
    ) -> None:
        """Store an appointment's pre-check (the unit's single-result XML, encrypted, with its
        audit entry: Store.record_prechecks), then tell the desk. `unit` None: the central
        answered nothing for it (FAILED), nothing raw is kept."""
        self.keep_prechecks([(appointment, unit, klass)], checked_at=checked_at, actor=actor)

    def keep_prechecks(
        self,
        prechecks: Sequence[tuple[AppointmentRow, BulkUnit | None, PrecheckClass]],
        *,
        checked_at: datetime,
        actor: str,
        batch_end: BatchEnd | None = None,
    ) -> None:
        """`keep_precheck` for many, in one transaction with the end of their bulk batch
        (`batch_end`); the desk is told of each once all are saved. StoreFullError when they
        could not be saved: nothing is stored and nobody is told."""
        self._store.record_prechecks(
            [
                PrecheckRecord(a.id, klass.value, unit.raw if unit is not None else b"")
                for a, unit, klass in prechecks
            ],
            checked_at=checked_at,
            actor=actor,
            batch_end=batch_end,
        )
        for appointment, _, klass in prechecks:
            self._bus.publish(PrecheckStored(appointment.id, klass.value))

    def _observe(self, process_time: str, started: float) -> None:
        """Tell the clock check the central's stamp of a bulk answer, as `ask` does for one."""
        if self._on_answer is None or not process_time:
            return
        # Only the central's time is read by the clock check: the rest of the stamp is empty.
        stamp = QualificationResult(process_time, "", "", "", "", "")
        self._on_answer(CentralAnswer(stamp, b"", time.monotonic() - started))

    def _failed(
        self, exc: CentralError, request: QualificationRequest | None, label: str
    ) -> ConfirmationFailed:
        """Every request the central did not answer passes here, once; the ConfirmationFailed
        carries the request and the fault, which is what the re-check queue takes (the caller
        queues it: device/outbox.py)."""
        # Certificates that do not match are the administrator's to fix, not a hiccup.
        level = logging.ERROR if isinstance(exc, CentralUntrusted) else logging.WARNING
        log.log(level, "%s: %s", label, exc)
        return ConfirmationFailed(CENTRAL_REASONS[exc.fault], exc, request)
