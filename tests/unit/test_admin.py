"""web/admin.py through the staff app: gate, settings, restart, users, audit viewer, status."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from device.accounts import Accounts, hash_password
from device.config import Config, load_config, stored_setting_problem
from device.errors_log import RecentErrors
from device.events import EventBus
from device.flow import VisitFlow
from device.services import Services
from device.status import ApplianceStatus, Fact, Finding, StatusItem, StatusKind
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from web.app import create_kiosk_app, create_staff_app
from web.auth import SESSION_COOKIE

ADMIN, ADMIN_PASSWORD = "kanri", "admin password 1"

DESK, DESK_PASSWORD = "uketsuke", "desk password 1"
DESK_HASH = hash_password(DESK_PASSWORD)


@dataclass
class FakeFlow:
    current: object = None  # no visit under way: the reception page renders
    card_left: str | None = None


class FakeStatus:
    def collect(self) -> list[StatusItem]:
        return [
            StatusItem(StatusKind.CENTRAL, False, Finding(Fact.UNREACHABLE)),
            StatusItem(StatusKind.CERTIFICATE, None, Finding(Fact.CERT_DAYS_LEFT, {"days": 12})),
        ]


@dataclass
class Admin:
    store: Store
    accounts: Accounts
    services: Services
    client: FlaskClient
    restart: threading.Event

    def csrf(self) -> str:
        html = self.client.get("/admin/status").get_data(as_text=True)
        return html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf()})

    def actions(self) -> list[tuple[str, str, str, str]]:
        return [
            (e.actor, e.action, e.subject, e.detail) for e in reversed(self.store.audit_search())
        ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


def make_config(tmp_path: Path, environ: dict[str, str] | None = None) -> Config:
    return load_config(
        environ=environ or {},
        overrides={"data_dir": str(tmp_path)},
        stored={},
    )


def signed_in(app_client: FlaskClient, accounts: Accounts, username: str) -> FlaskClient:
    """A browser whose session has passed the password and, for admins, the second factor."""
    user = accounts.authenticate(
        username, ADMIN_PASSWORD if username == ADMIN else DESK_PASSWORD, client="test"
    )
    assert user is not None
    token = accounts.start_session(user, client="test")
    accounts.complete_second_factor(token)
    app_client.set_cookie(SESSION_COOKIE, token)
    return app_client


def build(
    tmp_path: Path, store: Store, *, environ: dict[str, str] | None = None, status: Any = None
) -> Admin:
    config = make_config(tmp_path, environ)
    accounts = Accounts(store)
    if store.user_by_username(ADMIN) is None:
        accounts.create_user(ADMIN, "管理 太郎", ["admin"], ADMIN_PASSWORD, actor="test")
        store.add_user(DESK, "受付 花子", ("reception",), DESK_HASH)
    restart = threading.Event()
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(VisitFlow, FakeFlow()),
        accounts=accounts,
        status=cast(ApplianceStatus, status if status is not None else FakeStatus()),
        restart=restart,
    )
    app = create_staff_app(config, services)
    client = signed_in(app.test_client(), accounts, ADMIN)
    return Admin(store, accounts, services, client, restart)


@pytest.fixture
def admin(tmp_path: Path, store: Store) -> Admin:
    return build(tmp_path, store)


ADMIN_PAGES = ("/admin/", "/admin/status", "/admin/settings", "/admin/users", "/admin/audit")


# -- the gate ----------------------------------------------------------------------------
def test_anonymous_is_sent_to_sign_in(admin: Admin) -> None:
    anonymous = admin.client.application.test_client()
    for path in ADMIN_PAGES:
        r = anonymous.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    assert (
        anonymous.get("/admin/api/status", headers={"Accept": "application/json"}).status_code
        == 401
    )
    assert anonymous.post("/admin/restart").status_code in (302, 403)
    assert not admin.restart.is_set()


def test_reception_staff_are_refused(admin: Admin) -> None:
    desk = signed_in(admin.client.application.test_client(), admin.accounts, DESK)
    for path in ADMIN_PAGES:
        assert desk.get(path).status_code == 403, path
    html = desk.get("/").get_data(as_text=True)
    token = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert desk.post("/admin/restart", data={"csrf_token": token}).status_code == 403
    assert desk.post("/admin/settings", data={"csrf_token": token}).status_code == 403
    assert not admin.restart.is_set()


def test_admin_without_second_factor_is_refused(admin: Admin) -> None:
    client = admin.client.application.test_client()
    user = admin.accounts.authenticate(ADMIN, ADMIN_PASSWORD, client="test")
    assert user is not None
    client.set_cookie(SESSION_COOKIE, admin.accounts.start_session(user, client="test"))
    r = client.get("/admin/settings")
    assert r.status_code in (302, 303, 403)
    assert "settings-form" not in r.get_data(as_text=True)


# -- settings ----------------------------------------------------------------------------
def settings_form(**values: Any) -> dict[str, Any]:
    return {"_fields": list(values), **values}


def test_settings_page_shows_every_setting_with_its_source(tmp_path: Path, store: Store) -> None:
    admin = build(tmp_path, store, environ={"ONSHI_READER": "SONY"})
    html = admin.client.get("/admin/settings").get_data(as_text=True)
    from device.settings import SETTINGS

    for setting in SETTINGS:
        assert f'id="setting-{setting.name}"' in html, setting.name
    reader = html.split('id="setting-reader"', 1)[1].split("</tr>", 1)[0]
    assert "環境変数（固定）" in reader and 'name="reader"' not in reader  # locked
    data_dir = html.split('id="setting-data_dir"', 1)[1].split("</tr>", 1)[0]
    assert "変更不可" in data_dir and 'name="data_dir"' not in data_dir
    kinds = html.split('id="setting-consent_kinds"', 1)[1].split("</tr>", 1)[0]
    assert kinds.count('type="checkbox"') == 4 and "薬剤情報" in kinds
    assert 'type="checkbox" id="f-demo"' not in html  # demo is not editable
    assert "医療機関コード（10桁）" in html  # Japanese help
    english = admin.client.get("/admin/settings?lang=en").get_data(as_text=True)
    assert "sent in every request" in english


def test_saving_valid_settings_stores_and_audits(admin: Admin) -> None:
    r = admin.post(
        "/admin/settings",
        settings_form(
            retention_days="62",
            pin_timeout_s="90",  # unchanged (90.0): not saved
            consent_kinds=["checkup", "surgery"],
            language="en",
            reader="ACS",
        ),
    )
    assert r.status_code == 303 and "saved=1" in r.headers["Location"]
    assert admin.store.stored_settings() == {
        "consent_kinds": "checkup,surgery",
        "language": "en",
        "reader": "ACS",
        "retention_days": "62",
    }
    changes = [a for a in admin.actions() if a[1] == "setting.changed"]
    assert (ADMIN, "setting.changed", "setting:retention_days", "31 → 62") in changes
    assert (ADMIN, "setting.changed", "setting:reader", " → ACS") in changes
    assert len(changes) == 4
    page = admin.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "再起動後に反映されます" in page and 'id="restart"' in page
    assert "再起動後に反映" in page.split('id="setting-retention_days"', 1)[1].split("</tr>", 1)[0]
    # a stored value is shown as the form's value, and can be removed again
    assert 'name="retention_days" value="62"' in page
    r = admin.post("/admin/settings/retention_days/reset")
    assert r.status_code == 303 and "retention_days" not in admin.store.stored_settings()


def test_a_checkbox_left_unticked_means_false(admin: Admin) -> None:
    r = admin.post("/admin/settings", settings_form(consent_kinds=[]))
    assert r.status_code == 303
    assert admin.store.stored_settings() == {"consent_kinds": ""}


def test_invalid_settings_save_nothing_and_say_why(admin: Admin) -> None:
    r = admin.post(
        "/admin/settings",
        settings_form(
            retention_days="62",
            medical_institution_code="12345",
            log_level="TRAFFIC",
            pin_timeout_s="soon",
        ),
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "何も保存していません" in html
    for name, reason in (
        ("medical_institution_code", "10桁の数字"),
        ("log_level", "TRAFFIC"),
        ("pin_timeout_s", "で指定してください"),
    ):
        row = html.split(f'id="setting-{name}"', 1)[1].split("</tr>", 1)[0]
        assert f'id="error-{name}"' in row and reason in row, name
        assert 'aria-invalid="true"' in row and f"error-{name}" in row.split("aria-describedby")[1]
        assert " / " not in row.split(f'id="error-{name}">')[1].split("</div>")[0]  # one language
    assert 'id="error-retention_days"' not in html
    # the focus goes to the first refused field in the page's order (kiosk comes before central)
    assert html.count(" autofocus") == 1
    assert re.search(r'id="f-pin_timeout_s"[^>]* autofocus', html)
    assert 'href="#f-pin_timeout_s"' in html
    assert 'name="medical_institution_code" value="12345"' in html  # what was typed, to fix
    assert admin.store.stored_settings() == {}
    assert not [a for a in admin.actions() if a[1] == "setting.changed"]


def test_invalid_settings_in_english_say_why_in_english(admin: Admin) -> None:
    r = admin.post("/admin/settings?lang=en", settings_form(medical_institution_code="12345"))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    row = html.split('id="setting-medical_institution_code"', 1)[1].split("</tr>", 1)[0]
    error = row.split('id="error-medical_institution_code">')[1].split("</div>")[0]
    assert error == "must be 10 digits"
    assert "Medical institution code" in row


def test_settings_are_in_groups_with_japanese_labels(admin: Admin) -> None:
    from device.settings import GROUPS, SETTINGS
    from web.strings_admin import SETTING_GROUPS, SETTING_HELP_JA, SETTING_LABELS

    html = admin.client.get("/admin/settings").get_data(as_text=True)
    sections = re.findall(r'<section class="settings-group" id="group-(\w+)"', html)
    assert sections == list(GROUPS)
    for setting in SETTINGS:
        assert setting.group in GROUPS, setting.name  # none is ungrouped
        assert setting.name in SETTING_LABELS and setting.name in SETTING_HELP_JA, setting.name
        section = html.split(f'id="group-{setting.group}"', 1)[1].split("</section>", 1)[0]
        assert f'id="setting-{setting.name}"' in section, setting.name
    assert set(SETTING_GROUPS) == set(GROUPS)
    assert "カードリーダー" in html and "医療機関コード" in html
    assert "Seconds the kiosk waits" not in html  # Japanese help only on a Japanese page


def test_nan_infinities_and_out_of_range_numbers_are_refused_like_at_start(
    admin: Admin,
) -> None:
    # Before: "nan" was saved, and the kiosk page then answered 500 (int(nan)); 800000 days
    # was saved too, and the retention purge then failed every day (a date before year 1) and
    # deleted no personal data. Now the page refuses what start-up refuses.
    typed = {
        "pin_timeout_s": ("nan", "finite"),
        "retention_days": ("800000", "between 1 and 3660"),
        "kiosk_reset_s": ("inf", "finite"),
        "consent_timeout_s": ("1e308", "between 1 and 3600"),
        "staff_timeout_s": ("-5", "between 1 and 3600"),
        "central_retries": ("1000000", "between 0 and 10"),
        "central_timeout_s": ("١٠", "must be a number"),  # Arabic-Indic digits
    }
    form = settings_form(**{k: v for k, (v, _) in typed.items()})
    r = admin.post("/admin/settings?lang=en", form)  # the reasons in English
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    for name, (_value, reason) in typed.items():
        row = html.split(f'id="setting-{name}"', 1)[1].split("</tr>", 1)[0]
        assert f'id="error-{name}"' in row and reason in row, name
    assert admin.store.stored_settings() == {}
    for name, (value, _reason) in typed.items():
        assert stored_setting_problem(name, value) is not None  # and start-up agrees
    page = admin.client.get("/admin/settings").get_data(as_text=True)
    # the browser knows the range too
    assert re.search(r'name="retention_days" value="31" step="1"[^>]* min="1" max="3660"', page)
    assert re.search(
        r'name="central_timeout_s" value="10.0" step="any"[^>]* min="0.5" max="300"', page
    )


def test_the_kiosk_page_works_with_every_value_the_admin_page_accepts(
    tmp_path: Path, store: Store
) -> None:
    admin = build(tmp_path, store)
    for name, value in (("pin_timeout_s", "3600"), ("kiosk_reset_s", "600")):
        r = admin.post("/admin/settings", settings_form(**{name: value}))
        assert r.status_code == 303, name
    config = load_config(
        environ={}, overrides={"data_dir": str(tmp_path)}, stored=store.stored_settings()
    )
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(VisitFlow, FakeFlow()),
    )
    kiosk = create_kiosk_app(config, services).test_client()
    r = kiosk.get("/", base_url=f"http://127.0.0.1:{config.kiosk_port}")
    assert r.status_code == 200 and 'data-reset-ms="600000"' in r.get_data(as_text=True)


def test_locked_and_read_only_settings_are_refused(tmp_path: Path, store: Store) -> None:
    admin = build(tmp_path, store, environ={"ONSHI_READER": "SONY"})
    for form in (
        settings_form(reader="ACS"),
        settings_form(data_dir="/tmp/x"),
        settings_form(demo="true"),
    ):
        r = admin.post("/admin/settings", form)
        assert r.status_code == 422, form
    assert store.stored_settings() == {}


def test_restart_button_sets_the_event(admin: Admin) -> None:
    assert not admin.restart.is_set()
    r = admin.post("/admin/restart")
    assert r.status_code == 202 and "再起動しています" in r.get_data(as_text=True)
    assert admin.restart.is_set()
    assert (ADMIN, "appliance.restart", "appliance", "") in admin.actions()


def test_restart_needs_csrf(admin: Admin) -> None:
    assert admin.client.post("/admin/restart").status_code == 403
    assert not admin.restart.is_set()


# -- users -------------------------------------------------------------------------------
def user_id(admin: Admin, username: str) -> int:
    row = admin.store.user_by_username(username)
    assert row is not None
    return row.id


def test_users_list_and_create(admin: Admin) -> None:
    html = admin.client.get("/admin/users").get_data(as_text=True)
    assert ADMIN in html and DESK in html and "受付 花子" in html
    r = admin.post(
        "/admin/users",
        {
            "username": "doctor2",
            "display_name": "医師 次郎",
            "roles": ["clinical", "reception"],
            "password": "a long doctor password",
            "password_again": "a long doctor password",
        },
    )
    assert r.status_code == 303
    assert admin.accounts.authenticate("doctor2", "a long doctor password", client="t") is not None
    assert (ADMIN, "user.created", "user:doctor2", "roles=clinical,reception") in admin.actions()
    html = admin.client.get("/admin/users").get_data(as_text=True)
    assert "医師 次郎" in html


def test_create_user_refusals_are_422_with_the_reason(admin: Admin) -> None:
    base = {
        "username": "nurse",
        "display_name": "看護 三郎",
        "roles": ["reception"],
        "password": "a long nurse password",
        "password_again": "a long nurse password",
    }
    for change, reason, english in (
        ({"password_again": "something else entirely"}, "一致しません", "differ"),
        ({"password": "short", "password_again": "short"}, "12", "12"),
        ({"roles": []}, "役割", "role"),
        ({"username": DESK}, "既に存在します", "already exists"),
        ({"username": "Bad Name"}, "ユーザー名", "username"),
    ):
        r = admin.post("/admin/users?lang=ja", {**base, **change})
        assert r.status_code == 422, change
        error = r.get_data(as_text=True).split('id="user-error">')[1].split("</p>")[0]
        assert reason in error and english not in error.lower().replace("12", ""), change
        r = admin.post("/admin/users?lang=en", {**base, **change})
        error = r.get_data(as_text=True).split('id="user-error">')[1].split("</p>")[0]
        assert english in error and "。" not in error, change
    assert admin.store.user_by_username("nurse") is None


def test_disable_enable_password_roles_and_totp_reset(admin: Admin) -> None:
    desk_id = user_id(admin, DESK)
    desk = signed_in(admin.client.application.test_client(), admin.accounts, DESK)
    assert desk.get("/").status_code == 200
    assert admin.post(f"/admin/users/{desk_id}/disabled", {"disabled": "1"}).status_code == 303
    assert desk.get("/").status_code == 302  # their session ended
    assert admin.accounts.authenticate(DESK, DESK_PASSWORD, client="t") is None
    assert admin.post(f"/admin/users/{desk_id}/disabled", {"disabled": "0"}).status_code == 303
    new = "a brand new password"
    r = admin.post(f"/admin/users/{desk_id}/password", {"password": new, "password_again": new})
    assert r.status_code == 303
    assert admin.accounts.authenticate(DESK, new, client="t") is not None
    r = admin.post(f"/admin/users/{desk_id}/roles", {"roles": ["reception", "clinical"]})
    assert r.status_code == 303
    summary = admin.accounts.user_by_id(desk_id)
    assert summary is not None and summary.roles == frozenset({"reception", "clinical"})
    assert admin.post(f"/admin/users/{desk_id}/totp-reset").status_code == 303
    done = [(a[1], a[2]) for a in admin.actions() if a[0] == ADMIN and a[1].startswith("user.")]
    assert done[-5:] == [
        ("user.disabled", f"user:{DESK}"),
        ("user.enabled", f"user:{DESK}"),
        ("user.password_reset", f"user:{DESK}"),
        ("user.roles", f"user:{DESK}"),
        ("user.totp_reset", f"user:{DESK}"),
    ]


def test_last_admin_and_self_rules_come_back_as_422(admin: Admin) -> None:
    me = user_id(admin, ADMIN)
    html = admin.client.get("/admin/users").get_data(as_text=True)
    mine = html.split(f'id="user-{me}"', 1)[1].split("</tr>", 1)[0]
    other = html.split(f'id="user-{user_id(admin, DESK)}"', 1)[1].split("</tr>", 1)[0]
    assert 'name="disabled"' not in mine  # not offered on one's own account
    assert 'class="danger-zone"' in other and "すぐにログアウト" in other
    r = admin.post(f"/admin/users/{me}/disabled", {"disabled": "1"})
    assert r.status_code == 422 and 'id="user-error"' in r.get_data(as_text=True)
    assert "自分のアカウントは無効にできません" in r.get_data(as_text=True)
    assert "you cannot" not in r.get_data(as_text=True).lower()
    r = admin.post(f"/admin/users/{me}/roles", {"roles": ["reception"]})
    assert r.status_code == 422
    summary = admin.accounts.user_by_id(me)
    assert summary is not None and summary.roles == frozenset({"admin"}) and not summary.disabled


# -- audit -------------------------------------------------------------------------------
def audit_rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', html)]


def test_audit_viewer_filters_and_is_audited(admin: Admin) -> None:
    store = admin.store
    store.audit("alice", "clinical.view", "confirmation:12", "drug")
    store.audit("bob", "clinical.view", "confirmation:13", "drug")
    store.audit("alice", "login.success", "user:alice")
    html = admin.client.get("/admin/audit").get_data(as_text=True)
    ids = audit_rows(html)
    assert ids == sorted(ids, reverse=True) and len(ids) > 3
    assert '<option value="clinical.view"' in html
    by_actor = admin.client.get("/admin/audit?actor=alice").get_data(as_text=True)
    assert len(audit_rows(by_actor)) == 2
    both = admin.client.get("/admin/audit?actor=alice&action=clinical.view")
    assert len(audit_rows(both.get_data(as_text=True))) == 1
    subject = admin.client.get("/admin/audit?subject=confirmation:1").get_data(as_text=True)
    assert len(audit_rows(subject)) == 2
    today = admin.client.get("/admin/audit?from=2000-01-01&to=2000-01-02").get_data(as_text=True)
    assert audit_rows(today) == [] and "該当する記録はありません" in today
    bad = admin.client.get("/admin/audit?from=yesterday")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    views = [a for a in admin.actions() if a[1] == "audit.view"]
    assert len(views) == 6 and all(a[0] == ADMIN for a in views)
    assert "actor=alice" in views[1][3]


def test_audit_list_names_people_and_actions_in_words(admin: Admin) -> None:
    from web.strings_admin import AUDIT_ACTIONS, AUDIT_ACTORS

    admin.store.audit(DESK, "visit.visual_check", "visit:3")
    admin.store.audit("reader", "confirmation.stored", "confirmation:9")
    html = admin.client.get("/admin/audit?lang=ja").get_data(as_text=True)
    row = html.split('data-action="visit.visual_check"', 1)[0].rsplit("<tr", 1)[1]
    assert "受付 花子" in row and f">{DESK}<" not in row  # the display name, not the username
    assert f'href="/admin/audit?actor={DESK}"' in row  # one click filters by that person
    assert "目視確認" in html and "カードリーダー" in html and "確認結果を保存" in html
    assert '<option value="visit.visual_check">目視確認</option>' in html
    english = admin.client.get("/admin/audit?lang=en").get_data(as_text=True)
    assert "visual check" in english and "card reader" in english and "目視確認" not in english
    for words in (*AUDIT_ACTIONS.values(), *AUDIT_ACTORS.values()):
        assert all(words) and words[0] != "" and words[1].isascii(), words


def test_audit_viewer_pages_by_100(admin: Admin) -> None:
    for i in range(130):
        admin.store.audit("bulk", "bulk.entry", f"n:{i}")
    first = admin.client.get("/admin/audit?actor=bulk").get_data(as_text=True)
    assert len(audit_rows(first)) == 100
    older = re.search(r'href="([^"]+)" id="older"', first)
    assert older is not None
    second = admin.client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(audit_rows(second)) == 30 and 'id="older"' not in second
    assert max(audit_rows(second)) < min(audit_rows(first))


def test_verify_button_reports_and_is_audited(admin: Admin, tmp_path: Path) -> None:
    r = admin.post("/admin/audit/verify")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'id="verify-result"' in html and "改ざんはありません" in html
    assert [a for a in admin.actions() if a[1] == "audit.verify"][0][3].startswith("ok entries=")
    import sqlite3

    conn = sqlite3.connect(tmp_path / "onshi.db")
    with conn:
        conn.execute("UPDATE audit SET detail = 'changed' WHERE id = 2")
    conn.close()
    html = admin.post("/admin/audit/verify").get_data(as_text=True)
    assert "2 番の記録で連鎖が切れています" in html and "hash does not match" in html
    assert "broken at id=2" in [a for a in admin.actions() if a[1] == "audit.verify"][-1][3]


def test_verify_button_reports_removed_newest_entries(admin: Admin, tmp_path: Path) -> None:
    import sqlite3

    admin.post("/admin/audit/verify")  # a few entries, each anchored
    conn = sqlite3.connect(tmp_path / "onshi.db")
    with conn:
        newest = conn.execute("SELECT MAX(id) FROM audit").fetchone()[0]
        conn.execute("DELETE FROM audit WHERE id = ?", (newest,))
    conn.close()
    html = admin.post("/admin/audit/verify").get_data(as_text=True)
    assert f"{newest} 番の記録で連鎖が切れています" in html
    assert "the newest entries were removed" in html


# -- status ------------------------------------------------------------------------------
def test_status_page_and_json(admin: Admin) -> None:
    html = admin.client.get("/admin/status").get_data(as_text=True)
    assert "中央サービス" in html and "異常" in html and "要確認" in html
    assert "level-bad" in html and "admin.js" in html and "<script>" not in html
    data = admin.client.get("/admin/api/status", headers={"Accept": "application/json"}).get_json()
    assert data["ok"] is True
    assert [(i["key"], i["level"], i["ok"]) for i in data["items"]] == [
        ("central", "bad", False),
        ("certificate", "warn", None),
    ]
    # one language per page: Japanese words on the Japanese page, English through the switch
    assert "接続できません" in html and "unreachable" not in html and "days left" not in html
    assert [i["value"] for i in data["items"]] == ["接続できません", "残り 12 日"]
    english = admin.client.get("/admin/api/status?lang=en").get_json()
    assert english["items"][0]["label"] == "Central service"
    assert english["items"][0]["level_text"] == "Problem"
    assert [i["value"] for i in english["items"]] == ["unreachable", "12 days left"]
    page = admin.client.get("/admin/status?lang=en").get_data(as_text=True)
    assert "12 days left" in page and "残り" not in page


def test_status_with_real_collector(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)

    class DownCentral:
        def health(self) -> float:
            from sync.central import CentralUnavailable

            raise CentralUnavailable("unreachable")

    status = ApplianceStatus(
        config=config,
        store=store,
        central=cast(Any, DownCentral()),
        bus=EventBus(),
        list_readers=lambda: ["Virtual PCD 00 00"],
        errors=RecentErrors(),
        ntp_synchronized=lambda: None,
    )
    try:
        admin = build(tmp_path, store, status=status)
        html = admin.client.get("/admin/status").get_data(as_text=True)
        assert 'data-key="central"' in html and "unreachable" in html
    finally:
        status.close()
