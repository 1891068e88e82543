"""The status light and the ticket printer (device/signal.py, light.py, printer.py, ticket.py):
the event → light mapping, the protocol frames through `loop://`, unplug and replug, the daily
ticket number, the ESC/POS bytes, the status item, the settings, and the simulators' protocol."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.config import ConfigError, load_config
from device.events import (
    CentralDown,
    CentralUp,
    ConfirmationStored,
    ConsentRequested,
    Event,
    PinBlocked,
    PinRequested,
    ReaderStatus,
    StaffHelpRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.flow import VisitState
from device.light import LightState, SignalLight, light_hello, light_send, visit_light
from device.peripherals import Peripherals
from device.printer import TicketPrinter
from device.signal import PeripheralKind, PeripheralState, Port, PortUnplugged, SerialPort
from device.ticket import DEFAULT_NOTICE, Ticket, TicketBook, ticket_bytes
from sim.light import SimLight
from sim.printer import Interpreter, SimPrinter, render_png, render_text
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

from .test_status import items, status_of

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 10:00 in Japan


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


class Recording:
    """A SerialPort that keeps what was written (loop:// echoes it back to the protocol)."""

    ports: list[Recording] = []

    def __init__(self, url: str) -> None:
        self.port = SerialPort(url)
        self.echoes = self.port.echoes
        self.written = bytearray()
        Recording.ports.append(self)

    def write(self, data: bytes) -> None:
        self.written += data
        self.port.write(data)

    def read_line(self) -> bytes:
        return self.port.read_line()

    def read(self, size: int) -> bytes:
        return self.port.read(size)

    def close(self) -> None:
        self.port.close()


class Flaky:
    """A connect function whose device is unplugged while `plugged` is False."""

    def __init__(self, inner: Callable[[str], Port]) -> None:
        self.inner = inner
        self.plugged = True
        self.opened = 0

    def __call__(self, url: str) -> Port:
        if not self.plugged:
            raise PortUnplugged(f"{url}: no such device")
        self.opened += 1
        return self.inner(url)


# -- what the light shows -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "light"),
    [
        (VisitStarted("v", "r", AT), LightState.READING),
        (VisitStateChanged("v", VisitState.CONFIRMING.value), LightState.READING),
        (PinRequested("v", 3), LightState.WAITING),
        (ConsentRequested("v", ("drug",)), LightState.WAITING),
        (StaffHelpRequested("v"), LightState.STAFF),
        (PinBlocked("v"), LightState.STAFF),
        (VisitFailed("v", "not_jpki"), LightState.STAFF),
        (VisitAborted("v", "card_removed"), LightState.IDLE),
        (ConfirmationStored(1, "v"), LightState.CONFIRMED),
        (VisitStateChanged("v", VisitState.OFFLINE_DONE.value), LightState.CONFIRMED),
        (ConfirmationStored(2, None), None),  # a desk check: not the kiosk's visit
        (ReaderStatus("r", True, True), None),
    ],
)
def test_each_event_has_its_light(event: Event, light: LightState | None) -> None:
    assert visit_light(event) is light


def test_every_visit_state_has_a_light() -> None:
    for state in VisitState:
        assert visit_light(VisitStateChanged("v", state.value)) is not None, state


def test_central_down_shows_only_while_no_visit_runs_and_confirmed_ends_with_the_card() -> None:
    light = SignalLight("loop://")  # not started: only the model
    assert light.wanted() is LightState.IDLE
    light.note(CentralDown(AT))
    assert light.wanted() is LightState.DOWN
    light.note(VisitStarted("v", "r", AT))
    assert light.wanted() is LightState.READING
    light.note(VisitStateChanged("v", "offline_done"))
    assert light.wanted() is LightState.CONFIRMED
    light.note(ReaderStatus("r", True, False))  # the card is taken
    assert light.wanted() is LightState.DOWN
    light.note(CentralUp(AT))
    assert light.wanted() is LightState.IDLE


def test_confirmed_goes_back_to_idle_after_the_hold() -> None:
    light = SignalLight("loop://", confirmed_hold_s=0.05)
    light.note(ConfirmationStored(1, "v"))
    assert light.wanted() is LightState.CONFIRMED
    assert wait_until(lambda: light.wanted() is LightState.IDLE, 5)


# -- through loop:// --------------------------------------------------------------------------
def test_the_light_speaks_its_protocol_through_loop() -> None:
    Recording.ports.clear()
    light = SignalLight("loop://", connect=Recording)
    light.start()
    try:
        assert wait_until(lambda: light.state().shown == "idle")
        light.note(VisitStarted("v", "r", AT))
        light.note(PinBlocked("v"))
        assert wait_until(lambda: light.state().shown == "staff")
        state = light.state()
        assert state.connected is True and state.kind is PeripheralKind.LIGHT
        written = bytes(Recording.ports[-1].written)
        assert written.startswith(b"H\nL idle\n")
        assert b"L staff\nB 300\n" in written
    finally:
        light.stop()


