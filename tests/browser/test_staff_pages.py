"""Reception and administration in a real browser, over the staff listener's HTTPS.

An admin enrols a second factor from the QR page and signs in with it, changes a setting
(an invalid value is refused and nothing is saved), and verifies the audit chain; reception
checks a 資格確認書 by hand through the simulated central and the answer joins the live list.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from device.appliance import Appliance
from sim.population import person
from web.present import wareki

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

ADMIN = ("kanri", "管理 太郎", ("admin", "reception"), "admin-pass-12345")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
WAIT_MS = 20_000


def code_for(secret_text: str, at: datetime) -> str:
    """What the staff member's authenticator app shows for this secret at `at`."""
    secret = base64.b32decode(
        secret_text.replace(" ", "") + "=" * (-len(secret_text.replace(" ", "")) % 8)
    )
    return TOTP(secret, 6, SHA1(), 30).generate(at.timestamp()).decode()


def test_admin_enrols_totp_signs_in_with_it_and_changes_a_setting(
    appliance: Appliance, browser: Any
) -> None:
    accounts = appliance.services.accounts
    assert accounts is not None
    accounts.create_user(ADMIN[0], ADMIN[1], ADMIN[2], ADMIN[3], actor="test")
    base = appliance.staff.base_url
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()

    # First sign-in: the password, then enrolment is required before anything else.
    page.goto(base + "/login?next=/admin/")
    page.fill("#username", ADMIN[0])
    page.fill("#password", ADMIN[3])
    page.click("button.login-submit")
    page.wait_for_selector("#enrol-required")
    assert page.query_selector(".totp-qr-box svg") is not None  # the QR code to scan
    page.screenshot(path=str(SCREENSHOTS / "totp-enrol.png"), full_page=True)
    page.goto(base + "/admin/settings")  # nothing else opens before enrolment
    assert page.url.startswith(base + "/account/totp")
    secret_text = page.inner_text("#totp-secret")  # each enrolment page offers a fresh secret
    page.fill("#code", code_for(secret_text, datetime.now(UTC)))
    page.press("#code", "Enter")
    page.wait_for_url(lambda url: "/account/totp" not in url)
    enrolled_at = datetime.now(UTC)

    # Sign out, then in again: now the second step asks for a code (the next one: codes work once).
    page.click(".logout-button")
    page.wait_for_url(lambda url: "/login" in url)
    page.goto(base + "/login?next=/admin/settings")
    page.fill("#username", ADMIN[0])
    page.fill("#password", ADMIN[3])
    page.click("button.login-submit")
    page.wait_for_url(lambda url: "/login/totp" in url)
    page.fill("#code", "000000" if code_for(secret_text, enrolled_at) != "000000" else "111111")
    page.press("#code", "Enter")
    page.wait_for_selector("#totp-error")  # a wrong code is refused
    page.fill("#code", code_for(secret_text, enrolled_at + timedelta(seconds=30)))
    page.press("#code", "Enter")
    page.wait_for_selector("#settings-form")

    # An invalid value is refused with its reason, and nothing at all is saved.
    store = appliance.services.store
    page.fill("#f-kiosk_reset_s", "15")
    page.fill("#f-medical_institution_code", "123")
    page.click("#save-settings")
    page.wait_for_selector("#settings-invalid")
    assert "10" in page.inner_text("#error-medical_institution_code")
    assert store.stored_settings() == {}
    # A valid change is saved, audited under the admin, and applies after a restart.
    page.fill("#f-medical_institution_code", appliance.services.config.medical_institution_code)
    page.fill("#f-kiosk_reset_s", "15")
    page.click("#save-settings")
    page.wait_for_selector("#settings-saved")
    assert store.stored_settings() == {"kiosk_reset_s": "15.0"}
    changes = [e for e in store.audit_entries() if e.action == "setting.changed"]
    assert (
        changes and changes[0].actor == ADMIN[0] and changes[0].subject == "setting:kiosk_reset_s"
    )
    page.screenshot(path=str(SCREENSHOTS / "admin-settings.png"), full_page=True)

    for path, name in (("/admin/status", "admin-status"), ("/admin/users", "admin-users")):
        page.goto(base + path)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.goto(base + "/admin/audit")
    page.click("#verify-audit")
    verdict = page.wait_for_selector("#verify-result.ok")
    assert str(len(store.audit_entries())) in verdict.inner_text() or verdict.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "admin-audit.png"))
    context.close()


def test_a_manual_check_joins_the_live_list(appliance: Appliance, browser: Any) -> None:
    who = person("P025")  # no My Number card: a 資格確認書 holder
    born = date(int(who.birthdate[:4]), int(who.birthdate[4:6]), int(who.birthdate[6:]))
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()
    login(page, appliance.staff.base_url, RECEPTION)
    page.goto(appliance.staff.base_url + "/")
    page.wait_for_selector("#manual-check")

    # A worn card's typo: the wrong check digit is pointed out and nothing is sent.
    wrong = who.insurer_number[:-1] + str((int(who.insurer_number[-1]) + 1) % 10)
    page.fill("input[name=insurer_number]", wrong)
    page.fill("input[name=number]", who.number)
    page.fill("input[name=birthdate]", who.birthdate)
    page.click(".mc-submit")
    error = page.wait_for_selector("[data-error-for=insurer_number]:visible")
    assert "検証番号" in error.inner_text() or "check digit" in error.inner_text()
    assert appliance.services.store.count_confirmations() == 0

    # As typed at a busy desk: full-width digits and a 和暦 birth date.
    page.fill("input[name=insurer_number]", who.insurer_number.translate(FULL_WIDTH))
    page.fill("input[name=symbol]", who.symbol)
    page.fill("input[name=number]", who.number.translate(FULL_WIDTH))
    page.fill("input[name=branch]", who.branch)
    page.fill("input[name=birthdate]", f"{wareki(born)}.{born.month}.{born.day}")
    started = time.monotonic()
    page.click(".mc-submit")
    row = page.wait_for_selector("#confirmations tr[data-confirmation-id]", timeout=WAIT_MS)
    seconds = time.monotonic() - started
    assert who.name in row.inner_text()
    assert "有効" in row.query_selector(".badge").inner_text()
    assert page.input_value("input[name=insurer_number]") == ""  # ready for the next patient
    assert len(page.query_selector_all("#confirmations tr[data-confirmation-id]")) == 1
    page.screenshot(path=str(SCREENSHOTS / "reception-manual-check.png"), full_page=True)
    stored = appliance.services.store.recent_confirmations(datetime(2000, 1, 1, tzinfo=UTC), 5)
    assert [c.method for c in stored] == ["numbers"]
    print(f"manual check → row on the desk: {seconds * 1000:.0f} ms")
    context.close()
