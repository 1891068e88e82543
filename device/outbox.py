"""The re-check queue (outbox): numbers checks the central could not answer because it was
unavailable are queued (persisted in the store) and asked again after recovery, through the
one confirmation path (device.confirm.Confirmations), so a re-check's answer is stored, audited
and published like any other.

`drain()` asks the due items oldest first, at most `rate_per_s` a second. The central being
unavailable (or not trusted) again ends the round at once: the item waits a backoff that
doubles per attempt, up to a maximum. A refusal or an answer that cannot be read ends the item
with that reason (asking again would get the same). An answer that differs from the one
charged when the request was queued (前回確認: verdict, insurer, co-payment ratio) opens an
alert that stays until a person acknowledges it.

Killed between storing an answer and marking its item: the store holds at most one answer per
file identifier, so the next round finds the answer already stored under the item's file
identifier and marks the item without asking again.

An item still unanswered `give_up_after_h` hours after it was queued is not asked again: each
round first ends such items (GAVE_UP), whether or not the central is reachable, and opens an
alert that stays until a person acknowledges it (the desk says 再照会できませんでした: 手動で
確認してください). Asking forever would hide a patient nobody will ever confirm.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from device.confirm import ConfirmationFailed, Confirmations
from sync.clock import utc_now
from sync.codes import ratio_percent, verdict
from sync.store import OutboxAlert, Store
from sync.transport import CentralFault
from sync.xmlmsg import QualificationRequest, QualificationResult

log = logging.getLogger(__name__)

# Faults after which the central is asked again later; any other ends the item.
RETRY_FAULTS = frozenset({CentralFault.UNAVAILABLE, CentralFault.UNTRUSTED})
DRAIN_ACTOR = "outbox"
GAVE_UP = "gave_up"  # the outcome of an item that got no answer within give_up_after_h
DEFAULT_GIVE_UP_H = 72.0


class AnswerChange(StrEnum):
    """How a re-check's answer differs from the answer charged (the pages word it)."""

    VERDICT = "verdict"  # valid then, invalid / not found / … now (or the other way)
    INSURER = "insurer"  # another insurer number
    RATIO = "ratio"  # another co-payment ratio


def answer_changes(earlier: QualificationResult, now: QualificationResult) -> tuple[str, ...]:
    """What differs between the answer charged and the re-check's, by the sync.codes rules."""
    changes: list[str] = []
    if verdict(earlier) is not verdict(now):
        changes.append(AnswerChange.VERDICT)
    first = earlier.results[0] if earlier.results else None
    second = now.results[0] if now.results else None
    if first is not None and second is not None:
        if first.insurer_number.strip().lstrip("0") != second.insurer_number.strip().lstrip("0"):
            changes.append(AnswerChange.INSURER)
        if ratio_percent(first.contribution_ratio) != ratio_percent(second.contribution_ratio):
            changes.append(AnswerChange.RATIO)
    return tuple(changes)


@dataclass(frozen=True)
class DrainReport:
    asked: int = 0  # requests sent to the central
    answered: int = 0  # items answered (stored now, or found stored)
    ended: int = 0  # items ended by a refusal or an unreadable answer
    alerts: int = 0  # changed answers found
    stopped: bool = False  # the round stopped: the central was unavailable again
    gave_up: int = 0  # items ended unanswered after give_up_after_h (each with an alert)


