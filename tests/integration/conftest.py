"""The appliance's card path wired to the real pcscd + vpcd and the simulated central over mTLS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from device.cardtrust import CardTrust
from device.checks import ManualChecks
from device.confirm import Confirmations
from device.events import ConsentRequested, Event, EventBus, PinRequested, Subscription
from device.flow import VisitFlow
from device.inputs import ConsentChoice, VisitInputs, VisualCheck
from device.offline import OfflineVisits
from device.outbox import Outbox
from device.reachability import CentralReachability
from reader.pcsc import PcscReaders, ReaderMonitor
from sim.card import VirtualCard
from sync.breaker import CircuitBreaker
from sync.central import CentralClient, tls_context
from sync.clock import utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

APPLIANCE_READER = "Virtual PCD 00 00"
APPLIANCE_PORT = 35963
MEDICAL_INSTITUTION_CODE = "1312345670"


@pytest.fixture(scope="session", autouse=True)
def no_forbidden_card_traffic(card_audit_path: Path) -> Iterator[None]:
    """After the whole run: no emulated card ever saw a forbidden SELECT or a read of EF 0001."""
    yield
    if not card_audit_path.exists():
        return
    bad = [
        line
        for line in card_audit_path.read_text().splitlines()
        if json.loads(line).get("forbidden")
    ]
    assert not bad, f"forbidden card traffic during the suite: {bad[:5]}"


def central_client(pki: Any, url: str, **kwargs: Any) -> CentralClient:
    return CentralClient(
        url,
        verify=tls_context(pki.central_ca_cert, pki.device_cert, pki.device_key),
        **kwargs,
    )


class ShiftedMonotonic:
    """The breaker's clock: moved past its open interval instead of sleeping through it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@dataclass
class Desk:
    """One appliance (without web) on the real stack, plus helpers to drive a visit."""

    flow: VisitFlow
    store: Store
    bus: EventBus
    inputs: VisitInputs
    events: Subscription
    pki: Any
    state_dir: Path
    audit_path: Path
    readers: PcscReaders
    checks: ManualChecks | None = None
    outbox: Outbox | None = None
    reach: CentralReachability | None = None
    breaker_clock: ShiftedMonotonic | None = None
    cards: list[VirtualCard] = field(default_factory=list)

    def place(self, person_id: str, **kwargs: Any) -> VirtualCard:
        card = VirtualCard(
            person_id,
            self.pki,
            self.state_dir,
            port=APPLIANCE_PORT,
            audit_path=self.audit_path,
            **kwargs,
        )
        card.insert()
        self.cards.append(card)
        return card

    def remove(self, card: VirtualCard) -> None:
        card.remove()
        self.cards.remove(card)

    def wait_empty(self) -> None:
        """Before placing another card: pcscd must have seen this one leave (DOMAIN.md §6)."""
        assert self.readers.wait_until_empty(APPLIANCE_READER), "the card did not leave"

    def expect(
        self, kind: type, timeout: float = 10.0, where: Callable[[Any], bool] = lambda e: True
    ) -> Any:
        deadline = time.monotonic() + timeout
        seen: list[Event] = []
        while (remaining := deadline - time.monotonic()) > 0:
            event = self.events.get(remaining)
            if event is None:
                break
            seen.append(event)
            if isinstance(event, kind) and where(event):
                return event
        raise AssertionError(f"no {kind.__name__} within {timeout}s; saw {seen}")

    def finish(self, timeout: float = 15.0) -> Any:
        assert self.flow.wait_idle(timeout), "visit did not end"
        return self.flow.last_outcome

    def visit_agreeing(self, person_id: str, given: str | VisualCheck) -> tuple[Any, list[Event]]:
        """One card on the reader, answered with `given` (the PIN at the kiosk, or reception's
        目視確認), every consent asked agreed to, then the card taken away: the outcome and the
        events seen."""
        self.place(person_id)
        request = self.expect(PinRequested)
        assert self.inputs.submit(request.visit_id, given)
        seen: list[Event] = [request]
        while True:
            event = self.events.get(0.1)
            if event is None:
                if self.flow.wait_idle(0):
                    break
                continue
            seen.append(event)
            if isinstance(event, ConsentRequested):
                answers = ConsentChoice(tuple((k, True) for k in event.kinds))
                self.inputs.submit(event.visit_id, answers)
        outcome = self.finish()
        self.remove(self.cards[-1])
        self.wait_empty()
        time.sleep(0.5)  # pcscd notices a new card reliably only a little after the last left
        return outcome, seen


