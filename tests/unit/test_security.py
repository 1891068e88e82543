"""Second factor, rate limiting and session revocation through the staff app (Flask test client)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from flask import Blueprint, Flask, Response, jsonify
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from device.accounts import Accounts, StaffUser
from device.config import load_config
from device.events import EventBus
from device.ratelimit import LoginLimiter
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from tests.unit import test_web
from web.app import create_staff_app
from web.auth import SESSION_COOKIE, require_role

PASSWORD = "correct horse battery"
T0 = datetime(2026, 4, 1, 0, 0, 10, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class NoVisit:
    current = None


@dataclass
class Site:
    app: Flask
    accounts: Accounts
    store: Store
    clock: Clock
    doctor: StaffUser  # reception + clinical, TOTP enrolled
    doctor_secret: bytes
    admin: StaffUser  # admin, no TOTP yet
    clerk: StaffUser  # reception only, no TOTP


def probes() -> list[Blueprint]:
    page = Blueprint("probe_reception", __name__)
    page.before_request(require_role("reception"))

    @page.get("/probe/page")
    def reception_page() -> str:
        return "reception page"

    admin = Blueprint("probe_admin", __name__)
    admin.before_request(require_role("admin"))

    @admin.get("/probe/admin")
    def admin_page() -> str:
        return "admin page"

    @admin.route("/api/probe/admin", methods=["GET", "POST"])
    def admin_api() -> Response:
        return jsonify(ok=True)

    return [page, admin]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    clock = Clock()
    accounts = Accounts(store, clock=clock, limiter=LoginLimiter(per_client=8, clock=clock))
    doctor = accounts.create_user("doctor", "医師", ["clinical", "reception"], PASSWORD, actor="t")
    secret = accounts.new_totp_secret()
    accounts.enrol_totp(doctor, secret, code(secret, clock.now - timedelta(seconds=30)), actor="t")
    admin = accounts.create_user("kanri", "管理", ["admin", "reception"], PASSWORD, actor="t")
    clerk = accounts.create_user("uketsuke", "受付", ["reception"], PASSWORD, actor="t")
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(Any, NoVisit()),
        accounts=accounts,
    )
    app = create_staff_app(config, services)
    for bp in probes():
        app.register_blueprint(bp)
    yield Site(app, accounts, store, clock, doctor, secret, admin, clerk)
    store.close()


def code(secret: bytes, at: datetime) -> str:
    return TOTP(secret, 6, SHA1(), 30).generate(at.timestamp()).decode()


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, page
    return found.group(1)


def password_step(
    client: FlaskClient, username: str, password: str = PASSWORD, next_path: str = ""
) -> TestResponse:
    token = hidden(client.get("/login").get_data(as_text=True), "csrf_token")
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password, "next": next_path},
    )


def code_step(client: FlaskClient, totp_code: str, next_path: str = "") -> TestResponse:
    csrf = hidden(client.get("/login/totp").get_data(as_text=True), "csrf_token")
    return client.post(
        "/login/totp", data={"csrf_token": csrf, "code": totp_code, "next": next_path}
    )


def actions(store: Store, n: int) -> list[str]:
    return [e.action for e in reversed(store.audit_entries(n))]


# -- TOTP sign-in ----------------------------------------------------------------------------
def test_totp_sign_in_with_a_computed_code(site: Site) -> None:
    client = site.app.test_client()
    r = password_step(client, "doctor", next_path="/probe/page")
    assert r.status_code == 303 and r.headers["Location"] == "/login/totp?next=/probe/page"
    page = client.get(r.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "確認コード" in html and 'autocomplete="one-time-code"' in html
    assert 'id="current-user"' not in html  # not signed in yet
    r = code_step(client, code(site.doctor_secret, site.clock.now), "/probe/page")
    assert r.status_code == 303 and r.headers["Location"] == "/probe/page"
    assert client.get("/probe/page").get_data(as_text=True) == "reception page"
    assert actions(site.store, 2) == ["login.success", "login.second_factor"]
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    session = site.accounts.session(cookie.value)
    assert session is not None and session.second_factor and session.pending is None


def test_wrong_code_is_401_and_changes_nothing(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "doctor")
    wrong = "000000" if code(site.doctor_secret, site.clock.now) != "000000" else "999999"
    r = code_step(client, wrong)
    assert r.status_code == 401
    assert "確認コードが違う" in r.get_data(as_text=True)
    assert client.get("/probe/page").status_code == 302
    assert actions(site.store, 1) == ["login.failure"]
    assert site.store.audit_entries(1)[0].detail.startswith("totp")


def test_a_replayed_code_is_refused(site: Site) -> None:
    used = code(site.doctor_secret, site.clock.now)
    first = site.app.test_client()
    password_step(first, "doctor")
    assert code_step(first, used).status_code == 303
    second = site.app.test_client()  # someone who saw the code over the shoulder
    password_step(second, "doctor")
    assert code_step(second, used).status_code == 401
    assert second.get("/probe/page").status_code == 302


def test_pending_session_reaches_nothing_gated(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "doctor")
    for path in ["/", "/probe/page", "/probe/admin", "/account", "/account/totp"]:
        r = client.get(path)
        assert r.status_code == 302, path
        assert r.headers["Location"].startswith("/login/totp?next="), path
    api = client.get("/api/probe/admin", headers={"Accept": "application/json"})
    assert api.status_code == 401  # not an admin: simply not signed in
    csrf = hidden(client.get("/login/totp").get_data(as_text=True), "csrf_token")
    r = client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": "x" * 20,
            "new_password_again": "x" * 20,
        },
    )
    assert r.status_code == 302  # held at the code step; the password is unchanged
    assert site.accounts.authenticate("doctor", PASSWORD, client="t") is not None
    static = client.get("/static/staff.css")
    assert static.status_code == 200
    static.close()
    assert client.get("/login").status_code == 200  # may start over


def test_admin_without_totp_is_sent_to_enrolment(site: Site) -> None:
    client = site.app.test_client()
    r = password_step(client, "kanri", next_path="/probe/admin")
    assert r.status_code == 303 and r.headers["Location"] == "/account/totp?next=/probe/admin"
    r = client.get("/probe/admin")
    assert r.status_code == 302 and r.headers["Location"].startswith("/account/totp")
    r = client.get("/api/probe/admin", headers={"Accept": "application/json"})
    assert r.status_code == 403
    assert "二段階認証" in r.get_json()["message"]
    assert client.get("/probe/page").status_code == 302  # not even reception pages
    page = client.get("/account/totp?next=/probe/admin")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and 'class="totp-qr"' in html
    secret_b32 = hidden(html, "secret")
    secret = base64.b32decode(secret_b32)
    shown = re.search(r'id="totp-secret"[^>]*>([^<]+)<', html)
    assert shown is not None and shown.group(1).replace(" ", "") == secret_b32
    csrf = hidden(html, "csrf_token")
    bad = client.post(
        "/account/totp",
        data={"csrf_token": csrf, "secret": secret_b32, "code": "12345x", "next": "/probe/admin"},
    )
    assert bad.status_code == 422 and site.store.totp_secret(site.admin.id) is None
    r = client.post(
        "/account/totp",
        data={
            "csrf_token": csrf,
            "secret": secret_b32,
            "code": code(secret, site.clock.now),
            "next": "/probe/admin",
        },
    )
    assert r.status_code == 303 and r.headers["Location"] == "/probe/admin"
    assert client.get("/probe/admin").get_data(as_text=True) == "admin page"
    assert client.get("/api/probe/admin").status_code == 200
    assert site.store.totp_secret(site.admin.id) == secret
    assert "user.totp_enrolled" in actions(site.store, 2)
    # Next time the admin signs in, the code is asked.
    site.clock.advance(seconds=30)
    other = site.app.test_client()
    r = password_step(other, "kanri")
    assert r.headers["Location"].startswith("/login/totp")
    assert code_step(other, code(secret, site.clock.now)).status_code == 303
    assert other.get("/probe/admin").status_code == 200


def test_admin_gate_refuses_an_admin_session_without_the_second_factor(site: Site) -> None:
    # An admin made while signed in (roles changed): the session never passed a second factor.
    client = site.app.test_client()
    assert password_step(client, "uketsuke").status_code == 303
    assert client.get("/probe/page").status_code == 200
    site.accounts.set_roles(site.clerk.id, ["admin", "reception"], actor="kanri")
    r = client.get("/probe/admin")
    assert r.status_code == 302 and r.headers["Location"].startswith("/account/totp")


# -- rate limiting ---------------------------------------------------------------------------
def test_rate_limit_per_account_429_and_recovery(site: Site) -> None:
    client = site.app.test_client()
    for _ in range(5):
        assert password_step(client, "uketsuke", "wrong password!!").status_code == 401
    r = password_step(client, "uketsuke")  # the right password, but blocked
    assert r.status_code == 429
    html = r.get_data(as_text=True)
    assert "しばらくしてから" in html and "15分後" in html
    assert client.get_cookie(SESSION_COOKIE) is None
    assert actions(site.store, 1) == ["login.blocked"]
    english = site.app.test_client()
    english.get("/login?lang=en")
    r = password_step(english, "uketsuke")
    assert r.status_code == 429 and "try again in 15 minutes" in r.get_data(as_text=True)
    site.clock.advance(minutes=15)
    assert password_step(client, "uketsuke").status_code == 303
    assert client.get("/probe/page").status_code == 200


def test_rate_limit_per_client(site: Site) -> None:
    attacker = site.app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "192.0.2.66"
    for i in range(8):  # per_client=8 in this site; spread over usernames
        assert password_step(attacker, f"guess{i}", "wrong password!!").status_code == 401
    assert password_step(attacker, "uketsuke").status_code == 429
    desk = site.app.test_client()
    desk.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert password_step(desk, "uketsuke").status_code == 303  # others sign in as usual
    site.clock.advance(minutes=15)
    assert password_step(attacker, "uketsuke").status_code == 303


def test_wrong_codes_count_and_block_the_code_step(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "doctor")
    right = code(site.doctor_secret, site.clock.now)
    wrong = next(c for c in ("000000", "111111", "222222") if c != right)
    for _ in range(5):
        assert code_step(client, wrong).status_code == 401
    r = code_step(client, right)
    assert r.status_code == 429 and "しばらくしてから" in r.get_data(as_text=True)
    # Typing the password again does not reset the count.
    assert password_step(site.app.test_client(), "doctor").status_code == 429
    site.clock.advance(minutes=15)
    assert code_step(client, code(site.doctor_secret, site.clock.now)).status_code == 303


# -- CSRF and revocation ---------------------------------------------------------------------
def test_csrf_missing_is_403(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "doctor")
    r = client.post("/login/totp", data={"code": code(site.doctor_secret, site.clock.now)})
    assert r.status_code == 403
    assert client.get("/probe/page").status_code == 302  # the code was not even checked
    clerk = site.app.test_client()
    password_step(clerk, "uketsuke")
    r = clerk.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "x" * 20,
            "new_password_again": "x" * 20,
        },
    )
    assert r.status_code == 403
    assert site.accounts.authenticate("uketsuke", PASSWORD, client="t") is not None


def test_logout_revokes_the_session(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "uketsuke")
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    stolen = cookie.value
    csrf = hidden(client.get("/account").get_data(as_text=True), "csrf_token")
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    replay = site.app.test_client()
    replay.set_cookie(SESSION_COOKIE, stolen)
    assert replay.get("/probe/page").status_code == 302
    assert site.accounts.session(stolen) is None


def test_disabling_a_user_ends_their_session(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "uketsuke")
    assert client.get("/probe/page").status_code == 200
    site.accounts.set_disabled(site.clerk.id, True, actor="kanri")
    r = client.get("/probe/page")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert password_step(site.app.test_client(), "uketsuke").status_code == 401


# -- the account page ------------------------------------------------------------------------
def test_account_page_change_password(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "uketsuke")
    elsewhere = site.app.test_client()
    password_step(elsewhere, "uketsuke")
    page = client.get("/account")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "パスワードの変更" in html and "uketsuke" in html
    csrf = hidden(html, "csrf_token")
    data = {"csrf_token": csrf, "current_password": PASSWORD, "new_password_again": "y" * 14}
    r = client.post("/account/password", data={**data, "new_password": "x" * 14})
    assert r.status_code == 422 and "一致しません" in r.get_data(as_text=True)
    r = client.post(
        "/account/password",
        data={**data, "current_password": "not it at all", "new_password": "y" * 14},
    )
    assert r.status_code == 422 and "現在のパスワードが違います" in r.get_data(as_text=True)
    r = client.post("/account/password", data={**data, "new_password": "y" * 14})
    assert r.status_code == 303 and r.headers["Location"] == "/account?done=password_changed"
    assert "パスワードを変更しました" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert client.get("/probe/page").status_code == 200  # this browser stays signed in
    assert elsewhere.get("/probe/page").status_code == 302  # the others do not
    assert password_step(site.app.test_client(), "uketsuke", "y" * 14).status_code == 303


def test_a_non_admin_enrols_and_removes_totp_from_the_account_page(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "uketsuke")
    assert "登録されていません" in client.get("/account").get_data(as_text=True)
    html = client.get("/account/totp").get_data(as_text=True)
    assert 'id="enrol-required"' not in html
    secret = base64.b32decode(hidden(html, "secret"))
    r = client.post(
        "/account/totp",
        data={
            "csrf_token": hidden(html, "csrf_token"),
            "secret": hidden(html, "secret"),
            "code": code(secret, site.clock.now),
        },
    )
    assert r.status_code == 303 and r.headers["Location"] == "/account?done=totp_enrolled"
    assert client.get("/probe/page").status_code == 200  # this session counts as verified
    html = client.get("/account").get_data(as_text=True)
    assert "登録済み" in html
    csrf = hidden(html, "csrf_token")
    r = client.post("/account/totp/remove", data={"csrf_token": csrf, "password": "wrong one!!"})
    assert r.status_code == 422 and site.store.totp_secret(site.clerk.id) is not None
    r = client.post("/account/totp/remove", data={"csrf_token": csrf, "password": PASSWORD})
    assert r.status_code == 303 and site.store.totp_secret(site.clerk.id) is None


def test_a_tampered_enrolment_secret_is_refused(site: Site) -> None:
    client = site.app.test_client()
    password_step(client, "uketsuke")
    html = client.get("/account/totp").get_data(as_text=True)
    for junk in ["", "ABC", "!" * 32, "A" * 40]:
        r = client.post(
            "/account/totp",
            data={"csrf_token": hidden(html, "csrf_token"), "secret": junk, "code": "123456"},
        )
        assert r.status_code == 422
    assert site.store.totp_secret(site.clerk.id) is None


def test_the_shared_sign_in_helper_with_totp(tmp_path: Path, store: Store) -> None:
    """tests/unit/test_web.py's helper signs an admin in with a real-time code."""
    secret = test_web.add_admin(store)
    setup = test_web.build(tmp_path, store)
    client = test_web.sign_in_with_totp(setup.staff.test_client(), "kanri", secret)
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    session = setup.services.accounts.session(cookie.value) if setup.services.accounts else None
    assert session is not None and session.second_factor and session.user.has("admin")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "web.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()
