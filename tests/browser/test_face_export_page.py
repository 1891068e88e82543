"""A card visit through the whole appliance on the real stack (pcscd + vpcd card, the central over
mutual TLS, real SQLite) leaves its face file in the export folder, where the independent reader
finds what the desk shows."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from sim.population import person
from tests.face_reader import read_face_file

from .test_kiosk import Kiosk

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_a_card_visit_writes_its_face_file_for_the_receipt_computer(
    appliance_factory: Callable[..., Appliance], browser: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "face"
    folder.mkdir()
    appliance = appliance_factory(export_dir=folder)
    context = browser.new_context(viewport={"width": 1024, "height": 600}, locale="ja-JP")
    kiosk = Kiosk(appliance, context.new_page())
    who = person("P001")
    kiosk.place(who.id)
    kiosk.type_pin(who.pin)
    kiosk.wait("consent")
    kiosk.page.click("#consent-all")
    kiosk.wait("done")
    store = appliance.services.store
    deadline = time.monotonic() + 10
    # The file is renamed into place first, then its queue entry marked written: wait for both.
    while (
        not list(folder.glob("*.xml")) or store.export_counts().pending
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    (written,) = folder.glob("*.xml")
    read = read_face_file(written)
    assert read.institution_code == appliance.services.config.medical_institution_code
    assert read.people[0]["Name"] == who.name and read.body["QualificationValidity"] == "1"
    assert appliance.services.store.export_counts().pending == 0
    kiosk.remove()
    context.close()