@pytest.fixture
def desk_factory(
    pcscd: list[str],
    sim_pki: Any,
    central_server: Any,
    card_audit_path: Path,
    tmp_path: Path,
) -> Iterator[Callable[..., Desk]]:
    made: list[tuple[Desk, ReaderMonitor, PcscReaders, CentralClient]] = []

    def make(
        central_url: str | None = None,
        pin_timeout_s: float = 20.0,
        consent_kinds: tuple[str, ...] = (),
        consent_timeout_s: float = 20.0,
        staff_timeout_s: float = 20.0,
        offline: bool = False,
        clock: Callable[[], datetime] = utc_now,
        **central_kwargs: Any,
    ) -> Desk:
        """`offline`: as the appliance is built, with the breaker in front of the central
        and visits going on offline while it is unreachable (the card checked against the
        test PKI's JPKI root); without it a visit fails when the central does. `clock`: the
        wall clock of the store, the re-check queue, the desk's checks, the visits and the card
        check (the appliance's trusted clock), for tests that move time."""
        store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
        client = central_client(sim_pki, central_url or central_server.url, **central_kwargs)
        bus = EventBus()
        inputs = VisitInputs()
        readers = PcscReaders()
        reach = CentralReachability(bus)
        breaker_clock = ShiftedMonotonic()
        breaker = CircuitBreaker(
            client, failures=2, open_s=30.0, clock=breaker_clock, listener=reach.on_change
        )
        confirmations = Confirmations(
            transport=breaker if offline else client, store=store, bus=bus
        )
        outbox = Outbox(store=store, confirmations=confirmations, clock=clock)
        checks = ManualChecks(
            medical_institution_code=MEDICAL_INSTITUTION_CODE,
            confirmations=confirmations,
            store=store,
            clock=clock,
            outbox=outbox,
        )
        roots = [x509.load_pem_x509_certificate(sim_pki.jpki_root_cert.read_bytes())]
        flow = VisitFlow(
            medical_institution_code=MEDICAL_INSTITUTION_CODE,
            connect=readers.connect,
            confirmations=confirmations,
            store=store,
            bus=bus,
            inputs=inputs,
            pin_timeout_s=pin_timeout_s,
            consent_kinds=consent_kinds,
            consent_timeout_s=consent_timeout_s,
            staff_timeout_s=staff_timeout_s,
            clock=clock,
            offline=OfflineVisits(
                card_trust=CardTrust(roots, clock),
                confirmations=confirmations,
                store=store,
                checks=checks,
                central_down=lambda: reach.current().down,
            )
            if offline
            else None,
        )
        desk = Desk(
            flow,
            store,
            bus,
            inputs,
            bus.subscribe(),
            sim_pki,
            tmp_path / "cards",
            card_audit_path,
            readers,
            checks=checks,
            outbox=outbox,
            reach=reach,
            breaker_clock=breaker_clock,
        )
        monitor = ReaderMonitor(flow.handle, reader_filter=APPLIANCE_READER)
        monitor.start()
        made.append((desk, monitor, readers, client))
        return desk

    yield make
    for desk, monitor, readers, client in made:
        for card in list(desk.cards):
            card.remove()
        readers.wait_until_empty(APPLIANCE_READER)  # before the next test places a card
        desk.flow.wait_idle(10)
        monitor.stop()
        readers.close()
        client.close()
        desk.events.close()
        desk.store.close()


@pytest.fixture
def desk(desk_factory: Callable[..., Desk]) -> Desk:
    return desk_factory()
