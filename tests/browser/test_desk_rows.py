"""The reception desk as a busy clinic uses it, in Chromium on the real stack (pcscd + vpcd,
mTLS to the simulated central, SQLite): a card visit that named nobody says which visit it was
and offers 「番号で照会」 linked to it; what a visit leaves for staff stays until someone
acknowledges it, across a reload; 目視確認 is confirmed once and records the clerk's name;
expired 限度額 / 高齢受給者 periods are marked; the desk fits 1366×768 (≥ 10 rows) and half
width (683 px); it greys the reader state while the appliance is unreachable and reloads itself
after a restart; search finds by surname, given name or insurer alone and says what it could
not read."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from device.checks import NumbersInput
from device.events import CardLeftOnReader
from device.tls import staff_certificate
from sim.population import person
from web.app import create_staff_app
from web.server import WebServer

from .conftest import READER, RECEPTION, SCREENSHOTS, login
from .test_kiosk import Kiosk

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NAMELESS_ROW = "tr[data-confirmation-id]:has(.visit-note:not([hidden]))"
# People checked by numbers to fill the desk (valid answers, with names of every length).
FILL = ("P001", "P002", "P003", "P004", "P006", "P008", "P024", "P026", "P027", "P028", "P029")


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Into the tests' screenshots and docs/ (where the README's live)."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    shutil.copyfile(path, DOCS / path.name)


def numbers_of(person_id: str) -> NumbersInput:
    who = person(person_id)
    return NumbersInput(
        who.insurer_number, who.symbol, who.number, who.branch, who.birthdate, limit_consent=True
    )


@pytest.fixture
def kiosk_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1024, "height": 600}, locale="ja-JP")
    yield context.new_page()
    context.close()


@pytest.fixture
def desk_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1366, "height": 768}, locale="ja-JP"
    )
    yield context
    context.close()


def free_port() -> int:
    """A port to give the staff listener outright: one bound by number is rebound at once
    after a stop (SO_REUSEADDR), where an ephemeral one waits out its TIME_WAIT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_desk_on_its_first_morning(
    appliance_factory: Callable[..., Appliance], kiosk_page: Any, desk_context: Any
) -> None:
    appliance = appliance_factory(staff_port=free_port())
    staff = appliance.staff.base_url
    store = appliance.services.store
    desk = desk_context.new_page()
    login(desk, staff, RECEPTION)
    desk.goto(staff + "/")
    desk.wait_for_selector("#manual-check")
    kiosk = Kiosk(appliance, kiosk_page)

    # 1. A card the central does not know: the row says which visit it was, and offers
    # 「番号で照会」 (linked to that visit), not 再照会 (nothing to ask with).
    stranger = person("P016")
    kiosk.place(stranger.id)
    kiosk.type_pin(stranger.pin)
    kiosk_page.wait_for_selector(
        "section[data-screen=consent].active, section[data-screen=done].active, "
        "section[data-screen=error].active",
        timeout=WAIT_MS,
    )
    if kiosk_page.is_visible("section[data-screen=consent].active"):
        kiosk_page.click("#consent-all")
    nameless = desk.locator(NAMELESS_ROW).first
    nameless.wait_for(timeout=WAIT_MS)
    note = nameless.locator(".visit-note").inner_text()
    time_shown = nameless.locator("[data-field=time]").inner_text()
    assert time_shown in note and "暗証番号" in note and "該当" in note, note
    assert nameless.locator("[data-recheck]").is_hidden()
    nameless.locator("[data-numbers-for]").click()
    assert time_shown in desk.inner_text("#mc-for-visit")
    kiosk.remove()
    kiosk.wait("welcome")

    # 2. A locked PIN: the desk keeps an alert; 目視確認 asks once and records the clerk.
    blocked = person("P022")
    kiosk.place(blocked.id)
    desk.wait_for_selector("#desk-alerts li[data-kind=pin_blocked]", timeout=WAIT_MS)
    desk.click("#visual-check")
    assert desk.is_visible("#visual-confirm")
    assert "写真と本人を確認しました" in desk.inner_text("#visual-confirm-yes")
    shot(desk, "desk-visual-confirm")
    desk.click("#visual-confirm-yes")
    kiosk_page.wait_for_selector(
        "section[data-screen=consent].active, section[data-screen=done].active", timeout=WAIT_MS
    )
    if kiosk_page.is_visible("section[data-screen=consent].active"):
        kiosk_page.click("#consent-all")
    visual_row = desk.locator(f"tr[data-confirmation-id]:has-text('{blocked.name}')").first
    visual_row.wait_for(timeout=WAIT_MS)
    assert RECEPTION[1] in visual_row.locator("[data-field=method]").inner_text()
    confirmed = [e for e in store.audit_entries(200) if e.action == "visit.visual_confirmed"]
    assert confirmed and confirmed[0].detail == RECEPTION[1]
    kiosk.remove()
    kiosk.wait("welcome")

    # A card left on the reader (the kiosk's event): kept, shown live.
    appliance.services.bus.publish(CardLeftOnReader("1", READER, 20.0))
    desk.wait_for_selector("#desk-alerts li[data-kind=card_left]", timeout=WAIT_MS)

    # 4. 限度額 and 高齢受給者 whose periods ended by the appliance's clock are marked.
    checks = appliance.services.checks
    for who in ("P010", "P011"):
        checks.check(numbers_of(who), actor=RECEPTION[0])
    for who in FILL:  # a busy morning
        checks.check(numbers_of(who), actor=RECEPTION[0])

    desk.reload()  # alerts are kept on the appliance: still there after a reload
    alerts = desk.locator("#desk-alerts li[data-alert-id]")
    kinds = {alerts.nth(i).get_attribute("data-kind") for i in range(alerts.count())}
    assert {"pin_blocked", "card_left"} <= kinds
    today = store.now().date()
    capped = desk.locator(f"tr[data-confirmation-id]:has-text('{person('P010').name}')").first
    limit = capped.locator(".limit")
    assert (limit.get_attribute("data-expired") is not None) == (today > date(2026, 7, 31))
    assert ("期限切れ" in limit.inner_text()) == (today > date(2026, 7, 31))
    elderly = desk.locator(f"tr[data-confirmation-id]:has-text('{person('P011').name}')").first
    elderly_end = date(1952 + 75, 4, 14)  # the day before the 75th birthday
    assert (elderly.locator(".elderly").get_attribute("data-expired") is not None) == (
        today > elderly_end
    )

    # 5. 1366×768: at least 10 rows in view, no name broken a character per line.
    fit = desk.evaluate(FIT)
    print(f"rows in view at 1366x768: {fit['inView']} of {fit['rows']}")
    shot(desk, "reception")
    assert fit["rows"] >= 14
    assert fit["inView"] >= 10, fit
    assert fit["tall"] == 0 and fit["wide"] <= 0, fit

    # Acknowledged by a person: recorded with their display name, gone after a reload.
    first = alerts.first
    first_id = first.get_attribute("data-alert-id")
    first.locator("[data-acknowledge]").click()
    desk.wait_for_selector(f"#desk-alerts li[data-alert-id='{first_id}']", state="detached")
    acked = store.desk_alert(int(first_id or 0))
    assert acked is not None and acked.acknowledged_name == RECEPTION[1]
    desk.reload()
    assert desk.locator(f"#desk-alerts li[data-alert-id='{first_id}']").count() == 0

    # Number fields fit their longest value; an error does not move the form.
    desk.fill("input[name=symbol]", "9" * 20)
    desk.fill("input[name=number]", "8" * 20)
    desk.fill("input[name=insurer_number]", "06138127")
    overflow = desk.evaluate(
        """() => ['insurer_number', 'symbol', 'number'].map(n => {
            const el = document.querySelector(`input[name=${n}]`);
            return el.scrollWidth - el.clientWidth; })"""
    )
    assert max(overflow) <= 0, overflow
    before = desk.evaluate(LAYOUT)
    desk.fill("input[name=insurer_number]", "06138128")  # a wrong check digit
    desk.fill("input[name=birthdate]", "2999-01-01")
    desk.click(".mc-submit")
    desk.wait_for_selector("[data-error-for=insurer_number]:not([hidden])")
    assert desk.evaluate(LAYOUT) == before
    shot(desk, "reception-manual-check")

    # Half width, beside the kiosk: nothing runs off the screen.
    desk.set_viewport_size({"width": 683, "height": 768})
    desk.reload()
    off = desk.evaluate(OFF_SCREEN)
    assert off == [], off
    shot(desk, "reception-half-width", full_page=True)
    desk.set_viewport_size({"width": 1366, "height": 768})

    # 7. Search: surname alone, given name alone, insurer alone; kanji said plainly.
    def search(q: str) -> Any:
        desk.goto(staff + "/search?q=" + q)
        return desk

    found = search("サトウ").inner_text("#search-results")
    assert person("P001").name in found and person("P002").name in found
    assert person("P004").name not in found
    assert person("P003").name in search("はると").inner_text("#search-results")
    by_insurer = search(person("P008").insurer_number).inner_text("#search-results")
    assert person("P008").name in by_insurer and person("P001").name not in by_insurer
    shot(search("サトウ"), "reception-search", full_page=True)
    assert "カナ" in search("佐藤").inner_text(".search-error")
    unread = search("12a45").inner_text(".search-error")
    assert "12a45" in unread

    # 6. The appliance unreachable: the reader's state greys; back: it clears; restarted:
    # the page reloads itself.
    desk.goto(staff + "/")
    desk.wait_for_selector("#desk-status")
    desk.wait_for_function("() => document.querySelector('#live-lost').hidden")
    desk.evaluate("window.__same_page = true")
    appliance.staff.stop()
    desk.wait_for_selector("#desk-status.unreachable", timeout=WAIT_MS)
    assert "接続できません" in desk.inner_text("#desk-status")
    shot(desk, "reception-unreachable")
    certificate, private_key = staff_certificate(appliance.services.config)
    restarted = WebServer(  # the appliance rebuilt (as `onshi run` does after a restart)
        create_staff_app(appliance.services.config, appliance.services),
        "127.0.0.1",
        int(staff.rsplit(":", 1)[1]),
        4,
        certificate=certificate,
        private_key=private_key,
    )
    start_when_free(restarted)
    appliance.staff = restarted  # stopped with the appliance
    desk.wait_for_function("() => window.__same_page === undefined", timeout=90_000)  # reloaded
    desk.wait_for_selector("#desk-status:not(.unreachable)", timeout=WAIT_MS)


