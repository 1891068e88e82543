"""First start on a whole appliance with no staff user (real pcscd, SQLite, HTTPS, Chromium).

The kiosk shows the one-time setup code instead of the welcome screen; typed on the staff page
(where /login leads to 初期設定 while nobody exists) it creates the first admin, who enrols the
second factor and lands on the recovery sheet. A wrong code is refused and changes nothing;
afterwards the form is gone and the kiosk is back at its welcome screen. axe-core checks the
setup page, its error and the kiosk's setup screen (the general axe test runs with users).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from device.appliance import Appliance

from .conftest import SCREENSHOTS
from .test_accessibility import Axe
from .test_staff_pages import code_for

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000
ADMIN = ("incho", "院長 一郎", "first-admin-pass-123")


def test_first_admin_from_the_kiosk_code_to_the_recovery_sheet(
    appliance_factory: Callable[..., Appliance], browser: Any
) -> None:
    appliance = appliance_factory(users=False)
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1100, "height": 900}, locale="ja-JP"
    )
    kiosk = context.new_page()
    axe = Axe(kiosk)
    kiosk.goto(appliance.kiosk.base_url + "/")
    kiosk.wait_for_selector("section[data-screen=setup].active", timeout=WAIT_MS)
    axe.check("kiosk setup")
    code = kiosk.inner_text("#setup-code")
    assert len(code.replace("-", "")) == 10
    kiosk.screenshot(path=str(SCREENSHOTS / "kiosk-setup-code.png"))

    page = context.new_page()
    staff = Axe(page)
    base = appliance.staff.base_url
    page.goto(base + "/login")
    page.wait_for_url(lambda url: url.endswith("/setup"))
    staff.check("setup.form")
    page.fill("#code", "AAAAA-AAAAA")
    page.fill("#username", ADMIN[0])
    page.fill("#display_name", ADMIN[1])
    page.fill("#password", ADMIN[2])
    page.fill("#password_again", ADMIN[2])
    page.click("button.login-submit")
    page.wait_for_selector("#setup-error")
    staff.check("setup.form (wrong code)")
    assert appliance.services.accounts.count_users() == 0
    page.fill("#code", code.lower())  # as typed: case and the hyphen do not matter
    page.fill("#password", ADMIN[2])
    page.fill("#password_again", ADMIN[2])
    page.click("button.login-submit")
    page.wait_for_selector("#enrol-required")
    page.fill("#code", code_for(page.inner_text("#totp-secret"), datetime.now(UTC)))
    page.press("#code", "Enter")
    page.wait_for_url(lambda url: "/admin/recovery" in url)
    page.wait_for_selector("#recovery-show")
    page.screenshot(path=str(SCREENSHOTS / "first-admin-recovery.png"), full_page=True)

    (user,) = appliance.services.accounts.list_users()
    assert user.username == ADMIN[0] and "admin" in user.roles
    store = appliance.services.store
    assert store.audit_search(action="setup.code_refused")
    assert store.audit_search(action="setup.first_admin")
    assert page.goto(base + "/setup").status == 404  # the form is gone
    kiosk.wait_for_selector("section[data-screen=welcome].active", timeout=WAIT_MS)
    assert kiosk.inner_text("body").find(code) < 0
    context.close()
    report = axe.report() + staff.report()
    assert not report, f"serious or critical accessibility violations:\n{report}"