def test_the_printer_prints_a_ticket_through_loop() -> None:
    Recording.ports.clear()
    printer = TicketPrinter("loop://", TicketBook(clock=lambda: AT), connect=Recording)
    printer.start()
    try:
        printer.note(VisitStateChanged("v", "done"))
        printer.note(VisitStateChanged("v", "stored"))  # not yet the end: no ticket
        assert wait_until(lambda: printer.state().shown == "1")
        written = bytes(Recording.ports[-1].written)
        assert written.startswith(b"\x10\x04\x01")  # asked whether it is there first
        _, tickets = Interpreter().feed(written)
        assert [line.text for line in tickets[0]] == [
            "受付番号",
            "1",
            "2026-03-02 10:00",
            DEFAULT_NOTICE,
        ]
        assert len(printer.printed) == 1
    finally:
        printer.stop()


def test_an_echo_that_differs_is_not_a_light() -> None:
    class Garbled(Recording):
        def read_line(self) -> bytes:
            return b"garbage"

    port = Garbled("loop://")
    with pytest.raises(PortUnplugged):
        light_send(port, b"L idle\n")


def test_a_port_that_cannot_be_opened_is_unplugged() -> None:
    with pytest.raises(PortUnplugged):
        SerialPort("/dev/onshi-no-such-light")
    with pytest.raises(PortUnplugged):
        SerialPort("socket://127.0.0.1:1")  # nothing listens on port 1


# -- unplug and replug ------------------------------------------------------------------------
def test_an_unplugged_light_is_retried_and_recovers_with_the_current_state() -> None:
    Recording.ports.clear()
    connect = Flaky(Recording)
    connect.plugged = False
    light = SignalLight(
        "loop://", connect=connect, clock=lambda: AT, retry_base_s=0.01, retry_max_s=0.05
    )
    light.start()
    try:
        assert wait_until(lambda: light.state().connected is False)
        state = light.state()
        assert state.since == AT and "no such device" in state.error
        light.note(PinRequested("v", 3))  # the visit goes on; nothing waits for the port
        connect.plugged = True
        assert wait_until(lambda: light.state().shown == "waiting")
        assert light.state().connected is True and light.state().error == ""
        assert b"L waiting\n" in Recording.ports[-1].written
    finally:
        light.stop()


def test_a_light_that_stops_answering_is_marked_unplugged_by_the_keepalive() -> None:
    sim = SimLight()
    sim.start()
    light = SignalLight(sim.url, retry_base_s=0.02, retry_max_s=0.1, keepalive_s=0.05)
    light.start()
    try:
        assert sim.wait_for("idle")
        sim.stop()  # nothing new to show: only the keepalive can notice
        assert wait_until(lambda: light.state().connected is False)
        sim.start()  # the same port again
        assert wait_until(lambda: light.state().connected is True)
    finally:
        light.stop()
        sim.stop()


def test_tickets_wait_for_an_unplugged_printer() -> None:
    sim = SimPrinter()
    sim.start()
    printer = TicketPrinter(
        sim.url, TicketBook(clock=lambda: AT), retry_base_s=0.02, retry_max_s=0.1
    )
    printer.start()
    try:
        assert wait_until(lambda: printer.state().connected is True)
        sim.stop()
        printer.issue()
        assert wait_until(lambda: printer.state().connected is False)
        sim.start()
        assert sim.wait_for_tickets(1)
        assert wait_until(lambda: printer.state().shown == "1")  # after its write returned
        assert printer.state().connected is True
    finally:
        printer.stop()
        sim.stop()


# -- the ticket -------------------------------------------------------------------------------
def test_ticket_numbers_start_again_each_day_in_japan() -> None:
    now = [datetime(2026, 3, 2, 14, 59, tzinfo=UTC)]  # 23:59 in Japan
    book = TicketBook(clock=lambda: now[0])
    assert [book.next().number for _ in range(3)] == [1, 2, 3]
    now[0] += timedelta(minutes=2)  # 00:01 the next day in Japan, still 2 March in UTC
    assert book.next().number == 1


def test_the_ticket_uses_kanji_mode_and_carries_no_personal_data() -> None:
    data = ticket_bytes(Ticket(42, AT), "本日は混み合っています")
    assert data.startswith(b"\x1b@\x1cC\x01")  # initialise, kanji code system Shift_JIS
    assert b"\x1c&" + "受付番号".encode("cp932") + b"\x1c." in data
    assert b"\x1c&" + "本日は混み合っています".encode("cp932") + b"\x1c." in data
    assert data.endswith(b"\x1dV\x00")  # cut
    _, tickets = Interpreter().feed(data)
    assert [line.text for line in tickets[0]][1:3] == ["42", "2026-03-02 10:00"]
    assert tickets[0][1].width == 2  # the number large


