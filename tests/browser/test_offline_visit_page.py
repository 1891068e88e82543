"""Card visits while the central is unreachable, in a real browser on the real card stack:
the kiosk ends with its own screen (identity confirmed, insurance at the desk, no consent
registered), the desk shows the row as 本人確認済・オンライン未確認 beside the card's 前回確認
with its date and ratio, a card never seen before says what to do instead, and an expired card
is not taken as proof."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from device.appliance import Appliance
from device.offline import identity_of
from sim.population import person
from tests.central_relay import CentralRelay

from .conftest import RECEPTION, SCREENSHOTS, login
from .test_kiosk import Kiosk
from .test_outage_banner import relay, type_check  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000
OFFLINE_ROW = "tr[data-confirmation-id]:has(.badge[data-badge=OFFLINE])"


@pytest.fixture
def kiosk_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1024, "height": 600}, locale="ja-JP")
    yield context.new_page()
    context.close()


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
    )
    yield context.new_page()
    context.close()


def finish(kiosk: Kiosk, screen: str) -> None:
    kiosk.wait(screen)
    kiosk.remove()
    kiosk.wait("welcome")


def test_outage_card_visits_on_the_kiosk_and_the_desk(
    appliance_factory: Callable[..., Appliance],
    relay: CentralRelay,  # noqa: F811 - the fixture
    kiosk_page: Any,
    desk: Any,
    demo_data: Path,
) -> None:
    appliance = appliance_factory(
        central_url=relay.url, central_breaker_failures=1, central_breaker_open_s=1
    )
    kiosk = Kiosk(appliance, kiosk_page)
    known = person("P001")
    kiosk.place(known.id)  # online: the answer this card will be known by
    kiosk.type_pin(known.pin)
    kiosk.wait("consent")
    kiosk_page.click("#consent-all")
    finish(kiosk, "done")

    relay.stop()  # the line drops; nobody knows yet
    kiosk.place(known.id)
    kiosk.type_pin(known.pin)
    kiosk.wait("consent")  # asked: the outage is learnt only when the central is asked
    kiosk_page.click("#consent-all")
    screen = kiosk.wait("offline_done")
    assert "ご本人の確認ができました" in screen.inner_text()
    assert "同意は、今回は登録されません" in screen.inner_text()
    kiosk.remove()
    kiosk.wait("welcome")

    assert appliance.reachability.current().down
    kiosk.place(known.id)  # known down: straight from the PIN to the end, no consent
    kiosk.type_pin(known.pin)
    kiosk.wait("offline_done")
    kiosk.shot("kiosk-offline-done")
    kiosk.remove()
    kiosk.wait("welcome")

    stranger = person("P003")  # never confirmed on this box
    kiosk.place(stranger.id)
    kiosk.type_pin(stranger.pin)
    finish(kiosk, "offline_done")

    expired = person("P019")  # its certificate is past its grace: no PIN, to the desk
    kiosk.place(expired.id)
    refused = kiosk.wait("grace_over")
    assert "資格確認書" in refused.inner_text()
    kiosk.remove()
    kiosk.wait("welcome")

    login(desk, appliance.staff.base_url, RECEPTION)
    desk.goto(appliance.staff.base_url + "/")
    rows = desk.locator(OFFLINE_ROW)
    rows.first.wait_for(timeout=WAIT_MS)
    assert rows.count() == 3
    newest, _, first_offline = (rows.nth(i) for i in range(3))
    assert "前回確認なし" in newest.inner_text() and "申立書" in newest.inner_text()
    shown = first_offline.inner_text()
    assert known.name in shown and "本人確認済・オンライン未確認" in shown
    assert "前回確認" in shown and "本日" in shown and "割" in shown  # date, age, ratio
    desk.screenshot(path=str(SCREENSHOTS / "desk-offline-rows.png"), full_page=True)

    store = appliance.services.store
    assert sum(1 for item in store.outbox_items() if item.state == "queued") == 2
    assert all(not store.consents(c.id) for c in store.recent_confirmations(_epoch()) if c.offline)

    relay.start()  # back: the queued re-checks are answered and shown as today's answers
    deadline = time.monotonic() + WAIT_MS / 1000
    while appliance.reachability.current().down and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not appliance.reachability.current().down, "the probe did not find the central"
    report = appliance.services.outbox.drain()
    assert report.answered == 2 and not report.stopped
    desk.reload()
    valid = desk.locator("tr[data-confirmation-id]:has(.badge[data-badge=VALID])")
    assert valid.count() == 3  # the online visit and the two re-checks

    # The card never seen before: checked by its numbers from its row, linked to the card.
    unknown = desk.locator(OFFLINE_ROW).first
    assert unknown.locator("[data-recheck]").is_hidden()  # no numbers to re-check with
    unknown.locator("[data-numbers-for]").click()
    assert desk.is_visible("#mc-for-visit")
    type_check(desk, stranger.id)
    desk.wait_for_selector("#mc-for-visit", state="hidden", timeout=WAIT_MS)
    assert valid.count() == 4
    card = x509.load_der_x509_certificate(
        (demo_data / "pki").joinpath("cards", f"{stranger.id}.der").read_bytes()
    )
    linked = store.last_card_answer(identity_of(card))
    assert linked is not None and linked.result.results[0].name == stranger.name


def _epoch() -> datetime:
    return datetime(2000, 1, 1, tzinfo=UTC)
