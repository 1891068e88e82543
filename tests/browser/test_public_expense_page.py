"""医療扶助 on the real stack, in Chromium: a 生活保護 person checked by numbers at the desk
(mTLS to the simulated central, SQLite), whose 医療券 names another clinic — the desk row marks
医療扶助 with the mismatch, and the detail page lists the ticket with a plain warning, in
Japanese and in English."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from device.appliance import Appliance
from sim.grants import OTHER_CLINIC
from sim.population import person

from .conftest import RECEPTION, login
from .test_desk_rows import free_port

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000


@pytest.fixture
def desk_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1366, "height": 768}, locale="ja-JP"
    )
    yield context.new_page()
    context.close()


def test_a_medical_aid_ticket_for_another_clinic(
    appliance_factory: Callable[..., Appliance], desk_page: Any
) -> None:
    appliance = appliance_factory(staff_port=free_port())
    staff = appliance.staff.base_url
    aided = person("P052")
    login(desk_page, staff, RECEPTION)
    desk_page.goto(staff + "/?lang=ja")
    desk_page.wait_for_selector("#manual-check")
    born = aided.birthdate
    desk_page.fill("input[name=insurer_number]", aided.insurer_number)
    desk_page.fill("input[name=number]", aided.number)
    desk_page.fill("input[name=birthdate]", f"{born[:4]}-{born[4:6]}-{born[6:]}")
    desk_page.click(".mc-submit")
    row = desk_page.locator(f"tr[data-confirmation-id]:has-text('{aided.name}')").first
    row.wait_for(timeout=WAIT_MS)
    assert row.locator(".public-expense").inner_text() == "医療扶助"
    assert "指定医療機関 不一致" in row.locator(".public-expense-warning").inner_text()

    row.locator("a.detail-link").click()
    desk_page.wait_for_selector(".section-warning", timeout=WAIT_MS)
    (stored,) = appliance.services.store.find_by_numbers(aided.insurer_number, "", aided.number)
    month = stored.result.confirmation_date[:6]  # the ticket is the checked month's
    page = desk_page.inner_text("main")
    for expected in (
        "医療扶助（生活保護）",
        "医療券・調剤券 1",
        "医療券 (01)",
        f"{month[:4]}/{month[4:]}",
        f"{OTHER_CLINIC[0]} {OTHER_CLINIC[1]} — 不一致 (1)",
        "この医療券の指定医療機関は当院ではありません",
        "3,000円",
        "入院外 (02)",
    ):
        assert expected in page, expected

    desk_page.goto(desk_page.url.split("?")[0] + "?lang=en")
    english = desk_page.inner_text("main")
    assert "Medical aid ticket 1" in english
    assert "another institution (1)" in english
    assert "This ticket names another medical institution" in english
