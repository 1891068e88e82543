"""web/clinical.py: the doctor's pages with the Flask test client, real accounts and a real Store.

The central is the fake of test_clinical.py: the simulator's history (sim.medical) through a
real build/parse round trip. Staff sign in through a real server-side session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient

from device.accounts import Accounts
from device.clinical import ClinicalRecords
from device.config import load_config
from device.events import EventBus
from sim.medical import checkup_history
from sim.population import person
from sync.breaker import CircuitBreaker
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.medinfo import (
    CheckupExam,
    CheckupItem,
    Dispensing,
    Drug,
    DrugMonth,
    MedicalInfoResult,
)
from sync.store import Store
from tests.fake_services import services_with
from tests.unit.test_clinical import (
    MIC,
    NOW,
    UNTIL,
    Clock,
    FakeCentral,
    agreed,
    audit_of,
    declined,
    save_card_visit,
)
from web.app import CSP, create_staff_app
from web.auth import SESSION_COOKIE
from web.clinical import (
    checkup_table,
    current_medicines,
    judge,
    medicine_lines,
    merge_periods,
    reference_range,
    supply_days,
)

PASSWORD = "correct horse battery staple"


@dataclass
class Desk:
    app: Flask
    store: Store
    accounts: Accounts
    central: FakeCentral
    clock: Clock

    def client(self, username: str | None = None, *roles: str) -> FlaskClient:
        """A browser, signed in as a new user with `roles` when a username is given."""
        browser = self.app.test_client()
        if username is not None:
            user = self.accounts.create_user(username, username, roles, PASSWORD, actor="test")
            token = self.accounts.start_session(user, client="test")
            browser.set_cookie(SESSION_COOKIE, token)
        return browser


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    clock = Clock(NOW)
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
    central = FakeCentral(clock)
    accounts = Accounts(store)  # sessions on real time: the tests move the consent clock by days
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path), "kiosk_port": 18081})
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(Any, None),  # no visit runs in these tests
        accounts=accounts,
        clinical=ClinicalRecords(
            store, central, MIC, clock=clock, breaker=CircuitBreaker(cast(Any, central))
        ),
    )
    yield Desk(create_staff_app(config, services), store, accounts, central, clock)
    store.close()


@pytest.fixture
def doctor(desk: Desk) -> FlaskClient:
    return desk.client("doctor", "clinical")


def page(response: Any) -> str:
    html: str = response.get_data(as_text=True)
    # CSP forbids inline script and style: the pages must not need them.
    assert response.headers["Content-Security-Policy"] == CSP
    assert " style=" not in html and "<style" not in html
    assert "<script>" not in html and not re.search(r"\son\w+=", html)
    return html


# -- the gate ---------------------------------------------------------------------------------
def test_anonymous_is_sent_to_login(desk: Desk) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"),))
    browser = desk.client()
    for path in ["/clinical/", f"/clinical/confirmations/{cid}/drug"]:
        r = browser.get(path)
        assert r.status_code == 302
        assert r.headers["Location"].startswith("/login?next=")
        assert path.replace("/", "%2F") in r.headers["Location"] or path in r.headers["Location"]
    assert desk.central.requests == []
    assert audit_of(desk.store) == []


def test_reception_only_user_is_refused(desk: Desk) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"),))
    browser = desk.client("uketsuke", "reception")
    for path in [
        "/clinical/",
        f"/clinical/confirmations/{cid}/drug",
        f"/clinical/confirmations/{cid}/checkup",
    ]:
        assert browser.get(path).status_code == 403
    assert desk.central.requests == []
    assert audit_of(desk.store) == []


# -- the list ---------------------------------------------------------------------------------
def test_list_shows_the_last_24_hours_with_consent_chips(desk: Desk, doctor: FlaskClient) -> None:
    desk.clock.now = NOW - timedelta(hours=25)
    save_card_visit(desk.store, "P001", (agreed("drug"),), file_id="old")
    desk.clock.now = NOW - timedelta(hours=1)
    first = save_card_visit(desk.store, "P004", (declined("drug"),), file_id="a")
    desk.clock.now = NOW
    second = save_card_visit(desk.store, "P010", (agreed("drug"), declined("checkup")), file_id="b")
    html = page(doctor.get("/clinical/"))
    assert "佐藤" not in html  # older than 24 hours
    assert html.index(f'data-confirmation-id="{second}"') < html.index(
        f'data-confirmation-id="{first}"'
    )
    assert "田中　誠" in html and "タナカ　マコト" in html
    assert "1972/11/08 (S47)" in html and "53歳" in html
    assert f'href="/clinical/confirmations/{second}/drug"' in html
    assert "同意あり 〜10:15" not in html  # the window ends tomorrow, so the date is shown
    assert "同意あり 〜4/2 10:15" in html
    assert f"/clinical/confirmations/{second}/checkup" not in html  # declined: no link
    assert "同意なし" in html and "未確認" in html  # P004 checkup was never asked
    assert audit_of(desk.store)[-1] == ("doctor", "clinical.list", "confirmations:24h", "rows=2")
    english = page(doctor.get("/clinical/?lang=en"))
    assert "Consent until 4/2 10:15" in english and "No consent" in english


def test_list_chips_show_expired(desk: Desk, doctor: FlaskClient) -> None:
    save_card_visit(desk.store, "P010", (agreed("drug", time="20260331100000"),))  # until 10:00
    html = page(doctor.get("/clinical/"))
    assert "期限切れ" in html
    assert "/drug" not in html


def test_list_empty_state(doctor: FlaskClient) -> None:
    html = page(doctor.get("/clinical/"))
    assert "過去24時間の資格確認はありません" in html
    assert "<table" not in html


# -- drug page --------------------------------------------------------------------------------
def test_drug_page(desk: Desk, doctor: FlaskClient) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"),))
    r = doctor.get(f"/clinical/confirmations/{cid}/drug")
    assert r.status_code == 200
    html = page(r)
    assert "田中　誠" in html and "タナカ　マコト" in html and "1972/11/08 (S47)" in html
    assert "男" in html
    assert "2026/04/02 10:15" in html  # consent valid until
    assert "今回照会" in html
    assert "照会期間 2023年5月〜2026年4月" in html
    # months newest first, claims lag: nothing from the last month
    months = re.findall(r'<section class="cl-month" id="m(\d{6})">', html)
    assert len(months) >= 12 and months == sorted(months, reverse=True)
    assert months[0] <= "202603"
    assert '<td class="cl-drug">メトホルミン塩酸塩錠250mgMT</td>' in html
    assert "メトホルミン塩酸塩" in html and "1日2回朝夕食後" in html and "2錠" in html
    summary = html[html.index('class="cl-summary"') : html.index('class="cl-timeline"')]
    assert summary.count("メトホルミン塩酸塩錠250mgMT") == 1  # de-duplicated
    assert "薬局" in html
    assert audit_of(desk.store)[-1] == (
        "doctor",
        "clinical.view",
        f"confirmation:{cid}",
        "drug online",
    )
    desk.clock.now = NOW + timedelta(minutes=20)
    again = page(doctor.get(f"/clinical/confirmations/{cid}/drug?lang=en"))
    assert "cached at 10:30" in again and "Drug information" in again
    assert len(desk.central.requests) == 1


def test_current_medicines_window_and_dedup() -> None:
    def drug(code: str, name: str) -> Drug:
        return Drug(code, name, name + "成分", "1", "錠", "1日1回朝食後", "28")

    months = (
        DrugMonth(
            "202511", (Dispensing("20251105", "A薬局", "Bクリニック", (drug("1", "旧薬"),)),)
        ),
        DrugMonth(
            "202601",
            (
                Dispensing("20260110", "A薬局", "Bクリニック", (drug("2", "降圧薬"),)),
                Dispensing("20260120", "A薬局", "C医院", (drug("3", "抗菌薬"),)),
            ),
        ),
        DrugMonth(
            "202602",
            (
                Dispensing(
                    "20260207", "A薬局", "Bクリニック", (drug("2", "降圧薬"), drug("4", "胃薬"))
                ),
            ),
        ),
    )
    found = current_medicines(months)
    # 2026-02-07 is the latest: the window is after 2025-11-07, so 旧薬 is no longer current
    assert [(m.name, m.last_date, m.count) for m in found] == [
        ("胃薬", "2026/02/07", 1),
        ("降圧薬", "2026/02/07", 2),
        ("抗菌薬", "2026/01/20", 1),
    ]
    assert current_medicines(()) == []


def test_medicine_lines_merge_refills_into_periods() -> None:
    def drug(code: str, name: str, days: str = "28") -> Drug:
        return Drug(code, name, name + "成分", "1", "錠", "1日1回朝食後", days)

    def at(day: str, *drugs: Drug) -> Dispensing:
        return Dispensing(day, "A薬局", "Bクリニック", drugs)

    months = (
        DrugMonth("202501", (at("20250106", drug("1", "降圧薬")),)),
        DrugMonth("202502", (at("20250205", drug("1", "降圧薬"), drug("9", "頓用薬", "5回")),)),
        # a gap of months: a new period
        DrugMonth("202506", (at("20250610", drug("1", "降圧薬"), drug("2", "抗菌薬", "7")),)),
    )
    result = MedicalInfoResult(
        "drug", "", "", "", "1", "", "", "202501", "202506", months=months, exams=()
    )
    timeline = medicine_lines(result, "ja")
    assert timeline is not None
    names = [line.name for line in timeline.lines]
    assert names == ["降圧薬", "抗菌薬", "頓用薬"]  # the latest taken first
    bp, antibiotic, as_needed = timeline.lines
    assert bp.periods == "2025/01/06–2025/03/04, 2025/06/10–2025/07/07"
    assert bp.current and antibiotic.current and not as_needed.current
    assert antibiotic.periods == "2025/06/10–2025/06/16"
    assert as_needed.periods == "2025/02/05"  # times, not days: one mark on its day
    assert bp.bar.count('class="period current"') == 2
    assert "2025年" in timeline.axis and "4月" in timeline.axis
    assert "<script" not in str(bp.bar) and 'role="img"' in bp.bar
    assert (
        medicine_lines(
            MedicalInfoResult("drug", "", "", "", "1", "", "", "", "", months=(), exams=()), "ja"
        )
        is None
    )


def test_supply_days_and_merging() -> None:
    assert [supply_days(s) for s in ("28", "２８", "14日", "5回", "", "0", "365")] == [
        28,
        28,
        14,
        1,
        1,
        1,
        1,
    ]
    d = date
    assert merge_periods([(d(2025, 3, 1), d(2025, 3, 28)), (d(2025, 1, 1), d(2025, 1, 28))]) == [
        (d(2025, 1, 1), d(2025, 1, 28)),
        (d(2025, 3, 1), d(2025, 3, 28)),
    ]
    assert merge_periods([(d(2025, 1, 1), d(2025, 1, 28)), (d(2025, 2, 11), d(2025, 3, 10))]) == [
        (d(2025, 1, 1), d(2025, 3, 10))  # 14 days late still continues it
    ]


def test_drug_and_checkup_views_link_each_other(desk: Desk, doctor: FlaskClient) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"), agreed("checkup")))
    drug_html = page(doctor.get(f"/clinical/confirmations/{cid}/drug"))
    assert f'href="/clinical/confirmations/{cid}/checkup"' in drug_html
    assert 'class="cl-lines"' in drug_html
    assert drug_html.index('class="cl-lines"') < drug_html.index('class="cl-timeline"')
    checkup_html = page(doctor.get(f"/clinical/confirmations/{cid}/checkup"))
    assert f'href="/clinical/confirmations/{cid}/drug"' in checkup_html
    other = save_card_visit(desk.store, "P004", (agreed("drug"),), file_id="f2")
    only_drug = page(doctor.get(f"/clinical/confirmations/{other}/drug"))
    # the checkup view is still linked, saying why it will refuse
    assert "同意なし" in only_drug or "未確認" in only_drug


def test_numbers_check_refused_as_cannot_consent(desk: Desk, doctor: FlaskClient) -> None:
    cid = save_card_visit(desk.store, "P010", kind="numbers")
    listing = page(doctor.get("/clinical/"))
    assert "同意不可（番号で確認）" in listing
    r = doctor.get(f"/clinical/confirmations/{cid}/drug")
    assert r.status_code == 403
    html = page(r)
    assert 'data-reason="cannot_consent"' in html and "資格確認書" in html
    assert "同意していません" not in html
    assert "medication notebook" not in html  # a Japanese page is Japanese only


# -- checkup page -----------------------------------------------------------------------------
def test_checkup_page(desk: Desk, doctor: FlaskClient) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("checkup"),))
    html = page(doctor.get(f"/clinical/confirmations/{cid}/checkup"))
    exams = checkup_history(person("P010"), date(2026, 4, 1))
    assert len(exams) >= 3
    dates = re.findall(
        r'<th scope="col" class="cl-exam"><span class="cl-date">([\d/]+)</span>', html
    )
    # oldest on the left, the way each row's chart runs
    assert dates == sorted(dates) and len(dates) == len(exams)
    assert "HbA1c" in html and "収縮期血圧" in html and "尿蛋白" in html
    assert html.count('<svg class="chart"') >= 10  # one per numeric item
    assert "<svg" not in html[html.index('data-item="1A010000000191111"') :].split("</tr>")[0]
    # P010 has diabetes: HbA1c above the range is marked with a symbol, not colour only
    hba1c = html[html.index(">HbA1c</th>") :].split("</tr>")[0]
    assert 'class="cl-value cl-high"' in hba1c and "▲" in hba1c and "基準範囲より高い" in hba1c
    assert "(-)" in html  # qualitative values shown as text
    assert audit_of(desk.store)[-1] == (
        "doctor",
        "clinical.view",
        f"confirmation:{cid}",
        "checkup online",
    )


def test_checkup_table_rows_columns_and_flags() -> None:
    old = CheckupExam(
        "20230510",
        "健診センター",
        (
            CheckupItem("A", "HbA1c", "5.4", "%", "-5.5"),
            CheckupItem("B", "HDL", "35", "mg/dL", "40-"),
            CheckupItem("X", "旧項目", "1", "", ""),
        ),
    )
    new = CheckupExam(
        "20250510",
        "健診センター",
        (
            CheckupItem("A", "HbA1c", "6.1", "%", "-5.5"),
            CheckupItem("U", "尿糖", "(+)", "", "(-)"),
            CheckupItem("B", "HDL", "52", "mg/dL", "40-"),
        ),
    )
    table = checkup_table([old, new], "en")
    assert [c.date for c in table.columns] == ["2023/05/10", "2025/05/10"]  # oldest first
    assert [r.name for r in table.rows] == ["HbA1c", "尿糖", "HDL", "旧項目"]
    hba1c, urine, hdl, only_old = table.rows
    assert [(c.value, c.flag, c.symbol) for c in hba1c.cells if c] == [
        ("5.4", "", ""),
        ("6.1", "high", "▲"),
    ]
    assert hba1c.cells[1] is not None and hba1c.cells[1].note == "above the reference range"
    assert [c.flag if c else None for c in hdl.cells] == ["low", ""]
    assert [c.flag if c else None for c in urine.cells] == [None, "abnormal"]
    assert urine.chart == "" and "<svg" in hba1c.chart
    assert (hba1c.reference, hdl.reference, urine.reference) == ("≤ 5.5", "≥ 40", "(-)")
    assert only_old.cells[1] is None


@pytest.mark.parametrize(
    ("written", "low", "high", "shown"),
    [
        ("4.6-6.2", 4.6, 6.2, "4.6–6.2"),
        ("-5.5", None, 5.5, "≤ 5.5"),
        ("40-", 40.0, None, "≥ 40"),
        ("３０〜１４９", 30.0, 149.0, "30–149"),
        ("<150", None, 150.0, "< 150"),
        ("≦99", None, 99.0, "≤ 99"),
        ("40以上", 40.0, None, "≥ 40"),
        ("130未満", None, 130.0, "< 130"),
    ],
)
def test_reference_ranges(written: str, low: float | None, high: float | None, shown: str) -> None:
    found = reference_range(written)
    assert found is not None and (found.low, found.high) == (low, high)
    assert found.text() == shown


def test_reference_judgement() -> None:
    assert [reference_range(s) for s in ("", "(-)", "-", "陰性")] == [None] * 4
    assert judge("150", "<150") == "high" and judge("149", "<150") == ""
    assert judge("150", "-150") == "" and judge("150.1", "-150") == "high"
    assert judge("39", "40以上") == "low"
    assert judge("(±)", "(-)") == "abnormal" and judge("（－）", "(-)") == ""
    assert judge("(2+)", "") == "abnormal" and judge("(±)", "") == ""
    assert judge("7.0", "") == "" and judge("", "4.6-6.2") == ""


# -- refusals ---------------------------------------------------------------------------------
def test_refusal_page(desk: Desk, doctor: FlaskClient) -> None:
    cid = save_card_visit(desk.store, "P010", (agreed("drug"), declined("checkup")))
    r = doctor.get(f"/clinical/confirmations/{cid}/checkup")
    assert r.status_code == 403
    html = page(r)
    assert "患者さんは特定健診情報の閲覧に同意していません" in html
    assert "The patient has not agreed" not in html  # Japanese only; English by the switch
    assert 'data-reason="no_consent"' in html
    assert 'href="/clinical/"' in html
    assert desk.central.requests == []
    desk.clock.now = UNTIL
    expired = page(doctor.get(f"/clinical/confirmations/{cid}/drug?lang=en"))
    assert "has expired" in expired and 'data-reason="expired"' in expired
    assert [a[3] for a in audit_of(desk.store)] == ["checkup:no_consent", "drug:expired"]


def test_central_refusal_is_shown_verbatim(desk: Desk, doctor: FlaskClient) -> None:
    from sync.medinfo import MedicalInfoResult

    message = "同意の有効期限が切れています / consent has expired"
    desk.central.answer = lambda req: MedicalInfoResult(
        req.kind, "20260401103000", MIC, req.file_id, "9", "EK02", message
    )
    cid = save_card_visit(desk.store, "P010", (agreed("drug"),))
    r = doctor.get(f"/clinical/confirmations/{cid}/drug")
    assert r.status_code == 403
    assert message in page(r)


def test_unknown_confirmation_is_404(desk: Desk, doctor: FlaskClient) -> None:
    assert doctor.get("/clinical/confirmations/999/drug").status_code == 404
    assert doctor.get("/clinical/confirmations/999/checkup").status_code == 404
    assert audit_of(desk.store)[-1][3] == "checkup:no_confirmation"