def test_the_simulated_printer_draws_the_ticket(tmp_path: Path) -> None:
    _, tickets = Interpreter().feed(ticket_bytes(Ticket(7, AT), DEFAULT_NOTICE))
    render_png(tickets[0], tmp_path / "t.png")
    from PIL import Image

    with Image.open(tmp_path / "t.png") as image:
        assert image.width == 576 and image.getextrema() == (0, 255)  # black on white
    assert "受付番号" in render_text(tickets[0])


# -- the simulated light's protocol -----------------------------------------------------------
def test_the_simulated_light_answers_its_protocol() -> None:
    sim = SimLight()
    assert sim.answer("H").startswith("ONSHI-LIGHT 1 ")
    assert sim.answer("L purple") == "ERR l" and sim.state == "off"
    assert sim.answer("L staff") == "OK" and sim.answer("Q") == "L staff"
    assert sim.answer("B 200") == "OK" and sim.buzzes == [200]
    assert sim.answer("B 99999").startswith("ERR")
    assert sim.answer("") == "ERR empty"


def test_the_hello_must_come_from_a_light() -> None:
    sim = SimPrinter()  # a printer on the light's URL: it answers no line
    sim.start()
    port = SerialPort(sim.url)
    try:
        with pytest.raises(PortUnplugged):
            light_hello(port)
    finally:
        port.close()
        sim.stop()


# -- the status page and the sandbox's JSON ---------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


@pytest.fixture
def two_states() -> Iterator[list[PeripheralState]]:
    yield [
        PeripheralState(PeripheralKind.LIGHT, "socket://127.0.0.1:7710", True, "", None, "idle"),
        PeripheralState(
            PeripheralKind.PRINTER, "/dev/ttyUSB0", False, "[Errno 2] No such file", AT, ""
        ),
    ]


def test_the_status_page_says_which_device_is_unplugged_and_what_to_do(
    tmp_path: Path, store: Store, two_states: list[PeripheralState]
) -> None:
    from device.events import EventBus

    row = items(status_of(tmp_path, store, EventBus(), peripherals=lambda: two_states))[
        "peripherals"
    ]
    assert row.level == "warn"  # visits go on: a look soon, not an outage
    assert "1 台が未接続" in row.value
    assert "受付票プリンタ /dev/ttyUSB0: 2026-03-02 10:00 から未接続" in row.detail
    assert "状態ランプ socket://127.0.0.1:7710: idle" in row.detail
    assert "No such file" in row.detail and "再起動は不要" in row.detail


def test_without_devices_the_status_item_is_green(tmp_path: Path, store: Store) -> None:
    from device.events import EventBus

    row = items(status_of(tmp_path, store, EventBus()))["peripherals"]
    assert row.level == "ok" and "接続しない設定" in row.value


def test_the_sandbox_json_shows_the_light() -> None:
    light = SignalLight("loop://")
    light.note(PinRequested("v", 3))
    shown = Peripherals(light=light).snapshot()
    assert shown["light"] == "waiting"
    assert shown["devices"] == [
        {
            "kind": "light",
            "url": "loop://",
            "connected": None,
            "error": "",
            "since": None,
            "shown": "",
        }
    ]
    assert Peripherals().snapshot() == {"light": None, "devices": []}


# -- the settings -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["", "loop://", "/dev/ttyUSB0", "/dev/serial/by-id/usb-x-if00", "socket://pr.lan:9100"]
)
def test_port_urls_accepted(url: str) -> None:
    config = load_config(None, environ={}, overrides={"ticket_printer_url": url})
    assert config.ticket_printer_url == url


@pytest.mark.parametrize(
    "url",
    ["ttyUSB0", "http://x", "socket://host", "socket://h:70000", "/dev/tty USB0", "rfc2217://h:1"],
)
def test_port_urls_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="signal_light_url"):
        load_config(None, environ={}, overrides={"signal_light_url": url})


def test_the_sandbox_route_answers_the_light_to_signed_in_staff_only() -> None:
    from flask import Flask, g

    from web import signal_api

    class Reception:
        def has(self, role: str) -> bool:
            return role == "reception"

    light = SignalLight("loop://")
    light.note(VisitStarted("v", "r", AT))
    app = Flask(__name__)
    signed_in = [False]

    @app.before_request
    def sign_in() -> None:
        if signed_in[0]:
            g.user = Reception()

    app.register_blueprint(signal_api.create_blueprint(Peripherals(light=light)))
    client = app.test_client()
    assert client.get("/sandbox/light.json").status_code != 200  # refused (page words need the app)
    signed_in[0] = True
    answer = client.get("/sandbox/light.json")
    assert answer.status_code == 200 and answer.get_json()["light"] == "reading"
