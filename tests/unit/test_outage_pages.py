"""The outage as the pages show it: the desk's banner (page load and the live stream), the
kiosk's notice and the admin status item, from the reachability the breaker keeps."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from flask.testing import FlaskClient

from device.errors_log import RecentErrors
from device.events import CentralDown, CentralUp, EventBus
from device.flow import VisitFlow
from device.reachability import CentralReachability
from device.services import Services
from device.status import ApplianceStatus
from sync.breaker import BreakerChange, BreakerState
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from web.app import create_kiosk_app, create_staff_app
from web.kiosk import kiosk_initial, kiosk_wire
from web.reception import central_state, staff_wire
from web.status_rows import status_row

from .test_status import FakeCentral, FakeReaders
from .test_status import make_config as status_config
from .test_web import STAFF_HASH, STAFF_USER, FakeFlow, make_config, sign_in

NOW = datetime(2031, 5, 6, 1, 0, tzinfo=UTC)  # 10:00 in Japan
TITLE_JA = "オンライン資格確認に接続できません（{n}分前から）"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def opened(reach: CentralReachability, down_for_s: float) -> None:
    reach.on_change(
        BreakerChange(BreakerState.OPEN, BreakerState.CLOSED, down_for_s, "unreachable")
    )


def closed(reach: CentralReachability) -> None:
    reach.on_change(BreakerChange(BreakerState.CLOSED, BreakerState.HALF_OPEN, 0.0))


@dataclasses.dataclass
class Desk:
    store: Store
    bus: EventBus


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    yield Desk(store, EventBus())
    store.close()


@pytest.fixture
def reach(desk: Desk) -> CentralReachability:
    return CentralReachability(desk.bus, Clock())


def services_for(desk: Desk, tmp_path: Path, reach: CentralReachability) -> Services:
    services = services_with(
        config=make_config(tmp_path),
        store=desk.store,
        bus=desk.bus,
        flow=cast(VisitFlow, FakeFlow()),
    )
    return dataclasses.replace(services, reachability=reach)


def staff_app_with(desk: Desk, tmp_path: Path, reach: CentralReachability) -> FlaskClient:
    services = services_for(desk, tmp_path, reach)
    return sign_in(create_staff_app(services.config, services).test_client())


def banner(page: str) -> str:
    start = page.index('id="central-outage"')
    return page[start : page.index("</div>", start)]


def test_the_desk_shows_no_banner_while_the_central_answers(
    desk: Desk, tmp_path: Path, reach: CentralReachability
) -> None:
    page = staff_app_with(desk, tmp_path, reach).get("/").get_data(as_text=True)
    assert 'data-down="false"' in banner(page) and " hidden>" in banner(page)
    assert '<strong class="outage-title"></strong>' in banner(page)


def test_the_desk_page_renders_the_banner_with_the_minutes_since(
    desk: Desk, tmp_path: Path, reach: CentralReachability
) -> None:
    opened(reach, 125)
    page = html.unescape(staff_app_with(desk, tmp_path, reach).get("/").get_data(as_text=True))
    shown = banner(page)
    assert 'data-down="true"' in shown and " hidden>" not in shown
    assert TITLE_JA.format(n=2) in shown
    assert "09:57 から" in shown  # down since the first failure, in Japan time
    assert "資格確認書" in shown and "負担割合" in shown  # what to do next


def test_the_desk_in_english(desk: Desk, tmp_path: Path, reach: CentralReachability) -> None:
    opened(reach, 30)
    client = staff_app_with(desk, tmp_path, reach)
    page = html.unescape(client.get("/?lang=en").get_data(as_text=True))
    assert "Cannot reach the online eligibility check (for less than a minute)" in page
    assert "usual share" in page


def test_the_stream_says_down_with_the_time_and_then_up(
    desk: Desk, tmp_path: Path, reach: CentralReachability
) -> None:
    services = services_for(desk, tmp_path, reach)
    assert central_state(services) == {"down": False}
    opened(reach, 61)
    assert staff_wire(CentralDown(NOW), "ja", services) == (
        "central",
        {"down": True, "down_for_s": 61.0, "minutes": 1, "since": "09:58"},
    )
    closed(reach)
    assert staff_wire(CentralUp(NOW), "ja", services) == ("central", {"down": False})
    # Without the holder (a bare wire): the event alone, counted from now.
    assert staff_wire(CentralDown(NOW), "en") == (
        "central",
        {"down": True, "down_for_s": 0.0, "minutes": 0, "since": "10:00"},
    )


def test_the_breaker_reaches_the_desk_stream(desk: Desk, reach: CentralReachability) -> None:
    events = desk.bus.subscribe()
    opened(reach, 5)
    opened(reach, 40)  # a failed probe: still the same outage, nothing new
    closed(reach)
    assert list(events.drain()) == [CentralDown(NOW - timedelta(seconds=5)), CentralUp(NOW)]


def test_the_kiosk_knows(desk: Desk, tmp_path: Path, reach: CentralReachability) -> None:
    services = services_for(desk, tmp_path, reach)
    config = services.config
    kiosk = create_kiosk_app(config, services).test_client()
    page = kiosk.get("/", base_url=f"http://127.0.0.1:{config.kiosk_port}")
    assert 'id="central-outage" class="outage" role="alert" hidden' in page.get_data(True)
    assert ("central", {"down": False}) in kiosk_initial(services)
    opened(reach, 5)
    page = kiosk.get("/", base_url=f"http://127.0.0.1:{config.kiosk_port}")
    text = page.get_data(as_text=True)
    assert "ただいまオンラインでの資格確認ができません" in text
    assert 'id="central-outage" class="outage" role="alert">' in text
    assert ("central", {"down": True}) in kiosk_initial(services)
    assert kiosk_wire(CentralDown(NOW), "ja") == ("central", {"down": True})
    assert kiosk_wire(CentralUp(NOW), "en") == ("central", {"down": False})


def test_status_item_follows_the_circuit(tmp_path: Path, desk: Desk) -> None:
    clock = Clock()
    bus = EventBus()
    reach = CentralReachability(bus, clock)
    status = ApplianceStatus(
        config=status_config(tmp_path),
        store=desk.store,
        central=cast(CentralClient, FakeCentral()),
        bus=bus,
        list_readers=FakeReaders(["r"]),
        errors=RecentErrors(),
        clock=clock,
        ntp_synchronized=lambda: True,
        reachability=reach,
    )
    try:
        rows = {r.key: r for r in map(status_row, status.collect())}
        keys = list(rows)
        assert keys.index("circuit") == keys.index("central") + 1
        assert rows["circuit"].ok is True and "接続できています" in rows["circuit"].value
        opened(reach, 90)
        reach.on_change(BreakerChange(BreakerState.HALF_OPEN, BreakerState.OPEN, 120.0))
        row = status_row(next(i for i in status.collect() if i.key == "circuit"))
        assert row.ok is False
        assert "2031-05-06 09:58" in row.value and "unreachable since" in row.value
        assert "再接続を確認しています" in row.detail and "unreachable" in row.detail
        assert "Mynaportal" in row.detail
        closed(reach)
        row = status_row(next(i for i in status.collect() if i.key == "circuit"))
        assert row.ok is True
    finally:
        status.close()
