"""A whole appliance (web included) on the real stack, and headless Debian Chromium to drive it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance, build_appliance
from device.config import load_config
from reader.pcsc import PcscReaders
from sync.clock import utc_now

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READER = "Virtual PCD 00 00"
# Staff users every browser test can sign in as (created in each fresh appliance).
RECEPTION = ("uketsuke", "受付 花子", ("reception",), "reception-pass-123")
DOCTOR = ("isha", "医師 一郎", ("clinical", "reception"), "doctor-pass-1234")


class MovableClock:
    """The appliance's time source; tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def login(page: Any, base: str, user: tuple[str, str, tuple[str, ...], str]) -> None:
    """Sign in through the real login page, as a person would."""
    page.goto(base + "/login")
    page.fill("#username", user[0])
    page.fill("#password", user[3])
    page.click("button.login-submit")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulator data as `onshi demo` makes it, for the sandbox's card processes."""
    data = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [sys.executable, "-m", "sim", "pki", "--data", str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return data


@pytest.fixture
def appliance_factory(
    pcscd: list[str], demo_data: Path, tmp_path: Path
) -> Iterator[Callable[..., Appliance]]:
    """A whole appliance on the real stack; keyword arguments override its settings."""
    # The sandbox's card processes use the demo data's PKI, so the central here trusts that one.
    from sim.central.server import CentralServer
    from sim.pki import build_pki
    from sim.population import population

    pki = build_pki(demo_data / "pki", population())
    central = CentralServer(pki)
    central.start()
    made: list[Appliance] = []

    def make(
        clock: Callable[[], datetime] = utc_now, *, users: bool = True, **overrides: Any
    ) -> Appliance:
        config = load_config(
            environ={},
            overrides={
                "demo": True,
                "demo_data": demo_data,
                "data_dir": tmp_path / f"appliance{len(made)}",
                "central_url": central.url,
                "central_ca": pki.central_ca_cert,
                "device_cert": pki.device_cert,
                "device_key": pki.device_key,
                "jpki_root_file": pki.jpki_root_cert,
                "reader": READER,
                "staff_port": 0,
                "kiosk_port": 0,
                **overrides,
            },
        )
        app = build_appliance(config, clock)
        accounts = app.services.accounts
        assert accounts is not None
        for username, name, roles, password in (RECEPTION, DOCTOR) if users else ():
            accounts.create_user(username, name, roles, password, actor="test")
        app.start()
        made.append(app)
        return app

    yield make
    readers = PcscReaders()
    try:
        for app in made:
            app.stop()
        readers.wait_until_empty(READER)  # the next test's card must be seen arriving
    finally:
        readers.close()
        central.stop()


@pytest.fixture
def appliance(appliance_factory: Callable[..., Appliance]) -> Appliance:
    return appliance_factory()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
