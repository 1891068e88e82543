"""The doctor's view in a real browser: drug and checkup history only under valid consent.

Each patient goes through a real card visit (vpcd card, PIN and consent on the kiosk page,
simulated central over mutual TLS); the doctor then signs in on the staff listener. Expiry is
tested by moving the appliance's clock forward, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from device.appliance import Appliance
from sim.medical import drug_history
from sim.population import person
from sync.clock import JST

from .conftest import DOCTOR, RECEPTION, SCREENSHOTS, MovableClock, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000


def card_visit(appliance: Appliance, page: Any, person_id: str, consent: dict[str, bool]) -> int:
    """One kiosk visit with the given consent answers; returns the stored confirmation id."""
    sandbox = appliance.services.sandbox
    assert sandbox is not None
    page.goto(f"http://127.0.0.1:{appliance.kiosk.port}/")
    page.wait_for_selector("section[data-screen=welcome].active", timeout=WAIT_MS)
    sandbox.place(person_id)
    page.wait_for_selector("section[data-screen=pin].active", timeout=WAIT_MS)
    for digit in person(person_id).pin:
        page.click(f"button[data-digit='{digit}']")
    page.click("#pin-ok")
    page.wait_for_selector("section[data-screen=consent].active", timeout=WAIT_MS)
    if all(consent.values()):
        page.click("#consent-all")
    else:
        page.click("#consent-each")
        for kind, agreed in consent.items():
            answer = "yes" if agreed else "no"
            page.click(f"button.choice[data-kind={kind}][data-answer={answer}]")
        page.click("#consent-submit")
    page.wait_for_selector("section[data-screen=done].active", timeout=WAIT_MS)
    sandbox.remove()
    page.wait_for_selector("section[data-screen=welcome].active", timeout=WAIT_MS)
    outcome = appliance.services.flow.last_outcome
    assert outcome is not None and outcome.confirmation is not None
    return outcome.confirmation.id


def audited(appliance: Appliance, action: str, confirmation_id: int) -> list[str]:
    return [
        e.detail
        for e in appliance.services.store.audit_entries()
        if e.action == action and e.subject == f"confirmation:{confirmation_id}"
    ]


def test_doctor_sees_consented_drugs_and_is_refused_otherwise(
    appliance_factory: Callable[..., Appliance], browser: Any
) -> None:
    clock = MovableClock()
    appliance = appliance_factory(clock=clock)
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, locale="ja-JP"
    )
    kiosk = context.new_page()
    drugs_only = card_visit(appliance, kiosk, "P010", {"drug": True, "checkup": False})
    both = card_visit(appliance, kiosk, "P004", {"drug": True, "checkup": True})

    staff = appliance.staff.base_url
    doctor = context.new_page()
    login(doctor, staff, DOCTOR)
    doctor.goto(staff + "/")
    doctor.click("nav a[href='/clinical/']")  # the doctor's way in from the desk
    row = doctor.wait_for_selector(f"tr[data-confirmation-id='{drugs_only}']")
    assert person("P010").name in row.inner_text()
    assert row.query_selector("a.cl-chip[data-kind=drug]") is not None
    assert row.query_selector("a.cl-chip[data-kind=checkup]") is None  # nothing to open
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-list.png"), full_page=True)

    # Drugs: consented, so the timeline shows what the central holds for this patient.
    row.query_selector("a.cl-chip[data-kind=drug]").click()
    doctor.wait_for_selector("section.cl-month")
    today = datetime.now(UTC).astimezone(JST).date()
    expected = {
        d.name for m in drug_history(person("P010"), today) for x in m.dispensings for d in x.drugs
    }
    shown = doctor.inner_text("main")
    assert expected and any(name in shown for name in expected)
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-drug.png"))
    assert audited(appliance, "clinical.view", drugs_only) == ["drug online"]

    # Checkups: this patient said no to them.
    response = doctor.goto(f"{staff}/clinical/confirmations/{drugs_only}/checkup")
    assert response is not None and response.status == 403
    assert "同意していません" in doctor.inner_text(".cl-refused")
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-refused.png"), full_page=True)
    assert audited(appliance, "clinical.refused", drugs_only) == ["checkup:no_consent"]

    # The other patient agreed to both: the checkup table with a chart per item.
    doctor.goto(f"{staff}/clinical/confirmations/{both}/checkup")
    doctor.wait_for_selector("svg[role=img]")
    doctor.screenshot(path=str(SCREENSHOTS / "clinical-checkup.png"), full_page=True)

    # A day later the consent has run out (and so has the doctor's session).
    clock.advance(timedelta(hours=25))
    login(doctor, staff, DOCTOR)
    response = doctor.goto(f"{staff}/clinical/confirmations/{both}/drug")
    assert response is not None and response.status == 403
    assert "有効期限が過ぎています" in doctor.inner_text(".cl-refused")
    assert audited(appliance, "clinical.refused", both) == ["drug:expired"]
    # Nothing fetched outlives the consent: the purge job removes the cached copies.
    assert appliance.jobs.run_now("purge_clinical_cache") >= 2
    context.close()


def test_reception_staff_cannot_open_the_clinical_view(appliance: Appliance, browser: Any) -> None:
    context = browser.new_context(ignore_https_errors=True, locale="ja-JP")
    page = context.new_page()
    staff = appliance.staff.base_url
    response = page.goto(staff + "/clinical/")
    assert page.url.startswith(staff + "/login")  # anonymous: sign in first
    login(page, staff, RECEPTION)
    response = page.goto(staff + "/clinical/")
    assert response is not None and response.status == 403
    context.close()
