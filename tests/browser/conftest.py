"""A whole appliance (web included) on the real stack, and headless Debian Chromium to drive it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance, build_appliance
from device.config import load_config

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
def appliance(pcscd: list[str], demo_data: Path, tmp_path: Path) -> Iterator[Appliance]:
    # The sandbox's card processes use the demo data's PKI, so the central here trusts that one.
    from sim.central.server import CentralServer
    from sim.pki import build_pki
    from sim.population import population

    pki = build_pki(demo_data / "pki", population())
    central = CentralServer(pki)
    central.start()
    config = load_config(
        environ={},
        overrides={
            "demo": True,
            "demo_data": demo_data,
            "data_dir": tmp_path / "appliance",
            "central_url": central.url,
            "central_ca": pki.central_ca_cert,
            "device_cert": pki.device_cert,
            "device_key": pki.device_key,
            "reader": "Virtual PCD 00 00",
            "staff_port": 0,
            "kiosk_port": 0,
        },
    )
    app = build_appliance(config)
    app.start()
    yield app
    app.stop()
    central.stop()


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
