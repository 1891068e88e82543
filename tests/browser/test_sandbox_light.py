"""The sandbox shows the simulated status light following a card visit (issue 13): waiting for
the patient at the PIN, confirmed after the answer, idle once the card is taken."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from device.appliance import Appliance
from sim.light import SimLight
from sim.population import person

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_the_sandbox_shows_the_light_following_a_visit(
    appliance_factory: Callable[..., Appliance], browser: Any
) -> None:
    light = SimLight()
    light.start()
    try:
        appliance = appliance_factory(signal_light_url=light.url)
        staff = appliance.staff.base_url
        who = person("P001")
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 800}, locale="ja-JP"
        )
        sandbox = context.new_page()
        login(sandbox, staff, RECEPTION)
        sandbox.goto(staff + "/sandbox")
        state = "#light-state"
        sandbox.wait_for_selector(f"{state}[data-state=idle]", timeout=10_000)
        assert sandbox.inner_text(state) == "待機"
        kiosk = context.new_page()
        kiosk.goto(f"http://127.0.0.1:{appliance.kiosk.port}/")
        sandbox.click(f"button[data-place={who.id}]")
        kiosk.wait_for_selector("section[data-screen=pin].active", timeout=20_000)
        sandbox.wait_for_selector(f"{state}[data-state=waiting]", timeout=10_000)
        assert light.wait_for("waiting")  # the page shows what the light itself shows
        for digit in who.pin:
            kiosk.click(f"button[data-digit='{digit}']")
        kiosk.click("#pin-ok")
        kiosk.wait_for_selector("section[data-screen=consent].active", timeout=20_000)
        kiosk.click("#consent-all")
        kiosk.wait_for_selector("section[data-screen=done].active", timeout=20_000)
        sandbox.wait_for_selector(f"{state}[data-state=confirmed]", timeout=10_000)
        assert sandbox.inner_text(state) == "確認済み"
        sandbox.screenshot(path=str(SCREENSHOTS / "sandbox-light.png"))
        sandbox.click("#remove-card")
        sandbox.wait_for_selector(f"{state}[data-state=idle]", timeout=20_000)
        context.close()
    finally:
        light.stop()
