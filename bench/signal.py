"""The status light and the ticket printer over socket:// against the simulators (in-process
TCP on loopback): from an event published on the bus to the light's line arriving at the
simulated light, the time from an issued ticket to its last byte at the simulated printer, and
how long an unplugged device takes to be noticed and to recover once plugged in again.

Printed: median and 95th percentile of each latency over --events events.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from device.events import EventBus, VisitStarted, VisitStateChanged
from device.light import SignalLight
from device.printer import TicketPrinter
from device.ticket import TicketBook
from sim.light import SimLight
from sim.printer import SimPrinter


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"median {statistics.median(values) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def _wait(check: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.0005)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.signal")
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args(argv)

    bus = EventBus()
    sim_light, sim_printer = SimLight(), SimPrinter()
    sim_light.start()
    sim_printer.start()
    light = SignalLight(sim_light.url, retry_base_s=0.05, retry_max_s=0.5)
    printer = TicketPrinter(sim_printer.url, TicketBook(), retry_base_s=0.05, retry_max_s=0.5)
    for device in (light, printer):
        device.start()
        device.follow(bus)
    try:
        sim_light.wait_for("idle")
        latencies: list[float] = []
        at = datetime.now(UTC)
        for i in range(args.events):
            target = "reading" if i % 2 == 0 else "waiting"
            event = (
                VisitStarted(f"v{i}", "r", at)
                if target == "reading"
                else VisitStateChanged(f"v{i - 1}", "awaiting_pin")
            )
            before = len(sim_light.history)
            sent = time.monotonic()
            bus.publish(event)
            _wait(lambda: len(sim_light.history) > before)  # noqa: B023
            latencies.append(sim_light.history[-1].at - sent)
        print(f"signal: bus event → light line over socket:// ({args.events}): {_ms(latencies)}")

        tickets: list[float] = []
        for i in range(min(args.events, 50)):
            sent = time.monotonic()
            printer.issue()
            sim_printer.wait_for_tickets(i + 1)
            tickets.append(time.monotonic() - sent)
        print(f"signal: ticket issued → printed over socket:// ({len(tickets)}): {_ms(tickets)}")

        sim_light.stop()
        sent = time.monotonic()
        bus.publish(VisitStateChanged("vx", "done"))  # a change: its write fails
        _wait(lambda: light.state().connected is False)
        noticed = time.monotonic() - sent
        sim_light.start()
        sent = time.monotonic()
        _wait(lambda: light.state().connected is True)
        recovered = time.monotonic() - sent
        print(
            f"signal: unplug noticed after {noticed * 1000:.0f} ms (the next write fails at once; "
            f"pyserial's socket:// close() then sleeps 0.3 s); replug recovered after "
            f"{recovered * 1000:.0f} ms (retry backoff 0.05–0.5 s here; 0.5–10 s in the appliance)"
        )
    finally:
        light.stop()
        printer.stop()
        sim_light.stop()
        sim_printer.stop()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
