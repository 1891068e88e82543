"""What a card visit does when the central cannot be reached (DOMAIN §9).

The card and its holder are still proven on the box: the certificate is checked against the
configured JPKI root and its validity (device/cardtrust.py), the PIN is verified on the card,
and the card signs a challenge made here, checked against the certificate (device/flow.py does
the card's part). The visit is then kept as 「本人確認済・オンライン未確認」: a row of its own
beside the card's last online answer, which the desk shows as 前回確認 (its date and age, and
the ratio to charge), never as today's answer. Nothing is registered as consent. The numbers of
that earlier answer are queued for a re-check (device/outbox.py) in the same transaction, so
the qualification is asked again by itself after recovery and a changed answer raises an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from cryptography import x509

from device.cardtrust import CardTrust, CardTrustProblem, CardUntrusted
from device.checks import ConfirmationNotFound, InputRejected, ManualChecks
from device.confirm import ConfirmationFailed, Confirmations
from sync.store import Confirmation, Store, VisitRecord, card_identity
from sync.transport import CentralFault

log = logging.getLogger(__name__)


class OfflineVisits:
    """`central_down` says whether the central is known to be unreachable now (the circuit is
    open: device/reachability.py); `checks` builds the re-check of an earlier answer."""

    def __init__(
        self,
        *,
        card_trust: CardTrust,
        confirmations: Confirmations,
        store: Store,
        checks: ManualChecks,
        central_down: Callable[[], bool],
        by_numbers: bool = False,
    ) -> None:
        """`by_numbers`: the central is reached through the official terminal's folders,
        which have no card-signature path (central_mode = folders): every card visit is
        proven here and asked by its 前回確認's numbers at once."""
        self._card_trust = card_trust
        self._confirmations = confirmations
        self._store = store
        self._checks = checks
        self._central_down = central_down
        self.by_numbers = by_numbers

    def central_down(self) -> bool:
        """True while the central is known to be unreachable: a visit does not wait for it
        and asks no consent (consent cannot be registered offline)."""
        return self._central_down()

    @property
    def possible(self) -> bool:
        """False when no JPKI root is configured: a card cannot be proven on the box."""
        return self._card_trust.configured

    def check_card(self, der: bytes) -> x509.Certificate:
        """The card's certificate, checked against the JPKI root and its validity by this
        box's clock; CardUntrusted when it does not pass (NO_ROOT when none is configured)."""
        if not self._card_trust.configured:
            raise CardUntrusted(CardTrustProblem.NO_ROOT)
        return self._card_trust.check(der)

    def keep(
        self,
        *,
        file_id: str,
        visit: VisitRecord,
        card: str,
        ask_now: bool = False,
        before_publish: Callable[[Confirmation], None] | None = None,
    ) -> Confirmation:
        """Store the proven visit with its 前回確認 and queue that answer's re-check; the
        desk is told as for an answer. `ask_now` (folders mode): ask by those numbers first,
        and keep the answer as this card visit's, online; only when there is no answer (no
        numbers known, the central unavailable or refusing) is the visit kept offline."""
        earlier = self._store.last_card_answer(card)
        recheck = None
        if earlier is not None:
            try:
                recheck = self._checks.recheck_request(earlier.id)
            except (InputRejected, ConfirmationNotFound):
                # An earlier answer that named no numbers (not found, refused): nothing to ask
                # with; the desk row says what to do instead.
                log.info("visit %s: its earlier answer has no numbers to re-check", visit.id)
        if ask_now and recheck is not None:
            try:
                answer = self._confirmations.ask(recheck, label=f"visit {visit.id} by numbers")
            except ConfirmationFailed as failed:
                if failed.cause.fault is not CentralFault.UNAVAILABLE:
                    recheck = None  # asking again later would get the same
            else:
                return self._confirmations.keep(
                    answer,
                    file_id=recheck.file_id,
                    kind="card",
                    method=visit.method,
                    actor=visit.staff or "reader",
                    visit=replace(visit, file_id=recheck.file_id, reason=""),
                    card=card,
                    before_publish=before_publish,
                )
        stored = self._confirmations.keep_offline(
            file_id=file_id,
            visit=visit,
            card=card,
            earlier=earlier,
            recheck=recheck,
            actor=visit.staff or "reader",
            before_publish=before_publish,
        )
        log.info(
            "visit %s: kept offline as confirmation %d (earlier answer: %s, re-check queued: %s)",
            visit.id,
            stored.id,
            earlier.id if earlier is not None else "none",
            "yes" if recheck is not None else "no",
        )
        return stored


def identity_of(certificate: x509.Certificate) -> str:
    """The card's identity for lookups (issuer and serial number; stored only hashed)."""
    return card_identity(certificate.issuer.public_bytes(), certificate.serial_number)
