"""The patient's kiosk in a real browser, on the real card stack and the simulated central.

Cards are placed with the demo sandbox (a real vpcd card process); the kiosk page is driven
like a patient would, reception like staff would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from device.appliance import Appliance
from device.events import CardLeftOnReader, ConfirmationStored, VisitStarted, VisitStateChanged
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
        ignore_https_errors=True, viewport={"width": 800, "height": 480}, locale="ja-JP"
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
    kiosk.wait("take_card")  # the card is still on the reader: asked for before the start
    kiosk.remove()
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


# -- issue 12: every screen fits, the 2025 card rules, a card left behind, out of service ---

KIOSK_SIZES = ((800, 480), (1024, 600))  # the Raspberry Pi 7" display, and a 1024×600 one
MIN_FONT_PX = 20.0
MIN_TARGET_PX = 48.0

# What the page measures: does the active screen fit (nothing past the viewport or out of its
# screen box), the smallest text on it, the lowest touch target.
MEASURE_JS = """() => {
  const vw = window.innerWidth, vh = window.innerHeight;
  const out = [];
  let minFont = Infinity, minTarget = Infinity;
  for (const el of document.querySelectorAll("body *")) {
    if (!el.checkVisibility()) { continue; }
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) { continue; }
    if (r.bottom > vh + 0.5 || r.right > vw + 0.5 || r.top < -0.5 || r.left < -0.5) {
      out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "." + el.className);
    }
    const text = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (text) { minFont = Math.min(minFont, parseFloat(getComputedStyle(el).fontSize)); }
    if (el.matches("button, a[href], input, select, [role=button]")) {
      minTarget = Math.min(minTarget, r.height);
    }
  }
  const screen = document.querySelector("section[data-screen].active");
  if (screen && screen.scrollHeight > screen.clientHeight + 1) { out.push("screen overflows"); }
  const doc = document.documentElement;
  if (doc.scrollHeight > vh || doc.scrollWidth > vw) { out.push("page scrolls"); }
  return {
    screen: screen ? screen.getAttribute("data-screen") : "",
    overflow: out,
    minFont: minFont === Infinity ? null : minFont,
    minTarget: minTarget === Infinity ? null : minTarget,
  };
}"""


def measure(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(MEASURE_JS)
    return result


def assert_fits(page: Any, sizes: tuple[tuple[int, int], ...] = KIOSK_SIZES) -> list[Any]:
    """The active screen at each kiosk size: fits, text ≥ 20 px, targets ≥ 48 px high."""
    rows = []
    for width, height in sizes:
        page.set_viewport_size({"width": width, "height": height})
        m = measure(page)
        where = f"{m['screen']} at {width}×{height}"
        assert m["overflow"] == [], f"{where}: {m['overflow']}"
        assert m["minFont"] is None or m["minFont"] >= MIN_FONT_PX, f"{where}: {m}"
        assert m["minTarget"] is None or m["minTarget"] >= MIN_TARGET_PX, f"{where}: {m}"
        rows.append((m["screen"], width, height, m["minFont"], m["minTarget"]))
    return rows


@pytest.fixture
def small_page(browser: Any) -> Iterator[Any]:
    """The Raspberry Pi 7" display."""
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="ja-JP")
    yield context.new_page()
    context.close()


# Every screen with the most it can hold at once: the card notice (the longer, grace one) over
# the visit's screens, the last-try warning on the PIN screen, every consent kind one by one,
# the longest reason on the error screen, the central's outage banner on the start screen.
SHOW_SCREEN_JS = """([name, notice, reason]) => {
  document.querySelectorAll("section[data-screen]").forEach(s => {
    const on = s.getAttribute("data-screen") === name;
    s.classList.toggle("active", on);
    s.hidden = !on;
  });
  const n = document.getElementById("card-notice");
  n.hidden = !notice;
  n.className = "card-notice grace";
  n.textContent = n.getAttribute("data-grace").replace("{date}", "2026年12月31日");
  document.getElementById("central-outage").hidden = name !== "welcome";
  const tries = document.getElementById("tries-left");
  tries.textContent = tries.getAttribute("data-template").replace("{n}", "1");
  document.getElementById("wrong-pin").hidden = false;
  document.getElementById("last-try-warning").hidden = false;
  document.getElementById("ask-staff").classList.add("urgent");
  document.querySelectorAll("#consent-kinds .consent-kind").forEach(li => {
    li.hidden = false;
    li.querySelector(".consent-choice").hidden = false;
  });
  document.getElementById("consent-first").hidden = true;
  document.getElementById("consent-second").hidden = false;
  document.querySelector("section[data-screen=consent]").classList.add("each");
  document.body.setAttribute("data-screen", name);
  document.getElementById("error-text").textContent = reason;
}"""

