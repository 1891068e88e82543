"""The re-check queue's changed-answer alert in a real browser: a queued re-check is answered
by the simulated central over mTLS (the drain_outbox job), the answer differs from the one
charged, the desk's alert strip shows both, and a click marks it seen under the staff user."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from device.appliance import Appliance
from device.checks import NumbersInput
from sim.population import person
from sync.store import instant_text
from sync.xmlmsg import QualificationRequest, SearchInfo, build_result

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000


def test_a_changed_answer_is_shown_on_the_desk_until_marked_seen(
    appliance: Appliance, browser: Any
) -> None:
    services = appliance.services
    store = services.store
    who = person("P001")
    search = SearchInfo(who.insurer_number.zfill(8), who.number, who.birthdate, who.symbol)
    today = store.now().strftime("%Y%m%d")
    asked = QualificationRequest(
        services.config.medical_institution_code, today, secrets.token_hex(10), "2", search=search
    )
    # What was charged earlier: the central's answer then, with a 2割 co-payment.
    typed = NumbersInput(who.insurer_number, who.symbol, who.number, "", who.birthdate)
    real = services.checks.check(typed, actor="uketsuke")
    first = dataclasses.replace(real.result.results[0], contribution_ratio="020")
    then = dataclasses.replace(real.result, file_id=secrets.token_hex(10), results=(first,))
    charged = store.save_confirmation(
        file_id=then.file_id,
        raw_result=build_result(then),
        result=then,
        kind="numbers",
        method="numbers",
        actor="uketsuke",
    )
    # Its re-check went unanswered (the central was unavailable) and was queued.
    assert services.outbox.enqueue(asked, "numbers", "numbers", "uketsuke", charged=charged.id)
    assert appliance.jobs.run_now("drain_outbox") == 1  # the central answers 3割 now
    (alert,) = services.outbox.open_alerts()
    assert alert.changes == ("ratio",)

    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()
    login(page, appliance.staff.base_url, RECEPTION)
    page.goto(appliance.staff.base_url + "/")
    item = page.wait_for_selector(f"#recheck-alerts [data-alert-id='{alert.id}']", timeout=WAIT_MS)
    words = item.inner_text()
    assert "再照会で回答が変わりました" in words and who.name in words
    assert "負担割合" in words and "2割" in words and "3割" in words
    page.screenshot(path=str(SCREENSHOTS / "reception-recheck-alert.png"), full_page=True)

    # Both answers on the detail page of the earlier one.
    page.click(f"#recheck-alerts [data-alert-id='{alert.id}'] .recheck-side a >> nth=0")
    page.wait_for_selector(".recheck-changed")
    assert "2割" in page.inner_text(".recheck-changed") and "3割" in page.inner_text(
        ".recheck-changed"
    )
    page.go_back()
    page.click(f"#recheck-alerts [data-alert-id='{alert.id}'] .recheck-ack", timeout=WAIT_MS)
    page.wait_for_selector("#recheck-alerts", state="hidden", timeout=WAIT_MS)
    assert services.outbox.open_alerts() == []
    (seen,) = store.outbox_alerts(open_only=False)
    assert seen.acknowledged_by == RECEPTION[0]
    context.close()


def test_a_recheck_given_up_asks_a_person_to_check_by_hand(
    appliance_factory: Callable[..., Appliance], browser: Any
) -> None:
    appliance = appliance_factory(outbox_give_up_h=1)
    services = appliance.services
    store = services.store
    who = person("P001")
    search = SearchInfo(who.insurer_number.zfill(8), who.number, who.birthdate, who.symbol)
    asked = QualificationRequest(
        services.config.medical_institution_code,
        store.now().strftime("%Y%m%d"),
        secrets.token_hex(10),
        "2",
        search=search,
    )
    assert services.outbox.enqueue(asked, "numbers", "numbers", "uketsuke")
    # Queued two hours ago and never answered since (the store's clock is the appliance's).
    with store._database.write() as db:
        db.execute(
            "UPDATE outbox SET created_at = ?",
            [instant_text(store.now() - timedelta(hours=2))],
        )
    assert appliance.jobs.run_now("drain_outbox") == 1  # given up, not asked
    (alert,) = services.outbox.open_alerts()
    assert alert.unanswered

    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1400, "height": 900}, locale="ja-JP"
    )
    page = context.new_page()
    login(page, appliance.staff.base_url, RECEPTION)
    page.goto(appliance.staff.base_url + "/")
    item = page.wait_for_selector(f"#recheck-alerts [data-alert-id='{alert.id}']", timeout=WAIT_MS)
    words = item.inner_text()
    assert "再照会できませんでした: 手動で確認してください" in words
    assert who.number in words and who.insurer_number.lstrip("0") in words  # whom to check
    page.screenshot(path=str(SCREENSHOTS / "reception-recheck-gave-up.png"), full_page=True)
    page.click(f"#recheck-alerts [data-alert-id='{alert.id}'] .recheck-ack", timeout=WAIT_MS)
    page.wait_for_selector("#recheck-alerts", state="hidden", timeout=WAIT_MS)
    assert services.outbox.open_alerts() == []
    item_after = store.outbox_item(alert.outbox_id)
    assert item_after is not None and item_after.request is None  # taken over: names no one
    context.close()
