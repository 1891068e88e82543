"""The doctor's view offers the history as the central's PDF, in a real browser: the link beside
the page, the PDF served inline to a signed-in doctor under consent, refused without it.

A real card visit (vpcd card, PIN and consent on the kiosk page, the simulated central over
mutual TLS, which answers a FileCategory 1 request with its PDF)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from device.appliance import Appliance

from .conftest import DOCTOR, SCREENSHOTS, login
from .test_clinical_page import audited, card_visit

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_the_pdf_link_opens_the_pdf_under_consent_and_is_refused_without(
    appliance_factory: Callable[..., Appliance], browser: Any
) -> None:
    appliance = appliance_factory()
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    cid = card_visit(appliance, context.new_page(), "P010", {"drug": True, "checkup": False})
    staff = appliance.staff.base_url
    doctor = context.new_page()
    login(doctor, staff, DOCTOR)
    doctor.goto(f"{staff}/clinical/confirmations/{cid}/drug")
    link = doctor.wait_for_selector("a.cl-pdf-link")
    assert link.is_visible() and link.inner_text() == "PDFで開く"
    href = link.get_attribute("href")
    assert href == f"/clinical/confirmations/{cid}/drug.pdf"
    assert link.get_attribute("target") == "_blank"
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-drug-pdf-link.png"))

    # What the link opens, with this browser's session: the PDF itself, inline, never cached.
    response = doctor.request.get(staff + href)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="drug-{cid}.pdf"'
    assert response.headers["cache-control"] == "no-store"
    body = response.body()
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    # newest first
    assert audited(appliance, "clinical.view", cid) == ["drug.pdf online", "drug online"]

    # No consent to checkups: the page and the PDF alike are refused, and say why.
    refused = doctor.goto(f"{staff}/clinical/confirmations/{cid}/checkup.pdf")
    assert refused is not None and refused.status == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "同意していません" in doctor.inner_text(".cl-refused")
    assert audited(appliance, "clinical.refused", cid) == ["checkup.pdf:no_consent"]

    # Signed out, the link leads to the sign-in page, not to the PDF.
    anonymous = browser.new_context(ignore_https_errors=True, locale="ja-JP")
    page = anonymous.new_page()
    page.goto(staff + href)
    assert page.url.startswith(staff + "/login")
    anonymous.close()
    context.close()