VISIT_SCREENS = ("reading", "pin", "staff", "consent", "checking", "done", "see_desk", "blocked")
ALL_SCREENS = (
    "welcome",
    *VISIT_SCREENS,
    "offline_done",
    "error",
    "grace_over",
    "take_card",
    "out_of_service",
)


def test_every_kiosk_screen_fits_both_displays_in_both_languages(
    appliance_factory: Callable[..., Appliance], browser: Any
) -> None:
    """Each screen of the page the appliance serves, filled with the most it can show."""
    from web.present import STRINGS

    appliance = appliance_factory(consent_kinds="drug,checkup,diagnosis,surgery")
    table = []
    for lang in ("ja", "en"):
        context = browser.new_context(viewport={"width": 800, "height": 480}, locale="ja-JP")
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{appliance.kiosk.port}/?lang={lang}")
        page.wait_for_selector("section[data-screen=welcome].active", timeout=WAIT_MS)
        index = 0 if lang == "ja" else 1
        reasons = [
            v[index] for k, v in STRINGS.items() if k.startswith(("kiosk_reason_", "reason"))
        ]
        longest = max(reasons, key=len)
        for name in ALL_SCREENS:
            page.evaluate(SHOW_SCREEN_JS, [name, name in VISIT_SCREENS, longest])
            for row in assert_fits(page):
                table.append((lang, *row))
            if lang == "ja":
                page.set_viewport_size({"width": 800, "height": 480})
                page.screenshot(path=str(SCREENSHOTS / f"kiosk-800x480-{name}.png"))
        context.close()
    for row in table:
        print("kiosk size", *row)
    assert {r[1] for r in table} == set(ALL_SCREENS)


# Records every screen the page shows, to prove one was never shown.
WATCH_SCREENS_JS = """() => {
  window.shownScreens = [];
  new MutationObserver(() => {
    const active = document.querySelector("section[data-screen].active");
    const name = active ? active.getAttribute("data-screen") : "";
    if (name && window.shownScreens[window.shownScreens.length - 1] !== name) {
      window.shownScreens.push(name);
    }
  }).observe(document.body, { subtree: true, attributeFilter: ["class"] });
}"""


def test_a_card_near_expiry_is_told_to_renew_and_the_visit_goes_on(
    appliance: Appliance, small_page: Any
) -> None:
    kiosk = Kiosk(appliance, small_page)
    kiosk.place("P049")
    kiosk.wait("pin")
    notice = small_page.wait_for_selector("#card-notice.renew:visible", timeout=WAIT_MS)
    assert "市区町村の窓口で更新" in notice.inner_text() and "年" in notice.inner_text()
    assert_fits(small_page)
    small_page.set_viewport_size({"width": 800, "height": 480})
    kiosk.shot("kiosk-renew")
    kiosk.type_pin(person("P049").pin)
    kiosk.wait("consent")
    small_page.click("#consent-all")
    kiosk.wait("done")
    assert small_page.is_visible("#card-notice")  # said again as the visit ends
    assert stored_consents(appliance) == {"drug": "1", "checkup": "1"}
    kiosk.remove()
    kiosk.wait("welcome")
    assert small_page.is_hidden("#card-notice")  # not for the next patient


def test_within_grace_no_consent_is_asked_and_the_kiosk_says_why(
    appliance: Appliance, small_page: Any
) -> None:
    kiosk = Kiosk(appliance, small_page)
    small_page.evaluate(WATCH_SCREENS_JS)
    kiosk.place("P050")
    kiosk.wait("pin")
    notice = small_page.wait_for_selector("#card-notice.grace:visible", timeout=WAIT_MS)
    assert "同意はできません" in notice.inner_text()
    assert_fits(small_page)
    small_page.set_viewport_size({"width": 800, "height": 480})
    kiosk.shot("kiosk-grace")
    kiosk.type_pin(person("P050").pin)
    kiosk.wait("done")
    assert "consent" not in small_page.evaluate("window.shownScreens")
    assert small_page.is_visible("#card-notice.grace")
    assert_fits(small_page)
    assert stored_consents(appliance) == {}  # the request recorded no consent
    kiosk.remove()
    kiosk.wait("welcome")


