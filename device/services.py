"""Everything the web layer is handed by the composition root (device/cli.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from device.config import Config
from device.events import EventBus
from device.flow import VisitFlow
from device.inputs import VisitInputs
from device.sandbox import CardSandbox
from sync.store import Store

if TYPE_CHECKING:  # built by their own modules; only the types are needed here
    from device.accounts import Accounts
    from device.checks import ManualChecks
    from device.clinical import ClinicalRecords
    from device.status import ApplianceStatus


@dataclass(frozen=True)
class Services:
    config: Config
    store: Store
    bus: EventBus
    flow: VisitFlow
    pins: VisitInputs  # what the kiosk and reception hand to the running visit
    sandbox: CardSandbox | None = None  # only in demo mode
    accounts: Accounts | None = None  # staff logins; None only in tests without staff pages
    clinical: ClinicalRecords | None = None  # drug / checkup views under consent
    checks: ManualChecks | None = None  # insurance-number checks typed at reception
    status: ApplianceStatus | None = None  # the admin's status page
    restart: threading.Event | None = None  # set to rebuild the appliance with saved settings
