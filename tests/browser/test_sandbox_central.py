"""The sandbox buttons switch the simulated central's failure mode (through `onshi sim control`
and the simulator's control listener over mutual TLS), and the page shows the mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from sim.central.remote import CONTROL_FILE, write_control_file
from sim.central.server import CentralServer
from sim.pki import build_pki
from sim.population import population

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]


@pytest.fixture
def central(demo_data: Path) -> Iterator[CentralServer]:
    """A simulator of our own, announced in the demo data as `onshi sim central` does."""
    server = CentralServer(build_pki(demo_data / "pki", population()))
    server.start()
    write_control_file(demo_data, server.control_url)
    yield server
    (demo_data / CONTROL_FILE).unlink(missing_ok=True)
    server.stop()


def shown_mode(page: Any) -> tuple[str, str, str]:
    mode = page.locator("#sim-mode")
    return mode.get_attribute("data-mode"), mode.get_attribute("data-down"), mode.inner_text()


def test_sandbox_buttons_switch_the_simulated_central(
    appliance_factory: Callable[..., Appliance], central: CentralServer, browser: Any
) -> None:
    appliance = appliance_factory(central_url=central.url)
    base = appliance.staff.base_url
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()
    try:
        login(page, base, RECEPTION)
        page.goto(base + "/sandbox")
        assert shown_mode(page) == ("normal", "false", "通常")

        page.check("#sim-changed")
        page.click('button[data-sim-mode="down"]')
        page.wait_for_selector('#sim-mode[data-mode="down"]')
        assert shown_mode(page) == ("down", "true", "停止中")
        assert "P001・P004・P008" in page.inner_text("#sim-central")
        status = central.faults.status()
        assert status.down and status.settings.changed_after_recovery
        page.screenshot(path=str(SCREENSHOTS / "sandbox-central-down.png"), full_page=True)

        page.click('button[data-sim-mode="normal"]')
        page.wait_for_selector('#sim-mode[data-mode="normal"]')
        assert central.faults.status().answers_changed  # that down period has ended
        assert "変更済み" in page.inner_text("#sim-central")

        page.fill('input[name="slow_s"]', "3.5")
        page.click('button[data-sim-mode="slow"]')
        page.wait_for_selector('#sim-mode[data-mode="slow"]')
        assert central.faults.settings.slow_s == 3.5
        assert central.faults.delay_s() == 3.5

        page.fill('input[name="flap_s"]', "45")
        page.click('button[data-sim-mode="flapping"]')
        page.wait_for_selector('#sim-mode[data-mode="flapping"]')
        assert central.faults.settings.flap_s == 45.0
        assert shown_mode(page)[1] == "true"  # flapping starts with a down phase

        page.goto(base + "/sandbox?lang=en")
        assert shown_mode(page)[2] == "Flapping (down and up in turn)"
        page.click('button[data-sim-mode="normal"]')
        page.wait_for_selector('#sim-mode[data-mode="normal"]')
        assert shown_mode(page)[2] == "Normal"
        assert not central.faults.down()
    finally:
        context.close()
