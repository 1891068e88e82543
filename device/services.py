"""Everything the web layer is handed by the composition root (device/appliance.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from device.config import Config
from device.events import EventBus
from device.flow import VisitFlow
from device.sandbox import CardSandbox
from sync.store import Store

if TYPE_CHECKING:  # built by their own modules; only the types are needed here
    from device.accounts import Accounts
    from device.apitokens import ApiTokens
    from device.appointments import Appointments
    from device.bulkrun import BulkRuns
    from device.checks import ManualChecks
    from device.clinical import ClinicalRecords
    from device.outbox import Outbox
    from device.peripherals import Peripherals
    from device.reachability import CentralReachability
    from device.setup import FirstStart
    from device.statement import Statements
    from device.status import ApplianceStatus


@dataclass(frozen=True)
class Services:
    """Every part is always there; tests hand in fakes. The visit flow is the only door to
    a running visit: PIN, consent, call for staff and the visual check all go through it."""

    config: Config
    store: Store
    bus: EventBus
    flow: VisitFlow
    accounts: Accounts  # staff logins
    clinical: ClinicalRecords  # drug / checkup views under consent
    checks: ManualChecks  # insurance-number checks typed at reception
    statements: Statements  # 被保険者資格申立書 filled in at the desk
    status: ApplianceStatus  # the admin's status page
    outbox: Outbox  # the re-check queue and its changed-answer alerts
    restart: threading.Event  # set to rebuild the appliance with saved settings
    reachability: CentralReachability  # whether the central can be reached (circuit breaker)
    api_tokens: ApiTokens  # tokens of the read API for other systems (web/api.py)
    appointments: Appointments  # the appointments list and its pre-check (「明日の予約」)
    sandbox: CardSandbox | None = None  # only in demo mode
    peripherals: Peripherals | None = None  # status light, ticket printer (device/peripherals.py)
    first_start: FirstStart | None = None  # the one-time setup code while no staff user exists
    bulk: BulkRuns | None = None  # the bulk pre-check of appointments (device/bulkrun.py)
