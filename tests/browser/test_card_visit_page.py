"""The newcomer's path in a real browser: sandbox → kiosk PIN → the row on the reception page."""

from __future__ import annotations

from typing import Any

import pytest

from device.appliance import Appliance
from sim.population import person

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_card_on_the_sandbox_pin_on_the_kiosk_row_on_reception(
    appliance: Appliance, browser: Any
) -> None:
    staff = appliance.staff.base_url
    kiosk_url = f"http://127.0.0.1:{appliance.kiosk.port}/"
    who = person("P001")
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}, locale="ja-JP"
    )
    reception = context.new_page()
    login(reception, staff, RECEPTION)
    reception.goto(staff + "/")
    kiosk = context.new_page()
    kiosk.goto(kiosk_url)
    kiosk.wait_for_selector("section[data-screen=welcome].active")
    kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-welcome.png"))

    sandbox = context.new_page()
    sandbox.goto(staff + "/sandbox")
    sandbox.screenshot(path=str(SCREENSHOTS / "sandbox.png"), full_page=True)
    sandbox.click(f"button[data-place={who.id}]")

    kiosk.wait_for_selector("section[data-screen=pin].active", timeout=20_000)
    kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-pin.png"))
    for digit in who.pin:
        kiosk.click(f"button[data-digit='{digit}']")
    kiosk.click("#pin-ok")
    kiosk.wait_for_selector("section[data-screen=consent].active", timeout=20_000)
    kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-consent.png"))
    kiosk.click("#consent-all")
    kiosk.wait_for_selector("section[data-screen=done].active", timeout=20_000)
    kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-done.png"))

    row = reception.wait_for_selector("#confirmations tr[data-confirmation-id]", timeout=10_000)
    assert who.name in row.inner_text()
    assert who.name_kana in row.inner_text()
    assert "有効" in row.query_selector(".badge").inner_text()
    consent = row.query_selector(".consent").inner_text()
    assert "薬剤情報 ✓" in consent and "特定健診情報 ✓" in consent
    reception.screenshot(path=str(SCREENSHOTS / "reception.png"), full_page=True)

    sandbox.click("#remove-card")
    kiosk.wait_for_selector("section[data-screen=welcome].active", timeout=20_000)
    context.close()
