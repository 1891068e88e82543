"""The doctor's view in a real browser while the central is unreachable: a history with no
cached copy says the central is unreachable since when, what to do meanwhile, and offers to
try again; a history fetched before the outage is shown from its copy with a notice of it;
once the line is back, "try again" shows the history."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from device.appliance import Appliance
from sync.breaker import BreakerState
from tests.central_relay import CentralRelay

from .conftest import DOCTOR, SCREENSHOTS, login
from .test_clinical_page import card_visit
from .test_outage_banner import relay as relay  # noqa: F401  (the switched line, a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_S = 20.0


def test_doctor_is_told_the_central_is_down_and_what_to_do(
    appliance_factory: Callable[..., Appliance], relay: CentralRelay, browser: Any
) -> None:
    appliance = appliance_factory(
        central_url=relay.url, central_breaker_failures=1, central_breaker_open_s=1
    )
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    kiosk = context.new_page()
    cid = card_visit(appliance, kiosk, "P004", {"drug": True, "checkup": True})
    staff = appliance.staff.base_url
    doctor = context.new_page()
    login(doctor, staff, DOCTOR)
    doctor.goto(f"{staff}/clinical/confirmations/{cid}/drug")  # fetched online: now cached
    doctor.wait_for_selector("section.cl-month")
    assert doctor.query_selector(".cl-offline") is None

    relay.stop()  # the line drops
    checkup = f"{staff}/clinical/confirmations/{cid}/checkup"
    response = doctor.goto(checkup)
    assert response is not None and response.status == 503
    message = doctor.inner_text(".cl-refused")
    assert "中央サービスに接続できない状態です（" in message and "から）" in message
    assert "お薬手帳" in message  # what to do meanwhile
    retry = doctor.wait_for_selector("a.cl-retry")
    assert retry.inner_text() == "もう一度開く"
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-central-down.png"), full_page=True)
    assert appliance.breaker.state is not BreakerState.CLOSED

    other = context.new_page()  # the refused page stays open in the first tab
    other.goto(f"{staff}/clinical/confirmations/{cid}/drug")  # the copy from before
    other.wait_for_selector("section.cl-month")
    other.screenshot(path=str(SCREENSHOTS / "clinical-cached-central-down.png"))
    notice = other.inner_text(".cl-offline")
    assert "接続できない状態" in notice and "に取得した内容です" in notice

    relay.start()  # the line is back: the probe closes the circuit
    deadline = time.monotonic() + WAIT_S
    while appliance.reachability.current().down and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not appliance.reachability.current().down
    doctor.click("a.cl-retry")
    doctor.wait_for_selector("svg[role=img]")  # the checkup table, fetched online
    details = [
        e.detail
        for e in appliance.services.store.audit_entries()
        if e.subject == f"confirmation:{cid}" and e.action.startswith("clinical.")
    ]
    assert "checkup:unavailable" in details and "checkup online" in details
    context.close()
