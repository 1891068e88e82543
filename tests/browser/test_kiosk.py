"""The patient's kiosk in a real browser, on the real card stack and the simulated central.

Cards are placed with the demo sandbox (a real vpcd card process); the kiosk page is driven
like a patient would, reception like staff would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from device.appliance import Appliance
from device.events import ConfirmationStored, VisitStarted, VisitStateChanged
from sim.population import person

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000


class Kiosk:
    def __init__(self, appliance: Appliance, page: Any) -> None:
        self.appliance = appliance
        self.page = page
        page.goto(f"http://127.0.0.1:{appliance.kiosk.port}/")
        self.wait("welcome")

    def wait(self, screen: str) -> Any:
        return self.page.wait_for_selector(f"section[data-screen={screen}].active", timeout=WAIT_MS)

    def place(self, person_id: str) -> None:
        sandbox = self.appliance.services.sandbox
        assert sandbox is not None
        sandbox.place(person_id)

    def remove(self) -> None:
        sandbox = self.appliance.services.sandbox
        assert sandbox is not None
        sandbox.remove()

    def type_pin(self, pin: str) -> None:
        self.wait("pin")
        for digit in pin:
            self.page.click(f"button[data-digit='{digit}']")
        self.page.click("#pin-ok")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1024, "height": 768}, locale="ja-JP"
    )
    yield context.new_page()
    context.close()


def stored_consents(appliance: Appliance) -> dict[str, str]:
    store = appliance.services.store
    last = store.recent_confirmations(store_epoch(), 1)
    assert last, "no confirmation stored"
    return {c.kind: c.flag for c in store.consents(last[0].id)}


def store_epoch() -> Any:
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC)


def test_full_visit_with_pin_and_agree_to_all(appliance: Appliance, page: Any) -> None:
    kiosk = Kiosk(appliance, page)
    kiosk.shot("kiosk-welcome")
    kiosk.place("P001")
    kiosk.type_pin(person("P001").pin)
    kiosk.wait("consent")
    # Only the kinds the clinic asks for (default: drugs and checkups) are on the screen.
    shown = [
        li.get_attribute("data-kind")
        for li in page.query_selector_all("#consent-kinds .consent-kind")
        if li.is_visible()
    ]
    assert shown == ["drug", "checkup"]
    kiosk.shot("kiosk-consent")
    page.click("#consent-all")
    kiosk.wait("done")
    kiosk.shot("kiosk-done")
    assert stored_consents(appliance) == {"drug": "1", "checkup": "1"}
    kiosk.remove()
    kiosk.wait("welcome")


def test_consent_one_kind_at_a_time_only_drugs(appliance: Appliance, page: Any) -> None:
    kiosk = Kiosk(appliance, page)
    kiosk.place("P001")
    kiosk.type_pin(person("P001").pin)
    kiosk.wait("consent")
    page.click("#consent-each")
    submit = page.locator("#consent-submit")
    assert submit.is_disabled()  # every kind needs an answer first
    page.click("button.choice[data-kind=drug][data-answer=yes]")
    assert submit.is_disabled()
    page.click("button.choice[data-kind=checkup][data-answer=no]")
    kiosk.shot("kiosk-consent-each")
    assert submit.is_enabled()
    submit.click()
    kiosk.wait("done")
    assert stored_consents(appliance) == {"drug": "1", "checkup": "0"}


def test_wrong_pin_twice_then_right(appliance: Appliance, page: Any) -> None:
    who = person("P002")
    wrong = "9999" if who.pin != "9999" else "8888"
    kiosk = Kiosk(appliance, page)
    kiosk.place(who.id)
    kiosk.type_pin(wrong)
    page.wait_for_selector("#wrong-pin:visible", timeout=WAIT_MS)
    page.wait_for_selector("#tries-left:has-text('残り 2 回')", timeout=WAIT_MS)
    kiosk.type_pin(wrong)
    page.wait_for_selector("#tries-left:has-text('残り 1 回')", timeout=WAIT_MS)
    assert page.is_visible("#last-try-warning")
    kiosk.type_pin(who.pin)
    kiosk.wait("consent")
    page.click("#consent-all")
    kiosk.wait("done")


def test_one_try_left_warns_and_offers_staff(appliance: Appliance, page: Any) -> None:
    kiosk = Kiosk(appliance, page)
    kiosk.place("P021")
    kiosk.wait("pin")
    page.wait_for_selector("#last-try-warning:visible", timeout=WAIT_MS)
    assert "残り 1 回" in page.inner_text("#tries-left")
    assert "urgent" in (page.get_attribute("#ask-staff", "class") or "")
    kiosk.shot("kiosk-last-try")
    page.click("#ask-staff")
    kiosk.wait("staff")
    kiosk.shot("kiosk-staff")
    visit = appliance.services.flow.current
    assert visit is not None and visit.state.value == "awaiting_staff"


def test_blocked_card_is_confirmed_visually_from_reception(
    appliance: Appliance, browser: Any
) -> None:
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}, locale="ja-JP"
    )
    staff = appliance.staff.base_url
    reception = context.new_page()
    login(reception, staff, RECEPTION)
    reception.goto(staff + "/")
    kiosk = Kiosk(appliance, context.new_page())
    kiosk.place("P022")
    kiosk.wait("blocked")
    kiosk.shot("kiosk-blocked")
    reception.wait_for_selector("#staff-alert:visible", timeout=WAIT_MS)
    assert "ロック" in reception.inner_text("#staff-alert")
    reception.screenshot(path=str(SCREENSHOTS / "reception-visual.png"), full_page=True)
    reception.click("#visual-check")
    reception.click("#visual-confirm-yes")  # asked once: 写真と本人を確認しました
    kiosk.wait("consent")
    kiosk.page.click("#consent-all")
    kiosk.wait("done")
    row = reception.wait_for_selector("#confirmations tr[data-confirmation-id]", timeout=WAIT_MS)
    assert person("P022").name in row.inner_text()
    assert f"目視 ({RECEPTION[1]})" in row.query_selector("td.method").inner_text()  # shown by name
    visit = appliance.services.store.visit(appliance.services.flow.last_outcome.visit_id)
    assert visit is not None and visit.method == "visual" and visit.staff == RECEPTION[0]
    context.close()


def test_idle_pin_screen_times_out_and_clears_the_page(
    appliance_factory: Callable[..., Appliance], page: Any
) -> None:
    appliance = appliance_factory(pin_timeout_s=2.0, kiosk_reset_s=1.0)
    kiosk = Kiosk(appliance, page)
    kiosk.place("P001")
    kiosk.wait("pin")
    page.click("button[data-digit='1']")
    page.click("button[data-digit='2']")
    assert len(page.query_selector_all("#pin-dots .dot.filled")) == 2
    error = kiosk.wait("error")
    assert "時間切れ" in error.inner_text()
    kiosk.shot("kiosk-timeout")
    kiosk.wait("welcome")
    assert page.query_selector_all("#pin-dots .dot.filled") == []
    assert page.inner_text("#error-text") == ""
    assert appliance.services.store.count_confirmations() == 0


def test_card_pulled_during_consent_resets_and_stores_nothing(
    appliance: Appliance, page: Any
) -> None:
    kiosk = Kiosk(appliance, page)
    kiosk.place("P001")
    kiosk.type_pin(person("P001").pin)
    kiosk.wait("consent")
    page.click("#consent-each")
    page.click("button.choice[data-kind=drug][data-answer=yes]")
    kiosk.remove()
    kiosk.wait("welcome")
    assert page.is_hidden("#consent-second")  # the half-made choice is gone
    assert appliance.services.store.count_confirmations() == 0


def test_a_late_answer_for_a_visit_that_ended_is_never_shown(
    appliance: Appliance, page: Any
) -> None:
    """The card left while the central was answering: whatever still arrives about that visit
    (its answer, its "done") must not appear to the patient who stands there next."""
    kiosk = Kiosk(appliance, page)
    kiosk.place("P001")
    kiosk.wait("pin")
    visit = appliance.services.flow.current
    assert visit is not None
    kiosk.remove()
    kiosk.wait("welcome")
    page.evaluate(
        """() => {
          window.shownScreens = [];
          new MutationObserver(() => {
            const active = document.querySelector("section[data-screen].active");
            if (active) { window.shownScreens.push(active.getAttribute("data-screen")); }
          }).observe(document.body, { subtree: true, attributeFilter: ["class"] });
        }"""
    )
    bus = appliance.services.bus
    bus.publish(VisitStateChanged(visit.id, "stored"))
    bus.publish(ConfirmationStored(999_999, visit.id))
    bus.publish(VisitStateChanged(visit.id, "done"))
    bus.publish(VisitStarted("f" * 16, "marker", visit.started_at))  # in order, after those
    kiosk.wait("reading")
    assert page.evaluate("window.shownScreens") == ["reading"]
    kiosk.place("P001")  # the next patient's own visit takes over from the marker
    kiosk.wait("pin")
    kiosk.remove()
    kiosk.wait("welcome")


def test_the_kiosk_cannot_reach_staff_pages(appliance: Appliance, page: Any) -> None:
    base = f"http://127.0.0.1:{appliance.kiosk.port}"
    for path in ("/login", "/sandbox", "/clinical/", "/api/confirmations", "/api/confirmations/1"):
        response = page.goto(base + path)
        assert response is not None and response.status == 404, path
    response = page.goto(base + "/")
    assert response is not None
    assert response.headers["cache-control"] == "no-store"
    # The PIN form never offers autofill.
    assert page.get_attribute("#pin-form", "autocomplete") == "off"
