"""Issue 12 through the real stack: the doctor's pages, the admin's settings and users, Japanese
screens in Japanese only, and a visit that leaves nothing alarming in the log.

Real pcscd + vpcd card, real mutual TLS to the simulated central, real SQLite, headless
Chromium; a numbers check (as a 資格確認書 holder is checked) goes through the same central.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from device.appliance import Appliance

from .conftest import DOCTOR, SCREENSHOTS, login
from .test_clinical_page import card_visit
from .test_read_api_page import as_typed, sign_in_as_admin
from .test_staff_pages import ADMIN

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_doctor_lands_on_clinical_reads_lines_axes_links_print_and_cannot_consent(
    appliance_factory: Callable[..., Appliance], browser: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    appliance = appliance_factory()
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    kiosk = context.new_page()
    both = card_visit(appliance, kiosk, "P004", {"drug": True, "checkup": True})
    # A patient checked by the numbers (資格確認書): no consent can exist for them.
    numbers = appliance.services.checks.check(as_typed("P025"), actor="uketsuke")
    staff = appliance.staff.base_url

    doctor = context.new_page()
    login(doctor, staff, DOCTOR)
    assert doctor.url == staff + "/clinical/"  # a doctor lands on 診療情報
    chip = doctor.wait_for_selector(f"tr[data-confirmation-id='{numbers.id}'] .cl-chip")
    assert chip.inner_text() == "同意不可（番号で確認）"

    # Drugs: one line per medicine (its periods as bars on a year/month axis) above the months.
    doctor.click(f"tr[data-confirmation-id='{both}'] a.cl-chip[data-kind=drug]")
    doctor.wait_for_selector(".cl-lines svg.period-bar")
    order = doctor.eval_on_selector_all(
        "section.cl-lines, section.cl-summary, section.cl-timeline",
        "els => els.map(e => e.className)",
    )
    assert order[0] == "cl-lines" and order[-1] == "cl-timeline"
    lines = doctor.query_selector_all("tr.cl-line")
    assert len(lines) >= 2
    assert re.search(r"\d{4}/\d\d/\d\d", lines[0].inner_text())  # its periods in words too
    assert "年" in doctor.inner_text(".cl-axis")
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-drug-lines.png"), full_page=False)

    # Print: no navigation, the record only.
    doctor.emulate_media(media="print")
    assert not doctor.is_visible(".topbar") and not doctor.is_visible(".cl-views")
    assert doctor.is_visible(".cl-lines") and doctor.is_visible(".cl-patient")
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-print.png"), full_page=False)
    doctor.emulate_media(media="screen")

    # The link to the same patient's checkups; columns and charts run oldest → newest.
    doctor.click("a.cl-view[data-kind=checkup]")
    doctor.wait_for_selector("svg.chart")
    dates = [d.inner_text() for d in doctor.query_selector_all("th.cl-exam .cl-date")]
    assert len(dates) >= 2 and dates == sorted(dates)
    chart = doctor.query_selector("svg.chart")
    assert chart is not None
    years = [t.text_content() or "" for t in chart.query_selector_all("text.chart-date")]
    assert years and years == sorted(years) and years[0][:4] == dates[0][:4]
    assert chart.query_selector("text.chart-tick") is not None  # the value axis is labelled
    assert doctor.query_selector(f"a.cl-view[data-kind=drug][href$='/{both}/drug']")
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-checkup-axes.png"), full_page=True)

    # The numbers-checked patient: refused with that reason, never "did not agree".
    response = doctor.goto(f"{staff}/clinical/confirmations/{numbers.id}/drug")
    assert response is not None and response.status == 403
    refused = doctor.inner_text(".cl-refused")
    assert "資格確認書" in refused and "同意していません" not in refused
    assert "notebook" not in refused  # Japanese page, Japanese only
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-cannot-consent.png"), full_page=True)
    context.close()

    # A normal visit and the doctor's views leave no traceback, warning or TLS-EOF noise above
    # DEBUG (the browser closing its live streams is expected: DEBUG only).
    loud = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING
        or (r.levelno >= logging.INFO and (r.exc_info or "EOF" in r.getMessage()))
    ]
    assert loud == [], [f"{r.levelname} {r.name}: {r.getMessage()}" for r in loud]


def test_admin_settings_groups_focus_users_danger_status_audit_in_japanese(
    appliance: Appliance, browser: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    accounts = appliance.services.accounts
    assert accounts is not None
    accounts.create_user(ADMIN[0], ADMIN[1], ADMIN[2], ADMIN[3], actor="test")
    base = appliance.staff.base_url
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()
    sign_in_as_admin(page, base)

    # Settings in their groups, with Japanese names; an invalid value takes the focus.
    page.goto(base + "/admin/settings")
    groups = page.eval_on_selector_all("section.settings-group h2", "els => els.map(e => e.id)")
    assert groups == [
        f"group-{g}-title"
        for g in ("reader", "kiosk", "central", "security", "retention", "system")
    ]
    assert page.is_visible("#group-central label[for=f-medical_institution_code]")
    page.fill("#f-medical_institution_code", "123")
    page.fill("#f-reader_backend", "nfc")  # a text field: the browser lets it through
    page.click("#save-settings")
    page.wait_for_selector("#settings-invalid")
    # the first refused field in the page's order (the reader before the central) has the focus
    assert page.evaluate("document.activeElement.id") == "f-reader_backend"
    reason = page.inner_text("#error-medical_institution_code")
    assert "10桁" in reason and "digits" not in reason
    assert page.get_attribute("#f-medical_institution_code", "aria-invalid") == "true"
    page.screenshot(path=str(SCREENSHOTS / "admin-settings-invalid.png"), full_page=False)
    assert appliance.services.store.stored_settings() == {}

    # Users: no disable on one's own row; on another a danger step, confirmed in words.
    page.goto(base + "/admin/users")
    me = accounts.list_users()
    mine = next(u for u in me if u.username == ADMIN[0])
    doctor = next(u for u in me if u.username == DOCTOR[0])
    assert page.query_selector(f"#user-{mine.id} form input[name=disabled]") is None
    page.click(f"#user-{doctor.id} summary.danger")
    warning = page.inner_text(f"#user-{doctor.id} .danger-warning")
    assert DOCTOR[1] in warning and "ログアウト" in warning
    colour = page.eval_on_selector(
        f"#user-{doctor.id} button.disable-confirm", "b => getComputedStyle(b).backgroundColor"
    )
    assert colour.startswith("rgb(") and colour != "rgb(0, 0, 0)"
    page.screenshot(path=str(SCREENSHOTS / "admin-users-disable.png"), full_page=False)
    page.click(f"#user-{doctor.id} button.disable-confirm")
    page.wait_for_selector("#user-done")
    assert next(u for u in accounts.list_users() if u.username == DOCTOR[0]).disabled

    # Japanese screens in Japanese only: the status page and the audit list (display names).
    page.goto(base + "/admin/status")
    status = page.inner_text("#status")
    assert not re.search(r" / [a-z]", status), status  # no "日本語 / English" findings
    page.screenshot(path=str(SCREENSHOTS / "admin-status-ja.png"), full_page=True)
    page.goto(base + "/admin/audit")
    actors = [a.inner_text() for a in page.query_selector_all("td.actor a")]
    assert ADMIN[1] in actors and ADMIN[0] not in actors
    assert "職員を無効に" in page.inner_text("#audit")
    page.screenshot(path=str(SCREENSHOTS / "admin-audit-names.png"), full_page=False)
    page.goto(base + "/admin/status?lang=en")
    assert "Central service" in page.inner_text("#status")
    context.close()

    # Clients that go away (a bare TCP close, a TLS handshake then nothing, half a request)
    # are expected on a LAN: none of them is logged above DEBUG.
    host, port = "127.0.0.1", appliance.staff.port
    unchecked = ssl.create_default_context()
    unchecked.check_hostname = False
    unchecked.verify_mode = ssl.CERT_NONE
    socket.create_connection((host, port)).close()
    with unchecked.wrap_socket(socket.create_connection((host, port)), server_hostname=host):
        pass
    half = unchecked.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    half.sendall(b"GET /login HTTP/1.1\r\nHo")
    half.close()
    page = browser.new_context(locale="ja-JP").new_page()  # refuses the self-signed certificate
    with pytest.raises(Exception, match="CERT"):
        page.goto(base + "/login")
    page.context.close()
    appliance.staff.stop()  # waits for the server's threads: anything they log is in
    loud = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING
        or (r.levelno >= logging.INFO and (r.exc_info or "EOF" in r.getMessage()))
    ]
    assert loud == [], [f"{r.levelname} {r.name}: {r.getMessage()}" for r in loud]
