"""The central goes away and comes back while reception and the kiosk are open in a real
browser: the desk's banner appears (live, and on a reload) with what to do, the kiosk says the
online check is not available, and both clear by themselves once the central answers again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from sim.central.server import CentralServer
from sim.pki import build_pki
from sim.population import person, population
from sync.breaker import BreakerState
from tests.central_relay import CentralRelay

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000
BANNER = "#central-outage"


@pytest.fixture
def relay(demo_data: Path) -> Iterator[CentralRelay]:
    """The line to a central of the demo PKI (the sandbox's cards), switched off and on."""
    central = CentralServer(build_pki(demo_data / "pki", population()))
    central.start()
    line = CentralRelay(int(central.url.rsplit(":", 1)[1]))
    line.start()
    yield line
    line.stop()
    central.stop()


def type_check(page: Any, person_id: str) -> None:
    who = person(person_id)
    born = date(int(who.birthdate[:4]), int(who.birthdate[4:6]), int(who.birthdate[6:]))
    page.fill("input[name=insurer_number]", who.insurer_number)
    page.fill("input[name=symbol]", who.symbol)
    page.fill("input[name=number]", who.number)
    page.fill("input[name=branch]", who.branch)
    page.fill("input[name=birthdate]", born.isoformat())
    page.click(".mc-submit")


def test_the_banner_appears_and_clears(
    appliance_factory: Callable[..., Appliance], relay: CentralRelay, browser: Any
) -> None:
    appliance = appliance_factory(
        central_url=relay.url, central_breaker_failures=1, central_breaker_open_s=1
    )
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
    )
    desk = context.new_page()
    login(desk, appliance.staff.base_url, RECEPTION)
    desk.goto(appliance.staff.base_url + "/")
    desk.wait_for_selector("#manual-check")
    assert desk.is_hidden(BANNER)
    kiosk = browser.new_page()
    kiosk.goto(appliance.kiosk.base_url + "/")
    assert kiosk.is_hidden(BANNER)

    relay.stop()  # the line drops
    started = time.monotonic()
    type_check(desk, "P025")  # a check at the desk finds the central gone
    banner = desk.wait_for_selector(BANNER, state="visible", timeout=WAIT_MS)
    seconds = time.monotonic() - started
    shown = banner.inner_text()
    assert "オンライン資格確認に接続できません" in shown
    assert "資格確認書" in shown and "負担割合" in shown  # what to do meanwhile
    assert appliance.breaker.state is not BreakerState.CLOSED
    message = desk.wait_for_selector(".mc-message:visible", timeout=WAIT_MS).inner_text()
    assert message  # the check itself says it failed
    kiosk.wait_for_selector(BANNER, state="visible", timeout=WAIT_MS)
    assert "オンラインでの資格確認ができません" in kiosk.inner_text(BANNER)
    desk.screenshot(path=str(SCREENSHOTS / "desk-outage-banner.png"), full_page=True)
    kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-outage.png"))
    print(f"line dropped → banner on the desk: {seconds * 1000:.0f} ms")

    desk.reload()  # a desk opened during the outage shows it at once
    assert desk.is_visible(BANNER)
    assert "オンライン資格確認に接続できません" in desk.inner_text(BANNER)

    relay.start()  # the line is back: the probe finds the central and the banner goes
    started = time.monotonic()
    desk.wait_for_selector(BANNER, state="hidden", timeout=WAIT_MS)
    kiosk.wait_for_selector(BANNER, state="hidden", timeout=WAIT_MS)
    print(f"line back → banner cleared: {(time.monotonic() - started) * 1000:.0f} ms")
    assert appliance.breaker.state is BreakerState.CLOSED
    assert not appliance.reachability.current().down
    kiosk.close()
    context.close()
