"""web/auth.py: sign-in, the session cookie, CSRF, open redirects and role gates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from device.accounts import Accounts, StaffUser, token_hash
from device.config import load_config
from device.events import EventBus
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from web.app import _base_app, create_kiosk_app, create_staff_app
from web.auth import SESSION_COOKIE, current_user, require_role, safe_next

from .test_web import as_kiosk_browser

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class NoVisit:
    current = None


@dataclass
class Site:
    app: Flask
    kiosk: Flask
    accounts: Accounts
    store: Store
    clock: Clock
    reception: StaffUser
    doctor: StaffUser


def probe_blueprint() -> Blueprint:
    """Stand-ins for gated pages: a clinical area and a reception API."""
    clinical = Blueprint("probe_clinical", __name__, url_prefix="/probe")
    clinical.before_request(require_role("clinical"))

    @clinical.get("/page")
    def page() -> str:
        user = current_user()
        return f"clinical page for {user.username if user else '?'}"

    @clinical.post("/change")
    def change() -> str:
        return "changed"

    @clinical.get("/events/probe")
    def events() -> str:
        return "stream"

    return clinical


def api_blueprint() -> Blueprint:
    api = Blueprint("probe_api", __name__)
    api.before_request(require_role("reception"))

    @api.route("/api/probe", methods=["GET", "POST"])
    def probe() -> object:
        return jsonify(ok=True)

    @api.get("/events/probe")
    def events() -> str:
        return "stream"

    return api


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    clock = Clock()
    accounts = Accounts(store, clock=clock)
    reception = accounts.create_user("uketsuke", "受付 花子", ["reception"], PASSWORD, actor="t")
    doctor = accounts.create_user(
        "doctor", "医師 太郎", ["clinical", "reception"], PASSWORD, actor="t"
    )
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(Any, NoVisit()),  # no visit runs: the pages only read `current`
        accounts=accounts,
    )
    app = create_staff_app(config, services)
    app.register_blueprint(probe_blueprint())
    app.register_blueprint(api_blueprint())
    kiosk = as_kiosk_browser(create_kiosk_app(config, services), config.kiosk_port)
    yield Site(app, kiosk, accounts, store, clock, reception, doctor)
    store.close()


def login_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def sign_in(
    client: FlaskClient, username: str, password: str = PASSWORD, next_path: str = ""
) -> TestResponse:
    token = login_token(client)
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password, "next": next_path},
    )


def session_csrf(site: Site, client: FlaskClient) -> str:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    found = site.accounts.session(cookie.value)
    assert found is not None
    return found.csrf_token


# -- the login page ------------------------------------------------------------------------
def test_login_page_japanese_first_with_english(site: Site) -> None:
    client = site.app.test_client()
    html = client.get("/login").get_data(as_text=True)
    assert "職員ログイン" in html and 'lang="ja"' in html
    assert 'autocomplete="username"' in html and 'autocomplete="current-password"' in html
    assert 'type="password"' in html
    english = client.get("/login?lang=en&next=/probe/page").get_data(as_text=True)
    assert "Staff sign-in" in english and "Sign in" in english
    assert "next=/probe/page" in english  # the language switch keeps where to go after
    assert "ログアウト" not in html and "Sign out" not in english  # nobody signed in yet


def test_wrong_credentials_one_message_401_nothing_changes(site: Site) -> None:
    client = site.app.test_client()
    answers = [
        sign_in(client, "uketsuke", "wrong password!"),
        sign_in(client, "nobody", PASSWORD),
        sign_in(client, "", ""),
    ]
    for r in answers:
        assert r.status_code == 401
        html = r.get_data(as_text=True)
        assert "ユーザー名またはパスワードが違います" in html
        assert SESSION_COOKIE not in r.headers.get("Set-Cookie", "")
        assert PASSWORD not in html and "wrong password" not in html
    with site.store._lock:
        assert site.store._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    assert client.get("/probe/page").status_code == 302


def test_login_sets_a_strict_cookie_and_redirects(site: Site) -> None:
    client = site.app.test_client()
    r = sign_in(client, "doctor", next_path="/probe/page")
    assert r.status_code == 303 and r.headers["Location"] == "/probe/page"
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert site.store.session(value) is None  # only the hash is stored
    assert site.store.session(token_hash(value)) is not None
    assert client.get("/probe/page").get_data(as_text=True) == "clinical page for doctor"


def test_cookie_is_secure_over_https(site: Site) -> None:
    client = site.app.test_client()
    token = login_token(client)
    r = client.post(
        "/login",
        data={"csrf_token": token, "username": "doctor", "password": PASSWORD},
        base_url="https://localhost",
    )
    assert r.status_code == 303
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" in cookie


def test_the_login_token_cookie_is_secure_over_https_too(site: Site) -> None:
    # The login form's token travels in Flask's signed session cookie, besides the session one.
    over_https = site.app.test_client().get("/login", base_url="https://127.0.0.1:8080")
    cookie = next(c for c in over_https.headers.getlist("Set-Cookie") if "onshi_staff=" in c)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    plain = site.app.test_client().get("/login")  # plain http (tests): a browser would drop it
    cookie = next(c for c in plain.headers.getlist("Set-Cookie") if "onshi_staff=" in c)
    assert "Secure" not in cookie
    english = site.app.test_client().get("/login?lang=en", base_url="https://127.0.0.1:8080")
    lang = next(c for c in english.headers.getlist("Set-Cookie") if "onshi_staff_lang=" in c)
    assert "Secure" in lang


def test_login_csrf_is_refused(site: Site) -> None:
    client = site.app.test_client()
    form = {"username": "doctor", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403  # never saw the form
    token = login_token(client)
    assert client.post("/login", data={**form, "csrf_token": "x" + token}).status_code == 403
    attacker = site.app.test_client()
    stolen = login_token(attacker)  # a token from another browser does not fit this one
    assert client.post("/login", data={**form, "csrf_token": stolen}).status_code == 403
    assert client.get_cookie(SESSION_COOKIE) is None
    assert client.post("/login", data={**form, "csrf_token": token}).status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
        "javascript:alert(1)",
        "",
    ],
)
def test_open_redirect_refused(site: Site, target: str) -> None:
    r = sign_in(site.app.test_client(), "doctor", next_path=target)
    # never the target given: the doctor's own landing page instead
    assert r.status_code == 303 and r.headers["Location"] == "/clinical/"


def test_a_doctor_lands_on_clinical_and_the_desk_on_reception(site: Site) -> None:
    assert sign_in(site.app.test_client(), "doctor").headers["Location"] == "/clinical/"
    assert sign_in(site.app.test_client(), "uketsuke").headers["Location"] == "/"
    # an explicit page asked for is kept
    r = sign_in(site.app.test_client(), "doctor", next_path="/probe/page")
    assert r.headers["Location"] == "/probe/page"


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/probe/page?x=1&lang=en") == "/probe/page?x=1&lang=en"
    assert safe_next("/") == "/"
    assert safe_next(None) == "/"
    assert safe_next("//x") == "/"


def test_signed_in_user_skips_the_login_page(site: Site) -> None:
    client = site.app.test_client()
    sign_in(client, "doctor")
    r = client.get("/login?next=/probe/page")
    assert r.status_code == 303 and r.headers["Location"] == "/probe/page"
    assert client.get("/login?next=//evil.example").headers["Location"] == "/"


# -- CSRF on state changes -------------------------------------------------------------------
def test_csrf_missing_or_wrong_is_403(site: Site) -> None:
    client = site.app.test_client()
    sign_in(client, "doctor")
    csrf = session_csrf(site, client)
    missing = client.post("/probe/change")
    assert missing.status_code == 403 and missing.mimetype == "text/html"
    assert "許可されていません" in missing.get_data(as_text=True)
    assert client.post("/probe/change", data={"csrf_token": csrf[:-1] + "x"}).status_code == 403
    api = client.post("/api/probe", json={"a": 1})
    assert api.status_code == 403 and api.get_json()["error"] == 403
    assert client.post("/probe/change", data={"csrf_token": csrf}).get_data() == b"changed"
    by_header = client.post("/api/probe", json={"a": 1}, headers={"X-CSRF-Token": csrf})
    assert by_header.status_code == 200 and by_header.get_json() == {"ok": True}
    # another session's token does not fit this one
    other = site.app.test_client()
    sign_in(other, "doctor")
    theirs = session_csrf(site, other)
    assert client.post("/probe/change", data={"csrf_token": theirs}).status_code == 403


def test_csrf_applies_to_anonymous_posts_and_skips_unrouted(site: Site) -> None:
    client = site.app.test_client()
    assert client.post("/probe/change").status_code == 403
    assert client.post("/no/such/page").status_code == 404
    sign_in(client, "doctor")
    assert client.post("/probe/page").status_code == 405  # GET-only route: nothing to protect


def test_pages_carry_the_token_for_scripts_and_forms(site: Site) -> None:
    client = site.app.test_client()
    sign_in(client, "doctor")
    csrf = session_csrf(site, client)
    html = client.get("/").get_data(as_text=True)
    assert f'<meta name="csrf-token" content="{csrf}">' in html
    assert f'name="csrf_token" value="{csrf}"' in html  # the logout form
    assert "医師 太郎" in html and "医師・薬剤師" in html and "受付" in html
    assert "ログアウト" in html
    assert "Sign out" in client.get("/?lang=en").get_data(as_text=True)


# -- logout ----------------------------------------------------------------------------------
def test_logout_makes_the_old_cookie_useless(site: Site) -> None:
    client = site.app.test_client()
    sign_in(client, "doctor")
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    old = cookie.value
    csrf = session_csrf(site, client)
    assert client.post("/logout").status_code == 403  # logout needs the token too
    assert client.get("/probe/page").status_code == 200
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert client.get_cookie(SESSION_COOKIE) is None
    assert site.store.session(token_hash(old)) is None
    replay = site.app.test_client()
    replay.set_cookie(SESSION_COOKIE, old)
    assert replay.get("/probe/page").status_code == 302
    assert replay.post("/probe/change", data={"csrf_token": csrf}).status_code == 403
    assert ("doctor", "logout") in [(e.actor, e.action) for e in site.store.audit_entries(3)]


def test_a_new_login_ends_the_previous_session(site: Site) -> None:
    client = site.app.test_client()
    token = login_token(client)  # the form was open while the browser signed in elsewhere
    other_tab = site.app.test_client()
    sign_in(other_tab, "uketsuke")
    first = other_tab.get_cookie(SESSION_COOKIE)
    assert first is not None
    client.set_cookie(SESSION_COOKIE, first.value)
    r = client.post(
        "/login", data={"csrf_token": token, "username": "doctor", "password": PASSWORD}
    )
    assert r.status_code == 303
    assert site.store.session(token_hash(first.value)) is None
    assert client.get("/probe/page").status_code == 200


def test_expired_session_signs_out_and_drops_the_cookie(site: Site) -> None:
    client = site.app.test_client()
    sign_in(client, "doctor")
    assert client.get("/probe/page").status_code == 200
    site.clock.now += timedelta(minutes=31)
    r = client.get("/probe/page?a=1")
    assert r.status_code == 302
    # The path only: a query may hold what was searched for, and must not travel on.
    assert r.headers["Location"] == "/login?next=/probe/page"
    assert client.get_cookie(SESSION_COOKIE) is None


# -- role gates ------------------------------------------------------------------------------
def test_gate_anonymous_302_for_pages_401_for_api_and_events(site: Site) -> None:
    client = site.app.test_client()
    page = client.get("/probe/page")
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/probe/page"
    for path in ["/api/probe", "/events/probe"]:
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.get_json()["error"] == 401
    assert client.get("/probe/page", headers={"Accept": "application/json"}).status_code == 401
    follow = client.get("/probe/page", follow_redirects=True)
    assert follow.status_code == 200 and "職員ログイン" in follow.get_data(as_text=True)


def test_gate_without_the_role_is_403(site: Site) -> None:
    client = site.app.test_client()
    sign_in(client, "uketsuke")
    page = client.get("/probe/page")
    assert page.status_code == 403 and page.mimetype == "text/html"
    json_page = client.get("/probe/events/probe")
    assert json_page.status_code == 403
    assert client.get("/api/probe").status_code == 200  # reception may use the reception API
    doctor = site.app.test_client()
    sign_in(doctor, "doctor")
    assert doctor.get("/probe/page").status_code == 200
    assert doctor.get("/api/probe").status_code == 200


def test_disabled_user_is_signed_out_at_once(site: Site) -> None:
    client = site.app.test_client()
    sign_in(client, "doctor")
    site.store.set_user_disabled(site.doctor.id, True)
    assert client.get("/probe/page").status_code == 302
    assert sign_in(client, "doctor").status_code == 401


def test_kiosk_has_no_login(site: Site) -> None:
    kiosk = site.kiosk.test_client()
    assert kiosk.get("/login").status_code == 404
    assert kiosk.post("/logout").status_code == 404
    staff = site.app.test_client()
    sign_in(staff, "doctor")
    cookie = staff.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    kiosk.set_cookie(SESSION_COOKIE, cookie.value)
    assert "ログアウト" not in kiosk.get("/").get_data(as_text=True)


def test_gates_refuse_everything_when_no_accounts_exist(tmp_path: Path) -> None:
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    # The staff app always has its sign-in now (Services.accounts is never missing): the
    # gates' own default is checked on the app's frame without one.
    app = _base_app(config, "onshi_staff", no_store_static=False)
    app.register_blueprint(probe_blueprint())
    client = app.test_client()
    assert client.get("/login").status_code == 404
    assert client.get("/probe/page").status_code == 401  # fails closed, no way in
