"""The bulk pre-check in a real browser on the whole appliance: 「今すぐ照会」 on the 「明日の予約」
page starts a run that the appliance's own job uploads and polls (the simulated central over
mTLS); the progress bar is pushed to both the page and the desk, the page shows the classes
when it ends, and the desk shows the summary line 「N件（正常n件・要確認m件）」."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest

from device.appliance import Appliance
from device.bulkkind import clinic_day
from sim.population import person
from sync.clock import JST
from sync.store import AppointmentInput

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000
PEOPLE = ("P001", "P004", "P008", "P013", "P016", "P017", "P025", "P010")


def test_check_now_shows_progress_then_the_classes_and_the_summary(
    appliance: Appliance, browser: Any
) -> None:
    store = appliance.services.store
    day = clinic_day(store.now(), 1)
    start = datetime.combine(datetime.strptime(day, "%Y%m%d").date(), time(9), tzinfo=JST)
    rows = []
    for i, pid in enumerate(PEOPLE):
        p = person(pid)
        rows.append(
            AppointmentInput(
                f"K{i:04d}",
                p.name_kana,
                p.birthdate,
                p.insurer_number,
                p.symbol,
                p.number,
                p.branch,
                start + timedelta(minutes=15 * i),
            )
        )
    store.import_appointments(rows, actor="uketsuke", source="test")

    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
    )
    desk = context.new_page()
    login(desk, appliance.staff.base_url, RECEPTION)
    desk.goto(appliance.staff.base_url + "/")
    assert desk.is_hidden("#bulk-progress")  # no run yet: nothing on the desk
    page = context.new_page()
    page.goto(appliance.staff.base_url + "/appointments")
    page.click("#bulk-run-now")
    # pushed to both pages while it runs
    desk.wait_for_selector("#bulk-progress .bulk-bar", state="visible", timeout=WAIT_MS)
    assert "一括照会" in desk.inner_text("#bulk-progress .bulk-label")
    # the page reloads with the classes once the run ends; the desk shows the summary
    summary = desk.wait_for_selector(
        "#bulk-progress[data-state='done'] .bulk-summary", timeout=WAIT_MS
    )
    assert summary.inner_text() == "8件（正常5件・要確認3件）"
    page.wait_for_selector("#appointments-list tr[data-precheck='not_found']", timeout=WAIT_MS)
    assert page.is_visible("#appointments-list tr[data-precheck='multiple']")
    assert page.is_visible("#appointments-list tr[data-precheck='invalid']")
    assert "8件（正常5件・要確認3件）" in page.inner_text("#bulk-progress")
    page.screenshot(path=str(SCREENSHOTS / "appointments-bulk-done.png"), full_page=True)
    desk.screenshot(path=str(SCREENSHOTS / "reception-bulk-summary.png"))
    context.close()
