"""Everything the web layer is handed by the composition root (device/cli.py)."""

from __future__ import annotations

from dataclasses import dataclass

from device.config import Config
from device.events import EventBus
from device.flow import KioskPins, VisitFlow
from device.sandbox import CardSandbox
from sync.store import Store


@dataclass(frozen=True)
class Services:
    config: Config
    store: Store
    bus: EventBus
    flow: VisitFlow
    pins: KioskPins
    sandbox: CardSandbox | None = None  # only in demo mode
