"""The folders demo in the browser: on the sandbox page a card is placed on the simulated
official terminal's reader (the real `onshi sim terminal` process, through `onshi sim face`),
the terminal writes its face file, and the visit appears on the reception page without a
reload, and the consent given at that reader opens the drug history for the doctor through the
terminal's folders. The page also lists the numbers of the people holding a 資格確認書."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from sim.medical import drug_history
from sim.population import person
from sync.clock import JST
from tests.integration.test_folder_transport import sim_terminal

from .conftest import DOCTOR, RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000


def test_a_card_on_the_official_reader_appears_on_the_desk_without_a_reload(
    appliance_factory: Callable[..., Appliance], browser: Any, tmp_path: Path, demo_data: Path
) -> None:
    root = tmp_path / "terminal"
    with sim_terminal(root, demo_data, "--delay", "0"):
        appliance = appliance_factory(central_mode="folders", terminal_root=root)
        base = appliance.staff.base_url
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
        )
        desk = context.new_page()
        login(desk, base, RECEPTION)
        desk.goto(base + "/")
        desk.wait_for_selector("#manual-check")
        sandbox = context.new_page()
        sandbox.goto(base + "/sandbox")
        # a 資格確認書 holder's numbers, to try the numbers check with
        assert "井上　健一" in sandbox.inner_text("#certificate-numbers")
        assert sandbox.query_selector("#sim-central") is None  # no simulated central here
        time.sleep(0.5)  # the desk's live stream is open

        clicked = time.monotonic()
        sandbox.click("[data-place-official='P010']")
        row = desk.wait_for_selector("tr[data-confirmation-id]:has-text('田中')", timeout=WAIT_MS)
        seconds = time.monotonic() - clicked
        assert "顔認証" in row.inner_text()  # the official reader's face check
        sandbox.wait_for_selector("#official-last[data-person='P010']")
        desk.screenshot(path=str(SCREENSHOTS / "desk-official-reader.png"), full_page=True)
        sandbox.screenshot(path=str(SCREENSHOTS / "sandbox-folders.png"), full_page=True)
        print(f"sandbox official-reader click → row on the desk: {seconds * 1000:.0f} ms")
        confirmation_id = row.get_attribute("data-confirmation-id")

        # The doctor: the consent given at the official reader opens the drug history, which
        # comes through the terminal's folders (YZKsiquc01req → res).
        context.close()
        context = browser.new_context(ignore_https_errors=True, locale="ja-JP")
        doctor = context.new_page()
        login(doctor, base, DOCTOR)
        doctor.goto(f"{base}/clinical/confirmations/{confirmation_id}/drug")
        doctor.wait_for_selector("section.cl-month", timeout=WAIT_MS)
        today = datetime.now(UTC).astimezone(JST).date()
        expected = {
            d.name
            for m in drug_history(person("P010"), today)
            for x in m.dispensings
            for d in x.drugs
        }
        shown = doctor.inner_text("main")
        assert expected and any(name in shown for name in expected)
        assert any(n.startswith("YZKsiquc01req_") for n in os.listdir(root / "trash"))
        context.close()
