"""The desk's manual checks, 再照会, search and detail page through the Flask test client."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient

from device.accounts import Accounts
from device.checks import ManualChecks
from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus, Subscription
from device.flow import VisitFlow
from sync.central import (
    CentralClient,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
)
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import ElderlyInfo, LimitInfo
from tests.fake_services import services_with
from web.app import create_staff_app

from .test_checks import KOKUHO, KYOKAI, MIC, FakeCentral
from .test_web import (
    STAFF_HASH,
    STAFF_USER,
    FakeFlow,
    add_admin,
    make_config,
    qualification,
    result,
    save,
    sign_in,
    sign_in_with_totp,
)

ADMIN_USER = "admin1"

CHECK = {
    "insurer_number": KYOKAI,
    "symbol": "40199901",
    "number": "11",
    "branch": "",
    "birthdate": "S58.8.7",
    "care_date": "",
}


@dataclass
class Desk:
    store: Store
    central: FakeCentral
    bus: EventBus
    app: Flask
    admin_secret: bytes

    def client(self) -> FlaskClient:
        """Signed in as the reception user."""
        return sign_in(self.app.test_client())

    def admin(self) -> FlaskClient:
        """Signed in as an admin (with the second factor) who also has the reception role."""
        return sign_in_with_totp(self.app.test_client(), ADMIN_USER, self.admin_secret)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


@pytest.fixture
def desk(tmp_path: Path, store: Store) -> Desk:
    store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    admin_secret = add_admin(store, ADMIN_USER)
    config = make_config(tmp_path)
    bus = EventBus()
    central = FakeCentral()
    checks = ManualChecks(
        medical_institution_code=MIC,
        confirmations=Confirmations(transport=cast(CentralClient, central), store=store, bus=bus),
        store=store,
    )
    services = services_with(
        config=config,
        store=store,
        bus=bus,
        flow=cast(VisitFlow, FakeFlow()),
        accounts=Accounts(store),
        checks=checks,
    )
    return Desk(store, central, bus, create_staff_app(config, services), admin_secret)


@pytest.fixture
def staff(desk: Desk) -> FlaskClient:
    return desk.client()


def csrf(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    return page.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]


def post(client: FlaskClient, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"X-CSRF-Token": csrf(client) if token is None else token}
    return client.post(path, json=body if body is not None else {}, headers=headers)


def audit(store: Store) -> list[tuple[str, str, str, str]]:
    return [(e.actor, e.action, e.subject, e.detail) for e in reversed(store.audit_entries())]


# -- POST /api/checks ------------------------------------------------------------------------------
def test_desk_page_has_the_check_panel_and_search_box(staff: FlaskClient) -> None:
    page = staff.get("/").get_data(as_text=True)
    assert 'id="manual-check"' in page
    assert 'placeholder="例: S45.12.3 / 1970-12-03"' in page
    assert 'name="care_date" type="date" value="' in page
    assert "照会</button>" in page
    assert 'action="/search"' in page
    assert "Check by insurance numbers" in staff.get("/?lang=en").get_data(as_text=True)


def test_check_201_returns_the_row_like_the_row_api(desk: Desk, staff: FlaskClient) -> None:
    events: Subscription = desk.bus.subscribe()
    r = post(staff, "/api/checks", CHECK)
    assert r.status_code == 201, r.get_json()
    row = r.get_json()
    assert row["badge"]["code"] == "VALID"
    assert row["name"] == "井上　健一"
    assert row["raw"]["kind"] == "numbers" and row["raw"]["method"] == "numbers"
    assert row["url"] == f"/confirmations/{row['id']}"
    assert staff.get(f"/api/confirmations/{row['id']}").get_json() == row
    assert list(events.drain()) == [ConfirmationStored(row["id"], None)]
    events.close()
    search = desk.central.requests[0].search
    assert search is not None and search.birthdate == "19830807"  # 和暦 typed
    trail = audit(desk.store)
    assert (STAFF_USER, "confirmation.stored", f"confirmation:{row['id']}", "numbers") in trail


def test_check_422_lists_every_field_and_sends_nothing(desk: Desk, staff: FlaskClient) -> None:
    bad = {**CHECK, "insurer_number": "01130013", "number": "", "birthdate": "S45.13.1"}
    r = post(staff, "/api/checks", bad)
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert set(errors) == {"insurer_number", "number", "birthdate"}
    assert "8桁目: 3 → 2" in errors["insurer_number"]  # the wrong check digit is pointed out
    assert all(" / " not in e and "digit" not in e for e in errors.values())  # Japanese only
    assert desk.central.requests == []
    assert desk.store.count_confirmations() == 0


def test_check_refused_without_csrf_or_sign_in(desk: Desk, staff: FlaskClient) -> None:
    assert post(staff, "/api/checks", CHECK, token="").status_code == 403
    assert post(staff, "/api/checks", CHECK, token="forged").status_code == 403
    anonymous = desk.app.test_client()
    r = anonymous.post("/api/checks", json=CHECK, headers={"Accept": "application/json"})
    assert r.status_code in (401, 403)  # the CSRF check may refuse before the sign-in gate
    assert (
        anonymous.get("/search?q=S58.8.7", headers={"Accept": "application/json"}).status_code
        == 401
    )
    assert anonymous.get("/confirmations/1").status_code == 302  # to the login page
    assert desk.central.requests == []


def test_check_rejects_malformed_bodies(desk: Desk, staff: FlaskClient) -> None:
    token = csrf(staff)
    headers = {"X-CSRF-Token": token}
    assert staff.post("/api/checks", data=CHECK, headers=headers).status_code == 415
    assert staff.post("/api/checks", json=["x"], headers=headers).status_code == 400
    assert (
        staff.post("/api/checks", json={**CHECK, "number": 11}, headers=headers).status_code == 400
    )
    over = {**CHECK, "limit_consent": "yes"}
    assert staff.post("/api/checks", json=over, headers=headers).status_code == 400
    assert desk.central.requests == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 30000 + b"]" * 30000, "nested too deeply"),  # was a RecursionError: 500
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
        (b'{"number": NaN}', "not valid JSON"),
        (b"{'number': 1}", "not valid JSON"),
        (b'{"number": "\xff\xfe"}', "not valid JSON"),  # not UTF-8
        (b'"11"', "not a JSON object"),
        (b"null", "not a JSON object"),
    ],
)
def test_check_refuses_deep_or_odd_json_with_400_and_the_reason(
    desk: Desk, staff: FlaskClient, body: bytes, says: str
) -> None:
    r = staff.post(
        "/api/checks?lang=en",
        data=body,
        content_type="application/json",
        headers={"X-CSRF-Token": csrf(staff)},
    )
    assert r.status_code == 400 and says in r.get_json()["message"]
    assert "Content-Security-Policy" in r.headers
    assert desk.central.requests == []


@pytest.mark.parametrize(
    ("error", "status", "reason", "next_step"),
    [
        (CentralUnavailable("down"), 503, "central_unavailable", "しばらくしてから"),
        (CentralRefused(403, "no"), 502, "central_refused", "確認してください"),
        (CentralUnreadable("garbage"), 502, "central_unreadable", "管理者に連絡"),
        (CentralUntrusted("wrong CA"), 502, "central_untrusted", "再試行では解決しません"),
    ],
)
def test_check_central_failure(
    desk: Desk, staff: FlaskClient, error: Exception, status: int, reason: str, next_step: str
) -> None:
    desk.central.error = error
    r = post(staff, "/api/checks", CHECK)
    assert r.status_code == status
    body = r.get_json()
    assert body["reason"] == reason
    assert "資格確認サービス" in body["message"] and next_step in body["message"]
    assert desk.store.count_confirmations() == 0


# -- 再照会 ----------------------------------------------------------------------------
def test_recheck_route(desk: Desk, staff: FlaskClient) -> None:
    card = save(desk.store, result(qualification(insurer_number=KYOKAI)), "c1")
    page = staff.get("/").get_data(as_text=True)
    assert "data-recheck" in page and f'href="/confirmations/{card.id}"' in page
    r = post(staff, f"/api/confirmations/{card.id}/recheck")
    assert r.status_code == 201
    row = r.get_json()
    assert row["id"] != card.id and row["raw"]["kind"] == "numbers"
    search = desk.central.requests[0].search
    assert search is not None
    assert (search.insurer_number, search.symbol, search.number) == (KYOKAI, "記号1", "1234")
    assert post(staff, "/api/confirmations/999/recheck").status_code == 404
    assert post(staff, f"/api/confirmations/{card.id}/recheck", token="").status_code == 403


# -- 限度額 in the row -------------------------------------------------------------------
def test_row_shows_limit_certificate_compactly(desk: Desk, staff: FlaskClient) -> None:
    desk.store._clock = lambda: datetime(2026, 4, 1, 1, tzinfo=UTC)  # within the period
    limited = qualification(
        limit=LimitInfo("01", "A03", "20250801", "20250801", "20260731"),
        elderly=ElderlyInfo(ratio="020"),
    )
    c = save(desk.store, result(limited), "l1")
    row = staff.get(f"/api/confirmations/{c.id}").get_json()
    assert row["limit"] == "限度額 ウ 2025/08/01〜2026/07/31"
    assert row["limit_title"] == "限度額適用認定証"
    assert row["elderly_ratio"] == "高齢受給者 2割"
    en = staff.get(f"/api/confirmations/{c.id}?lang=en").get_json()
    assert en["limit"] == "Cost cap u 2025/08/01〜2026/07/31"
    assert "3.7M" in en["limit_title"]
    assert "限度額 ウ" in staff.get("/?lang=ja").get_data(as_text=True)


# -- search ----------------------------------------------------------------------------------------
@pytest.fixture
def people(desk: Desk) -> dict[str, int]:
    store = desk.store
    return {
        "inoue": save(
            store,
            result(
                qualification(
                    name="井上　健一",
                    name_kana="イノウエ　ケンイチ",
                    birthdate="19830807",
                    insurer_number=KYOKAI,
                    symbol="40199901",
                    number="11",
                )
            ),
            "s1",
        ).id,
        "yamamoto": save(
            store,
            result(
                qualification(
                    name="山本　大輔",
                    name_kana="ヤマモト　ダイスケ",
                    birthdate="19790214",
                    insurer_number=KOKUHO,
                    symbol="世田谷",
                    number="0456123",
                )
            ),
            "s2",
        ).id,
    }


def found_ids(page: str) -> list[int]:
    ids = []
    for part in page.split('data-confirmation-id="')[1:]:
        ids.append(int(part.split('"', 1)[0]))
    return ids


@pytest.mark.parametrize(
    ("q", "who", "kind"),
    [
        ("イノウエ ケンイチ", "inoue", "kana"),
        ("いのうえけんいち", "inoue", "kana"),
        ("ｲﾉｳｴ　ｹﾝｲﾁ", "inoue", "kana"),
        ("S58.8.7", "inoue", "birthdate"),
        ("1983-08-07", "inoue", "birthdate"),
        ("昭和54年2月14日", "yamamoto", "birthdate"),
        (f"{KYOKAI} 40199901 11", "inoue", "numbers"),
        (f"{KOKUHO}・世田谷・0456123", "yamamoto", "numbers"),
        (f"００{KOKUHO}-世田谷-0456123-00", "yamamoto", "numbers"),
    ],
)
def test_search_each_kind(
    desk: Desk, staff: FlaskClient, people: dict[str, int], q: str, who: str, kind: str
) -> None:
    traced: list[str] = []
    desk.store._db.conn.set_trace_callback(traced.append)
    try:
        page = staff.get("/search", query_string={"q": q}).get_data(as_text=True)
    finally:
        desk.store._db.conn.set_trace_callback(None)
    assert found_ids(page) == [people[who]]
    last = desk.store.audit_entries(1)[0]
    assert (last.actor, last.action, last.detail) == (STAFF_USER, "confirmation.search", kind)
    # neither the query nor any part of it reaches SQL or the audit: only keyed hashes do
    words = [w for w in q.replace("・", " ").replace("-", " ").split() if len(w) > 2]
    for sql in traced:
        # A keyed hash is random hex and may hold "1983" by chance: look outside the hashes.
        outside_hashes = re.sub(r"'[0-9a-f]{32,}'", "'<hash>'", sql)
        for word in words:
            assert word not in outside_hashes
    for entry in desk.store.audit_entries():
        assert q not in entry.detail and q not in entry.subject


def test_search_newest_first_across_days(desk: Desk, staff: FlaskClient) -> None:
    older = save(desk.store, result(qualification()), "o1")
    earlier = older.created_at - timedelta(days=30)  # from the store's own clock
    with desk.store._lock:
        desk.store._db.execute(
            "UPDATE confirmations SET created_at = ? WHERE id = ?",
            [earlier.isoformat(), older.id],
        )
    newer = save(desk.store, result(qualification()), "o2")
    page = staff.get("/search?q=ヤマダタロウ").get_data(as_text=True)
    assert found_ids(page) == [newer.id, older.id]
    assert "2 件" in page
    # results span days: the day is shown
    assert f'<div class="date">{earlier.astimezone(JST):%Y/%m/%d}</div>' in page


def test_search_errors_and_empty(desk: Desk, staff: FlaskClient, people: dict[str, int]) -> None:
    before = len(desk.store.audit_entries())
    wrong = staff.get("/search", query_string={"q": "01130013 40199901 11"})
    assert wrong.status_code == 200
    assert "8桁目: 3 → 2" in html.unescape(wrong.get_data(as_text=True))
    unread = html.unescape(staff.get("/search?q=hello").get_data(as_text=True))
    assert "「hello」を" in unread and "読めませんでした" in unread  # names what it could not read
    assert found_ids(staff.get("/search?q=").get_data(as_text=True)) == []
    # `csrf` reads the desk page, which audits its list: count only search entries
    searches = [e for e in desk.store.audit_entries() if e.action == "confirmation.search"]
    assert searches == [] and len(desk.store.audit_entries()) >= before
    none = staff.get("/search?q=タナカ").get_data(as_text=True)
    assert "該当する資格確認はありません" in none


# -- detail page -----------------------------------------------------------------------------------
def test_detail_page_labels_every_field(desk: Desk, staff: FlaskClient) -> None:
    rich = result(
        qualification(
            address="東京都世田谷区桜丘1-2-3",
            post_number="1560054",
            limit=LimitInfo("01", "A03", "20250801", "20250801", "20260731"),
            elderly=ElderlyInfo("20240501", "20240501", "20290430", "020"),
            specific_diseases=("1",),
        ),
        qualification(name="山田　花子", name_kana="ヤマダ　ハナコ", branch="02"),
        validity="5",
        processing_message="複数の資格が該当しました。",
    )
    c = save(desk.store, rich, "d1")
    page = html.unescape(staff.get(f"/confirmations/{c.id}").get_data(as_text=True))
    for expected in (
        "資格情報 1",
        "資格情報 2",
        "山田　花子",
        "東京都世田谷区桜丘1-2-3",
        "被保険者証（一般） (01)",
        "本人 (1)",
        "男 (1)",
        "複数該当 (5)",
        "複数の資格が該当しました。",
        "限度額適用認定証 (01)",
        "ウ (A03)",
        "2026/07/31",
        "人工透析を必要とする慢性腎不全 (1)",
        "高齢受給者証",
        "暗証番号",  # method
        "今回照会",  # source
    ):
        assert expected in page, expected
    assert "応答XML" not in page  # reception only: no raw XML
    assert "<XmlMsg>" not in page
    actions = [a for a in audit(desk.store) if a[2] == f"confirmation:{c.id}"]
    assert (STAFF_USER, "confirmation.view", f"confirmation:{c.id}", "") in actions
    assert not any(a[1] == "confirmation.raw" for a in actions)
    assert staff.get("/confirmations/999").status_code == 404


def test_detail_page_consent_flags_with_times(desk: Desk, staff: FlaskClient) -> None:
    from sync.xmlmsg import ConsentState

    consents = (
        ConsentState("drug", "1", "20260401103000", "20260402103000"),
        ConsentState("checkup", "0", "20260401103000"),
    )
    c = save(desk.store, result(qualification(consents=consents)), "k1")
    page = html.unescape(staff.get(f"/confirmations/{c.id}").get_data(as_text=True))
    assert "薬剤情報" in page and "有効期限 2026/04/02 10:30:00" in page
    assert "同意日時 2026/04/01 10:30:00" in page
    assert "不同意" in page


def test_raw_xml_only_for_admin(desk: Desk) -> None:
    c = save(desk.store, result(qualification(name="<b>山田</b>")), "x1")
    admin = desk.admin()
    page = admin.get(f"/confirmations/{c.id}").get_data(as_text=True)
    assert "応答XML" in page
    assert "&lt;XmlMsg&gt;" in page  # pretty, and escaped
    assert "&lt;Name&gt;&amp;lt;b&amp;gt;山田" in page  # the value's own markup stays text
    assert "<b>山田</b>" not in page
    trail = audit(desk.store)
    assert (ADMIN_USER, "confirmation.raw", f"confirmation:{c.id}", "") in trail
    reception = desk.client()
    assert "&lt;XmlMsg&gt;" not in reception.get(f"/confirmations/{c.id}").get_data(as_text=True)


def test_detail_page_lists_the_audit_trail(desk: Desk, staff: FlaskClient) -> None:
    c = save(desk.store, result(qualification()), "t1")
    other = save(desk.store, result(qualification()), "t2")
    staff.get(f"/api/confirmations/{c.id}")
    desk.admin().get(f"/confirmations/{other.id}")
    page = staff.get(f"/confirmations/{c.id}").get_data(as_text=True)
    trail = page.split('class="trail"', 1)[1]
    rows = trail.count("<tr>") - 1  # minus the heading
    # stored, viewed by the row API, viewed now; nothing about the other confirmation
    assert rows == 3
    assert "保存" in trail and trail.count("閲覧") == 2
    assert ADMIN_USER not in trail
    # a person by their display name, the card reader in words
    assert "受付 花子" in trail and f"<td>{STAFF_USER}</td>" not in trail


# -- store: the audit trail of one subject ---------------------------------------------------------
def test_audit_for_subject(store: Store) -> None:
    for n in range(5):
        store.audit("a", "confirmation.view", "confirmation:1", str(n))
        store.audit("b", "confirmation.view", "confirmation:2")
    entries = store.audit_for_subject("confirmation:1")
    assert [e.detail for e in entries] == ["4", "3", "2", "1", "0"]  # newest first
    assert {e.subject for e in entries} == {"confirmation:1"}
    assert len(store.audit_for_subject("confirmation:1", limit=2)) == 2
    assert store.audit_for_subject("confirmation:3") == []
    plan = store._db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM audit WHERE subject = ? ORDER BY id DESC LIMIT ?",
        ["confirmation:1", 200],
    ).fetchall()
    assert "audit_subject" in str(plan)


def test_today_list_follows_the_store_clock_not_the_wall_clock(
    desk: Desk, staff: FlaskClient
) -> None:
    # The store stamps rows with the trusted (central-confirmed) time; a wall clock a year
    # behind must not hide today's answers from the desk.
    year_ahead = datetime.now(UTC) + timedelta(days=365)
    desk.store._clock = lambda: year_ahead
    saved = save(desk.store, result(qualification()), "t1")
    rows = staff.get("/api/confirmations").get_json()["confirmations"]
    assert [r["id"] for r in rows] == [saved.id]
    page = staff.get("/").get_data(as_text=True)
    assert year_ahead.astimezone(JST).strftime("%Y-%m-%d") in page