def test_past_grace_no_pin_the_patient_goes_to_the_desk_and_the_desk_is_told(
    appliance: Appliance, browser: Any
) -> None:
    staff_context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1366, "height": 768}, locale="ja-JP"
    )
    reception = staff_context.new_page()
    login(reception, appliance.staff.base_url, RECEPTION)
    reception.goto(appliance.staff.base_url + "/")
    bus_events = appliance.services.bus.subscribe()
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="ja-JP")
    kiosk = Kiosk(appliance, context.new_page())
    kiosk.page.evaluate(WATCH_SCREENS_JS)
    kiosk.place("P019")
    screen = kiosk.wait("grace_over")
    assert "資格確認書" in screen.inner_text()
    assert "pin" not in kiosk.page.evaluate("window.shownScreens")  # no PIN was asked
    assert_fits(kiosk.page)
    kiosk.page.set_viewport_size({"width": 800, "height": 480})
    kiosk.shot("kiosk-grace-over")
    # The desk: the next step, now (the visit_failed notice) and as a typed event on the bus.
    reception.wait_for_selector("text=猶予期間終了", timeout=WAIT_MS)
    reception.screenshot(path=str(SCREENSHOTS / "reception-grace-over.png"))
    seen = []
    while (event := bus_events.get(timeout=5)) is not None:
        seen.append(type(event).__name__)
        if seen[-1] == "VisitFailed":
            break
    bus_events.close()
    assert "CardGraceOver" in seen and "PinRequested" not in seen
    assert appliance.services.store.count_confirmations() == 0
    kiosk.remove()
    kiosk.wait("welcome")
    context.close()
    staff_context.close()


def test_not_found_never_says_done_it_sends_the_patient_to_the_desk(
    appliance: Appliance, small_page: Any
) -> None:
    kiosk = Kiosk(appliance, small_page)
    small_page.evaluate(WATCH_SCREENS_JS)
    kiosk.place("P016")  # not registered: the central answers 該当資格なし
    kiosk.type_pin(person("P016").pin)
    kiosk.wait("consent")
    small_page.click("#consent-all")
    screen = kiosk.wait("see_desk")
    assert "受付にお声がけください" in screen.inner_text()
    assert "確認が終わりました" not in small_page.inner_text("body")
    assert "done" not in small_page.evaluate("window.shownScreens")
    assert_fits(small_page)
    small_page.set_viewport_size({"width": 800, "height": 480})
    kiosk.shot("kiosk-see-desk")
    kiosk.remove()
    kiosk.wait("welcome")


def test_a_card_left_on_the_reader_is_asked_for_and_reported(
    appliance_factory: Callable[..., Appliance], small_page: Any
) -> None:
    appliance = appliance_factory(kiosk_reset_s=1.0, card_left_alert_s=2.0)
    bus_events = appliance.services.bus.subscribe()
    kiosk = Kiosk(appliance, small_page)
    kiosk.place("P001")
    kiosk.type_pin(person("P001").pin)
    kiosk.wait("consent")
    small_page.click("#consent-all")
    kiosk.wait("done")
    screen = kiosk.wait("take_card")  # after the done screen, while the card stays
    assert "カードをお取りください" in screen.inner_text()
    assert_fits(small_page)
    small_page.set_viewport_size({"width": 800, "height": 480})
    kiosk.shot("kiosk-take-card")
    left = None
    while (event := bus_events.get(timeout=10)) is not None:
        if isinstance(event, CardLeftOnReader):
            left = event
            break
    bus_events.close()
    assert left is not None and left.seconds == 2.0
    assert left.visit_id == appliance.services.flow.last_outcome.visit_id  # type: ignore[union-attr]
    # A reloaded page still asks for it (the appliance remembers the card left behind).
    small_page.reload()
    kiosk.wait("take_card")
    kiosk.remove()
    kiosk.wait("welcome")
    assert appliance.services.flow.card_left is None


def test_out_of_service_while_the_appliance_is_unreachable_and_back_by_itself(
    appliance_factory: Callable[..., Appliance], small_page: Any, free_tcp_port: int
) -> None:
    from web.app import create_kiosk_app
    from web.server import WebServer

    # A fixed port, as on the box (an ephemeral one is not reusable while its old
    # connections wait out TIME_WAIT).
    appliance = appliance_factory(kiosk_port=free_tcp_port)
    kiosk = Kiosk(appliance, small_page)
    port = appliance.kiosk.port
    appliance.kiosk.stop()  # the stream ends, reconnecting is refused
    screen = kiosk.wait("out_of_service")
    assert "受付にお声がけください" in screen.inner_text()
    assert small_page.is_hidden("#lang-switch")  # nothing to load from a listener that is gone
    assert_fits(small_page)
    small_page.set_viewport_size({"width": 800, "height": 480})
    kiosk.shot("kiosk-out-of-service")
    config = appliance.services.config
    # The listener comes back on its port, as after a restart.
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        listener = WebServer(
            create_kiosk_app(config, appliance.services),
            "127.0.0.1",
            port,
            config.web_threads,
            timeout_s=config.web_timeout_s,
            max_streams=config.event_streams_max,
        )
        try:
            listener.start()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    appliance.kiosk = listener
    kiosk.wait("welcome")  # back by itself, without a reload
    kiosk.place("P001")  # and it follows visits again
    kiosk.wait("pin")
    kiosk.remove()
    kiosk.wait("welcome")