class Outbox:
    """`confirmations` is the one path the re-checks are asked and stored through; `store`
    keeps the queue; an item unanswered `give_up_after_h` hours after it was queued is given
    up. `sleep` and `clock` are injected (tests pass fakes)."""

    def __init__(
        self,
        *,
        store: Store,
        confirmations: Confirmations,
        rate_per_s: float = 5.0,
        backoff_base_s: float = 30.0,
        backoff_max_s: float = 1800.0,
        round_limit: int = 300,
        give_up_after_h: float = DEFAULT_GIVE_UP_H,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if give_up_after_h <= 0:
            raise ValueError("give_up_after_h must be positive")
        self._store = store
        self._confirmations = confirmations
        self._interval = 1.0 / rate_per_s
        self._base = backoff_base_s
        self._max = max(backoff_base_s, backoff_max_s)
        self._round_limit = round_limit
        self._give_up = timedelta(hours=give_up_after_h)
        self._clock = clock
        self._sleep = sleep

    def enqueue(
        self,
        request: QualificationRequest,
        kind: str,
        method: str,
        actor: str,
        visit_id: str | None = None,
        charged: int | None = None,
        *,
        card_from: int | None = None,
        reason: str = "",
    ) -> bool:
        """Queue a request the central did not answer (True); False when it is queued already.
        `charged`: the id of the confirmation shown as 前回確認 when it was asked, if any.
        `card_from`: a card visit kept offline the answer is to be linked to (its card)."""
        queued = self._store.enqueue_recheck(
            request,
            kind=kind,
            method=method,
            actor=actor,
            visit_id=visit_id,
            charged_id=charged,
            card_from=card_from,
            reason=reason,
        )
        if queued:
            log.info("%s check %s queued for a re-check", kind, request.file_id)
        return queued

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1, 2, …)."""
        return timedelta(seconds=min(self._max, self._base * 2 ** min(attempts - 1, 30)))

    def drain(self) -> DrainReport:
        """One round over the due items, oldest first (see the module's doc)."""
        asked = answered = ended = alerts = 0
        stopped = False
        last_ask: float | None = None
        gave_up, recovered = self._give_up_old()
        answered += recovered
        for item in self._store.outbox_due(self._clock(), self._round_limit):
            stored_id = self._store.confirmation_id_for(item.file_id)
            if stored_id is not None:  # killed after the answer was stored: only mark it
                alerts += self._mark(item.id, item.charged_id, stored_id, recovered=True)
                answered += 1
                continue
            request = item.request
            if request is None:  # cannot happen for a queued item; never ask with nothing
                continue
            if last_ask is not None:
                wait = self._interval - (time.monotonic() - last_ask)
                if wait > 0:
                    self._sleep(wait)
            last_ask = time.monotonic()
            asked += 1
            try:
                answer = self._confirmations.ask(request, label=f"re-check {item.file_id}")
            except ConfirmationFailed as failed:
                reason = failed.reason.value
                if failed.cause.fault in RETRY_FAULTS:
                    next_at = self._clock() + self.backoff(item.attempts + 1)
                    self._store.outbox_retry(
                        item.id, next_at=next_at, reason=reason, actor=DRAIN_ACTOR
                    )
                    stopped = True
                    break
                self._store.outbox_end(item.id, reason=reason, actor=DRAIN_ACTOR)
                ended += 1
                continue
            try:
                stored = self._confirmations.keep(
                    answer,
                    file_id=item.file_id,
                    kind=item.kind,
                    method=item.method,
                    actor=item.actor,
                    card_from=item.card_from,
                )
                answer_id = stored.id
            except Exception:
                # Stored by another round meanwhile (the file identifier is unique): mark it.
                found = self._store.confirmation_id_for(item.file_id)
                if found is None:
                    raise
                answer_id = found
            alerts += self._mark(item.id, item.charged_id, answer_id, recovered=False)
            answered += 1
        if asked or answered or ended or gave_up:
            log.info(
                "outbox: %d asked, %d answered, %d ended, %d changed, %d given up%s",
                asked,
                answered,
                ended,
                alerts,
                gave_up,
                " (stopped: central unavailable)" if stopped else "",
            )
        return DrainReport(asked, answered, ended, alerts, stopped, gave_up)

    def _give_up_old(self) -> tuple[int, int]:
        """End the items queued more than give_up_after_h ago, each with an alert; an item whose
        answer was stored before a kill is marked answered instead. (given up, answered)"""
        gave_up = answered = 0
        for item in self._store.outbox_queued_by(self._clock() - self._give_up, self._round_limit):
            stored_id = self._store.confirmation_id_for(item.file_id)
            if stored_id is not None:
                self._mark(item.id, item.charged_id, stored_id, recovered=True)
                answered += 1
                continue
            if self._store.outbox_give_up(item.id, reason=GAVE_UP, actor=DRAIN_ACTOR) is not None:
                log.warning(
                    "re-check %d given up after %d attempts: a person must check it",
                    item.id,
                    item.attempts,
                )
                gave_up += 1
        return gave_up, answered

    def _mark(
        self, outbox_id: int, charged_id: int | None, answer_id: int, *, recovered: bool
    ) -> int:
        changes: tuple[str, ...] = ()
        if charged_id is not None:
            earlier = self._store.confirmation(charged_id)
            answer = self._store.confirmation(answer_id)
            if earlier is not None and answer is not None:
                changes = answer_changes(earlier.result, answer.result)
        alert = self._store.outbox_answered(
            outbox_id,
            answer_id=answer_id,
            changes=changes,
            earlier_id=charged_id,
            actor=DRAIN_ACTOR,
            recovered=recovered,
        )
        return 1 if alert is not None else 0

    # -- alerts, for the desk -------------------------------------------------------------
    def open_alerts(self) -> list[OutboxAlert]:
        return self._store.outbox_alerts(open_only=True)

    def acknowledge(self, alert_id: int, *, actor: str) -> bool:
        """False when there is no open alert by that id (acknowledged already, or none)."""
        return self._store.acknowledge_outbox_alert(alert_id, actor=actor)
