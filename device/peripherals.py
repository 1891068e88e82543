"""The configured serial devices: the status light (device/light.py) and the ticket printer
(device/printer.py), either absent; what the appliance starts and the status page and the
sandbox read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from device.events import EventBus
from device.light import SignalLight
from device.printer import TicketPrinter
from device.signal import Peripheral, PeripheralState
from device.ticket import TicketBook
from sync.clock import utc_now


@dataclass
class Peripherals:
    """The configured devices (either may be None); what the status page and sandbox read."""

    light: SignalLight | None = None
    printer: TicketPrinter | None = None

    @property
    def devices(self) -> list[Peripheral]:
        return [d for d in (self.light, self.printer) if d is not None]

    def start(self, bus: EventBus) -> None:
        for device in self.devices:
            device.start()
            device.follow(bus)

    def stop(self) -> None:
        for device in self.devices:
            device.stop()

    def states(self) -> list[PeripheralState]:
        return [d.state() for d in self.devices]

    def snapshot(self) -> dict[str, object]:
        """For the sandbox page: what the light shows and whether each device is there."""
        light = self.light
        return {
            "light": light.wanted().value if light is not None else None,
            "devices": [s.as_json() for s in self.states()],
        }


def build_peripherals(
    light_url: str,
    printer_url: str,
    *,
    notice: str,
    clock: Callable[[], datetime] = utc_now,
) -> Peripherals:
    return Peripherals(
        light=SignalLight(light_url, clock=clock) if light_url else None,
        printer=(
            TicketPrinter(printer_url, TicketBook(clock=clock, notice=notice), clock=clock)
            if printer_url
            else None
        ),
    )
