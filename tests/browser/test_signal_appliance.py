"""The whole appliance with a status light and a ticket printer set by URL: it starts with the
printer not there (the status page says so, nothing else minds), and the printer plugged in
later is found without a restart."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from device.appliance import Appliance
from sim.light import SimLight
from sim.printer import SimPrinter
from web.status_rows import StatusRow, status_row

pytestmark = pytest.mark.stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peripherals_row(app: Appliance) -> StatusRow:
    rows = {row.key: row for row in map(status_row, app.services.status.collect())}
    return rows["peripherals"]


def wait_for_row(app: Appliance, check: Callable[[StatusRow], bool]) -> StatusRow:
    deadline = time.monotonic() + 15
    row = peripherals_row(app)
    while not check(row) and time.monotonic() < deadline:
        time.sleep(0.1)
        row = peripherals_row(app)
    return row


def test_the_appliance_runs_with_the_printer_unplugged_and_finds_it_when_plugged_in(
    appliance_factory: Callable[..., Appliance],
) -> None:
    light = SimLight()
    light.start()
    printer_port = free_port()
    printer = SimPrinter(port=printer_port)
    try:
        app = appliance_factory(
            signal_light_url=light.url,
            ticket_printer_url=f"socket://127.0.0.1:{printer_port}",
        )
        assert light.wait_for("idle")
        row = wait_for_row(app, lambda r: "未接続" in r.value)
        assert row.level == "warn"
        assert f"受付票プリンタ socket://127.0.0.1:{printer_port}:" in row.detail
        assert f"状態ランプ {light.url}: idle" in row.detail

        printer.start()  # plugged in: no restart
        row = wait_for_row(app, lambda r: r.level == "ok")
        assert row.level == "ok" and "2 台接続" in row.value
        assert app.services.peripherals is not None
        assert app.services.peripherals.snapshot()["light"] == "idle"
    finally:
        light.stop()
        printer.stop()
