"""The status light and the ticket printer over socket:// against the simulators, following
real card visits (pcscd + vpcd + the emulated card + the simulated central): both unplugged
while a visit goes on, both replugged, no restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from device.events import PinRequested
from device.flow import VisitState
from device.light import SignalLight
from device.peripherals import Peripherals
from device.printer import TicketPrinter
from device.ticket import TicketBook
from sim.light import SimLight
from sim.printer import SimPrinter

from .conftest import Desk
from .test_visit import valid_person

pytestmark = pytest.mark.stack


def wait_until(check: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.fixture
def devices() -> Iterator[tuple[SimLight, SimPrinter]]:
    light, printer = SimLight(), SimPrinter()
    light.start()
    printer.start()
    yield light, printer
    light.stop()
    printer.stop()


def test_light_and_ticket_follow_visits_through_unplug_and_replug(
    desk: Desk, devices: tuple[SimLight, SimPrinter]
) -> None:
    sim_light, sim_printer = devices
    peripherals = Peripherals(
        light=SignalLight(sim_light.url, retry_base_s=0.05, retry_max_s=0.5),
        printer=TicketPrinter(sim_printer.url, TicketBook(), retry_base_s=0.05, retry_max_s=0.5),
    )
    peripherals.start(desk.bus)
    person = valid_person()
    try:
        assert sim_light.wait_for("idle")

        # A visit: the light goes reading → waiting (the PIN) → confirmed; one ticket.
        desk.place(person.id)
        request = desk.expect(PinRequested)
        assert sim_light.wait_for("waiting")
        assert desk.inputs.submit(request.visit_id, person.pin)
        assert desk.finish().state is VisitState.DONE
        assert sim_light.wait_for("confirmed")
        # The light shows the newest state it is asked for: a card read faster than a line to
        # the board skips "reading" before the PIN (it shows during signing). Between idle and
        # confirmed it shows only the visit's own states, the PIN's wait among them.
        shown = [s.state for s in sim_light.history]
        during = shown[shown.index("idle") + 1 : shown.index("confirmed")]
        assert "waiting" in during and set(during) <= {"reading", "waiting"}, shown
        assert sim_printer.wait_for_tickets(1)
        assert [line.text for line in sim_printer.tickets[0]][:2] == ["受付番号", "1"]
        desk.remove(desk.cards[-1])
        desk.wait_empty()
        time.sleep(0.5)  # pcscd notices a new card reliably only a little after the last left

        # Both unplugged: the next visit still ends with its answer, nothing waits for them.
        sim_light.stop()
        sim_printer.stop()
        assert wait_until(lambda: all(s.connected is False for s in peripherals.states()))
        desk.place(person.id)
        request = desk.expect(PinRequested)
        assert desk.inputs.submit(request.visit_id, person.pin)
        assert desk.finish().state is VisitState.DONE
        assert peripherals.light is not None and peripherals.printer is not None
        assert peripherals.light.wanted().value == "confirmed"
        assert all(s.error and s.since is not None for s in peripherals.states())

        # Replugged on the same ports: the light shows the current state, the ticket prints.
        sim_light.start()
        sim_printer.start()
        assert sim_light.wait_for("confirmed")
        assert sim_printer.wait_for_tickets(2)
        assert [line.text for line in sim_printer.tickets[1]][1] == "2"
        assert wait_until(lambda: all(s.connected is True for s in peripherals.states()))
    finally:
        peripherals.stop()