def start_when_free(server: WebServer) -> None:
    """Bind the port the stopped server had, once the system lets it go."""
    deadline = time.monotonic() + 30
    while True:
        try:
            server.start()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


FIT = """() => {
    const rows = [...document.querySelectorAll('#confirmations tr[data-confirmation-id]')];
    const inView = rows.filter(r => r.getBoundingClientRect().bottom <= window.innerHeight);
    const names = [...document.querySelectorAll('#confirmations .name')]
        .filter(n => n.textContent);
    const tall = names.filter(n => {
        const line = parseFloat(getComputedStyle(n).lineHeight);
        return n.getBoundingClientRect().height > line * 1.5;
    });
    return {rows: rows.length, inView: inView.length, tall: tall.length,
            wide: document.documentElement.scrollWidth - window.innerWidth};
}"""

LAYOUT = """() => {
    const form = document.getElementById('manual-check').getBoundingClientRect();
    const inputs = [...document.querySelectorAll('#manual-check input, #manual-check button')]
        .map(el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.width]; });
    const table = document.getElementById('confirmations').getBoundingClientRect().top;
    return {height: form.height, inputs, table};
}"""

OFF_SCREEN = """() => {
    const width = document.documentElement.clientWidth;
    const off = [];
    for (const el of document.querySelectorAll('body *')) {
        if (el.closest('[hidden], template')) continue;
        const r = el.getBoundingClientRect();
        if (r.width && (r.right > width + 0.5 || r.left < -0.5)) {
            off.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right));
        }
    }
    return off.slice(0, 10);
}"""
