"""Services for tests of the pages: every part is there (Services has no optional parts but
the demo sandbox); what a test does not hand in is a stand-in that the pages may list or show
but that never reaches the central service or the machine."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from device.accounts import Accounts
from device.apitokens import ApiTokens
from device.appointments import Appointments
from device.checks import ManualChecks
from device.clinical import ClinicalRecords
from device.config import Config
from device.confirm import Confirmations
from device.events import EventBus
from device.flow import VisitFlow
from device.outbox import Outbox
from device.reachability import CentralReachability
from device.sandbox import CardSandbox
from device.services import Services
from device.statement import Statements
from device.status import ApplianceStatus
from sync.breaker import CircuitBreaker
from sync.store import Store


class UnreachedCentral:
    """A central these tests never ask: a call fails the test."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.fail(f"the test reached the central service ({name})")


class QuietStatus:
    """The admin status page's source, without touching the machine."""

    def collect(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def services_with(
    *,
    config: Config,
    store: Store,
    bus: EventBus | None = None,
    flow: VisitFlow,
    accounts: Accounts | None = None,
    clinical: ClinicalRecords | None = None,
    checks: ManualChecks | None = None,
    status: ApplianceStatus | None = None,
    restart: threading.Event | None = None,
    sandbox: CardSandbox | None = None,
    outbox: Outbox | None = None,
    reachability: CentralReachability | None = None,
    api_tokens: ApiTokens | None = None,
    appointments: Appointments | None = None,
) -> Services:
    bus = bus if bus is not None else EventBus()
    central = cast(Any, UnreachedCentral())
    code = config.medical_institution_code
    if outbox is None:
        outbox = Outbox(
            store=store, confirmations=Confirmations(transport=central, store=store, bus=bus)
        )
    return Services(
        config=config,
        store=store,
        bus=bus,
        flow=flow,
        accounts=accounts if accounts is not None else Accounts(store),
        clinical=clinical
        if clinical is not None
        else ClinicalRecords(store, central, code, breaker=CircuitBreaker(central)),
        checks=checks
        if checks is not None
        else ManualChecks(
            medical_institution_code=code,
            confirmations=Confirmations(transport=central, store=store, bus=bus),
            store=store,
        ),
        statements=Statements(store),
        status=status if status is not None else cast(ApplianceStatus, QuietStatus()),
        restart=restart if restart is not None else threading.Event(),
        outbox=outbox,
        reachability=reachability if reachability is not None else CentralReachability(bus),
        api_tokens=api_tokens if api_tokens is not None else ApiTokens(store),
        appointments=appointments
        if appointments is not None
        else Appointments(store, bus, store.now),
        sandbox=sandbox,
    )
