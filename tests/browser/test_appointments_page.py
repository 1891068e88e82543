"""「明日の予約」 in Chromium on the real stack: from the desk's navigation, a list with errors is
refused with its lines and reasons (nothing imported), a clean one dropped on the page is taken
and listed for tomorrow with the summary line; a patient whose appointment of today was
pre-checked arrives, and the desk row shows the pre-check beside today's answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from device.appliance import Appliance
from device.checks import NumbersInput
from sim.population import person
from sync.clock import JST

from .conftest import RECEPTION, SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.stack]

WAIT_MS = 20_000
HEADER = "患者番号,カナ氏名,生年月日,保険者番号,記号,番号,枝番,予約日時"


def line_of(patient: str, person_id: str, at: str) -> str:
    who = person(person_id)
    kana = " ".join(who.name_kana.split())
    return (
        f"{patient},{kana},{who.birthdate},{who.insurer_number},{who.symbol},{who.number},"
        f"{who.branch},{at}"
    )


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1366, "height": 768}, locale="ja-JP"
    )
    yield context.new_page()
    context.close()


def test_upload_refused_then_taken_and_the_arrival_row(
    appliance: Appliance, desk: Any, tmp_path: Path
) -> None:
    staff = appliance.staff.base_url
    store = appliance.services.store
    now = store.now().astimezone(JST)  # the appliance's clock, never a fixed date
    tomorrow = (now + timedelta(days=1)).strftime("%Y-%m-%d")
    login(desk, staff, RECEPTION)
    desk.goto(staff + "/")
    desk.click("#appointments-link")
    desk.wait_for_selector("#appointments-form")
    assert desk.input_value("#appointments-day-input") == tomorrow

    # A list with errors (Shift_JIS, as receipt computers write): refused, every line named.
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        "\r\n".join(
            [
                HEADER,
                line_of("K001", "P001", f"{tomorrow} 09:00"),
                line_of("K002", "P002", "あした"),
                line_of("K003", "P003", f"{tomorrow} 09:30").replace(
                    person("P003").insurer_number, "12345678"
                ),
            ]
        ).encode("cp932")
    )
    desk.set_input_files("#appointments-file", str(bad))
    desk.click("#appointments-upload")
    desk.wait_for_selector("#appointments-errors")
    lines = desk.locator("#appointments-errors tr")
    assert lines.count() == 2
    assert "3 行目" in lines.nth(0).inner_text() and "予約日時" in lines.nth(0).inner_text()
    assert "4 行目" in lines.nth(1).inner_text() and "保険者番号" in lines.nth(1).inner_text()
    assert store.appointments_on(tomorrow.replace("-", "")) == []
    desk.screenshot(path=str(SCREENSHOTS / "appointments-refused.png"), full_page=True)

    # A clean list dropped on the page (UTF-8): taken at once and listed for tomorrow.
    clean = "\n".join(
        [
            HEADER,
            line_of("K001", "P001", f"{tomorrow} 09:00"),
            line_of("K002", "P002", f"{tomorrow} 09:30"),
            line_of("K003", "P003", f"{tomorrow} 10:00"),
        ]
    )
    dropped = desk.evaluate_handle(
        """(text) => {
            const data = new DataTransfer();
            data.items.add(new File([text], "yoyaku.csv", {type: "text/csv"}));
            return data;
        }""",
        clean,
    )
    desk.dispatch_event("#drop-zone", "drop", {"dataTransfer": dropped})
    desk.wait_for_selector("#appointments-imported", timeout=WAIT_MS)
    assert "3 件" in desk.inner_text("#appointments-imported")
    assert desk.locator("#appointments-list tbody tr").count() == 3
    assert desk.inner_text("#appointments-summary").startswith("3件（正常0件・要確認0件）")
    assert person("P002").name_kana.split()[0] in desk.inner_text("#appointments-list")
    desk.screenshot(path=str(SCREENSHOTS / "appointments-list.png"), full_page=True)

    # A patient with an appointment today, pre-checked last night, arrives: the desk row of
    # today's answer shows the pre-check.
    today = now.strftime("%Y-%m-%d")
    appliance.services.appointments.import_csv(
        "\n".join([HEADER, line_of("K001", "P001", f"{today} 23:59")]).encode(),
        actor=RECEPTION[0],
        source="upload",
    )
    (booked,) = store.appointments_on(now.strftime("%Y%m%d"))
    store.record_precheck(booked.id, klass="valid", raw=b"", checked_at=store.now(), actor="test")
    desk.goto(staff + "/")
    desk.wait_for_selector("#manual-check")
    who = person("P001")
    appliance.services.checks.check(
        NumbersInput(
            who.insurer_number,
            who.symbol,
            who.number,
            who.branch,
            who.birthdate,
            limit_consent=True,
        ),
        actor=RECEPTION[0],
    )
    row = desk.locator("tr[data-confirmation-id] .precheck-note:not([hidden])").first
    row.wait_for(timeout=WAIT_MS)
    assert row.inner_text() == "前夜確認: 確認済・有効"
    desk.screenshot(path=str(SCREENSHOTS / "appointments-desk-row.png"))
