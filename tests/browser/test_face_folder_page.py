"""The appliance in folders mode (central_mode = folders) on the real stack: a card visit made
on the official terminal's reader lands as a face file in the terminal's face/ folder and
appears on the reception page without a reload."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from sim.central.service import CentralService
from sim.pki import build_pki
from sim.population import population
from sync.facefile import face_file_bytes, face_file_name
from sync.xmlmsg import parse_result
from tests.unit.test_face_export import answer_for

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000


def test_a_face_file_from_the_terminal_appears_on_the_desk_without_a_reload(
    appliance_factory: Callable[..., Appliance], browser: Any, tmp_path: Path, demo_data: Path
) -> None:
    root = tmp_path / "terminal"
    for sub in ("req", "res", "face", "trash"):
        (root / sub).mkdir(parents=True)
    appliance = appliance_factory(central_mode="folders", terminal_root=root)
    code = appliance.services.config.medical_institution_code
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
    )
    desk = context.new_page()
    login(desk, appliance.staff.base_url, RECEPTION)
    desk.goto(appliance.staff.base_url + "/")
    desk.wait_for_selector("#manual-check")
    time.sleep(0.5)  # the desk's live stream is open

    # What the terminal writes after a card visit on its own reader (no request: no file id).
    service = CentralService(build_pki(demo_data / "pki", population()))
    result = replace(parse_result(answer_for(service, "P010", "t1")), file_id="")
    name = face_file_name(code, "a9f3", result.process_time)
    temporary = root / ("." + name + ".part")
    temporary.write_bytes(face_file_bytes(result))
    landed = time.monotonic()
    temporary.rename(root / "face" / name)
    row = desk.wait_for_selector("tr[data-confirmation-id]:has-text('田中')", timeout=WAIT_MS)
    seconds = time.monotonic() - landed
    assert "顔認証" in row.inner_text()  # the method: the official reader's face check
    desk.screenshot(path=str(SCREENSHOTS / "desk-face-file.png"), full_page=True)
    print(f"face file landed → row on the desk: {seconds * 1000:.0f} ms")

    context.close()
