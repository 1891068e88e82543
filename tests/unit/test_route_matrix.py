"""Every route of the staff app × every role and anonymous, and the kiosk listener refusing them.

The expected access comes from the blueprint a route belongs to. A new blueprint that is not
in AREAS fails the test until someone decides who may use it. Each response is also checked
for the security headers, and every state-changing route for its CSRF check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from device.accounts import Accounts, StaffUser
from device.apitokens import ApiTokens
from device.checks import ManualChecks
from device.clinical import ClinicalRecords
from device.confirm import Confirmations
from device.events import EventBus
from device.flow import VisitFlow
from device.sandbox import CardSandbox
from device.status import ApplianceStatus
from sync.breaker import CircuitBreaker
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from web.app import create_kiosk_app, create_staff_app
from web.auth import SESSION_COOKIE
from web.kiosk import KIOSK_ASSETS
from web.present import text

from .test_web import FakeFlow, FakeSandbox, as_kiosk_browser, make_config

PUBLIC = "public"
TOKEN = "bearer token"  # an API token only: no session, whatever its roles, opens it

SIGNED_IN = "signed in"
# Who may use each blueprint of the staff app.
AREAS: dict[str, str | frozenset[str]] = {
    "static": PUBLIC,
    "auth": PUBLIC,  # the sign-in steps themselves
    "setup": PUBLIC,  # the first admin's 初期設定: only while no user exists, else 404
    "account": SIGNED_IN,  # one's own password and second factor
    "reception": frozenset({"reception"}),
    "statement": frozenset({"reception"}),
    "recheck": frozenset({"reception"}),  # the re-check queue's changed-answer alerts
    "appointments": frozenset({"reception"}),  # 「明日の予約」: the list upload and the day
    "bulk": frozenset({"reception"}),  # 「今すぐ照会」 and the bulk pre-check's progress
    "sandbox": frozenset({"reception"}),
    "signal": frozenset({"reception"}),  # the sandbox's simulated light (demo only)
    "clinical": frozenset({"clinical"}),
    "admin": frozenset({"admin"}),
    "tokens": frozenset({"admin"}),  # the admin page of the read API's tokens
    "recovery": frozenset({"admin"}),  # the recovery sheet: the store key
    "api": TOKEN,  # the read API for other systems (web/api.py)
}
ROLES = ("reception", "clinical", "admin")
PASSWORD = "matrix password 1"
HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


class WaitingNothing(FakeFlow):
    """A flow with no visit waiting: reception's visual check finds nothing to switch."""

    def switch_to_visual(self, visit_id: str, staff: str) -> bool:
        return False

    def ask_staff(self, visit_id: str) -> bool:
        return False


class NoStatus:
    """The admin status page's source, without touching the machine."""

    def collect(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass


@dataclass
class Site:
    staff: Flask
    kiosk: Flask
    accounts: Accounts
    users: dict[str, StaffUser]
    token: str  # the secret of an active API token


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    config = make_config(tmp_path, demo=True)
    # The central answers nothing: no route may need it to decide who gets in.
    central = CentralClient(
        "https://central.invalid",
        verify=False,
        retries=0,
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
    )
    bus = EventBus()
    accounts = Accounts(store)
    api_tokens = ApiTokens(store)
    services = services_with(
        config=config,
        store=store,
        bus=bus,
        flow=cast(VisitFlow, WaitingNothing()),
        sandbox=cast(CardSandbox, FakeSandbox()),
        accounts=accounts,
        clinical=ClinicalRecords(
            store, central, config.medical_institution_code, breaker=CircuitBreaker(central)
        ),
        checks=ManualChecks(
            medical_institution_code=config.medical_institution_code,
            confirmations=Confirmations(transport=central, store=store, bus=bus),
            store=store,
        ),
        status=cast(ApplianceStatus, NoStatus()),
        api_tokens=api_tokens,
    )
    _row, token = api_tokens.create("matrix", "test")
    users = {}
    for role in ROLES:
        users[role] = accounts.create_user(f"only-{role}", role, [role], PASSWORD, actor="test")
    kiosk = as_kiosk_browser(create_kiosk_app(config, services), config.kiosk_port)
    yield Site(create_staff_app(config, services), kiosk, accounts, users, token)
    central.close()
    store.close()


def signed_in(site: Site, role: str) -> tuple[FlaskClient, str]:
    """A client with a complete session of the user holding only `role`, and its CSRF token."""
    user = site.users[role]
    token = site.accounts.start_session(user, client="127.0.0.1")
    if role == "admin":
        # Admins need a second factor; the TOTP sign-in itself is tested in test_security.py.
        site.accounts.complete_second_factor(token)
    session = site.accounts.session(token)
    assert session is not None and session.pending is None
    client = site.staff.test_client()
    client.set_cookie(SESSION_COOKIE, token)
    return client, session.csrf_token


ARGUMENTS = {"int": 1, "default": "ab12", "path": "x"}


def url_of(rule: Rule) -> str:
    values = {}
    for name, converter in rule._converters.items():  # noqa: SLF001 — the rule's own parts
        kind = type(converter).__name__.removesuffix("Converter").lower()
        values[name] = ARGUMENTS.get(
            {"integer": "int", "unicode": "default", "path": "path"}.get(kind, kind), "x"
        )
    if rule.endpoint == "static":
        values = {"filename": "staff.css"}
    return str(rule.build(values, append_unknown=False)[1])


def staff_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route, GET and POST alike."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((rule.endpoint, method, url_of(rule)))
    return sorted(found)


def area_of(endpoint: str) -> str | frozenset[str]:
    blueprint = endpoint.split(".", 1)[0] if "." in endpoint else endpoint
    assert blueprint in AREAS, f"{endpoint}: decide who may use blueprint {blueprint!r}"
    return AREAS[blueprint]


def request(client: FlaskClient, method: str, url: str, csrf: str = "") -> Any:
    if method == "GET":
        response = client.get(url, headers={"Accept": "text/html"}, buffered=False)
    else:
        response = client.post(
            url, data={"csrf_token": csrf}, headers={"X-CSRF-Token": csrf} if csrf else {}
        )
    response.close()  # event streams are not read; their subscription ends here
    return response


def refused_anonymously(response: Any) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code in (401, 403) or (
        response.status_code == 302 and location.startswith("/login")
    )


def test_every_staff_route_for_every_role(site: Site) -> None:
    routes = staff_routes(site.staff)
    assert len(routes) > 40  # the whole staff app, not a handful
    problems = []
    for endpoint, method, url in routes:
        if endpoint.startswith("auth.") and method == "POST":
            continue  # sign-in steps and logout: their own tokens, tested on their own
        area = area_of(endpoint)
        anonymous = request(site.staff.test_client(), method, url)
        for header in HEADERS:
            if header not in anonymous.headers:
                problems.append(f"{method} {url}: no {header}")
        if area == TOKEN:
            problems.extend(token_gate_problems(site, method, url, anonymous))
            continue
        if area != PUBLIC and not refused_anonymously(anonymous):
            problems.append(f"{method} {url} anonymous → {anonymous.status_code}")
        for role in ROLES:
            client, csrf = signed_in(site, role)
            response = request(client, method, url, csrf)
            allowed = area in (PUBLIC, SIGNED_IN) or role in area
            if allowed and response.status_code in (401, 403):
                problems.append(f"{method} {url} as {role} → {response.status_code}")
            if not allowed and response.status_code != 403:
                problems.append(f"{method} {url} as {role} → {response.status_code}, not 403")
    assert not problems, "\n".join(problems)


def token_gate_problems(site: Site, method: str, url: str, anonymous: Any) -> list[str]:
    """A token-gated route: 401 asking for a bearer token without one, whoever is signed in
    (a session cookie alone opens nothing); with an active token, open."""
    problems = []
    if anonymous.status_code != 401 or "Bearer" not in anonymous.headers.get(
        "WWW-Authenticate", ""
    ):
        problems.append(f"{method} {url} anonymous → {anonymous.status_code}")
    for role in ROLES:
        client, csrf = signed_in(site, role)
        response = request(client, method, url, csrf)
        if response.status_code != 401:
            problems.append(f"{method} {url} as {role} without a token → {response.status_code}")
        with_token = client.open(
            url, method=method, headers={"Authorization": f"Bearer {site.token}"}
        )
        if with_token.status_code in (401, 403):  # open (an empty POST may be a 4xx of its own)
            problems.append(f"{method} {url} as {role} with a token → {with_token.status_code}")
    with_token = site.staff.test_client().open(
        url, method=method, headers={"Authorization": f"Bearer {site.token}"}
    )
    if with_token.status_code in (401, 403):
        problems.append(f"{method} {url} with a token → {with_token.status_code}")
    return problems


def test_every_state_change_needs_the_csrf_token(site: Site) -> None:
    posts = [
        (endpoint, url) for endpoint, method, url in staff_routes(site.staff) if method == "POST"
    ]
    assert posts
    problems = []
    for endpoint, url in posts:
        if endpoint.startswith(("auth.", "setup.")):
            continue  # sign-in steps and 初期設定 check their own per-browser token (their
            # own tests); logout is below
        area = area_of(endpoint)
        if area == TOKEN:
            continue  # no cookie opens it, so no CSRF to check: its bearer gate is above
        role = "admin" if area == SIGNED_IN else next(iter(cast(frozenset[str], area)))
        client, _csrf = signed_in(site, role)
        without = request(client, "POST", url)
        wrong = client.post(url, data={"csrf_token": "x" * 43}, headers={"X-CSRF-Token": "x" * 43})
        if without.status_code != 403 or wrong.status_code != 403:
            problems.append(f"POST {url}: {without.status_code} / {wrong.status_code}")
    assert not problems, "\n".join(problems)


def test_logout_ends_the_session_for_good(site: Site) -> None:
    client, csrf = signed_in(site, "reception")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    cookie_less = site.staff.test_client()
    # The old cookie value, sent again, no longer opens anything.
    old = site.accounts.start_session(site.users["reception"], client="127.0.0.1")
    site.accounts.end_session(old)
    cookie_less.set_cookie(SESSION_COOKIE, old)
    assert refused_anonymously(cookie_less.get("/", headers={"Accept": "text/html"}))


def test_the_kiosk_listener_has_none_of_the_staff_routes(site: Site) -> None:
    kiosk = site.kiosk.test_client()
    kiosk_endpoints = {rule.endpoint for rule in site.kiosk.url_map.iter_rules()}
    checked = 0
    for endpoint, method, url in staff_routes(site.staff):
        if endpoint == "static" or url in ("/", "/events"):
            continue  # the kiosk's own page, stream and files live at these paths
        response = request(kiosk, method, url)
        assert response.status_code in (404, 405), (method, url, response.status_code)
        checked += 1
    assert checked > 30
    assert not any(e.split(".")[0] in AREAS and e != "static" for e in kiosk_endpoints)


# -- the kiosk listener's gate: its own Host, its own origin, its own files -------------------
def kiosk_routes(app: Flask) -> list[tuple[str, str, str]]:
    return [
        (endpoint, method, url)
        for endpoint, method, url in staff_routes(app)
        if endpoint != "static"
    ]


KIOSK_PORT = 18081  # make_config's
FOREIGN_HOSTS = (
    f"evil.example:{KIOSK_PORT}",  # a name re-pointed at 127.0.0.1 (DNS rebinding)
    f"127.0.0.1.evil.example:{KIOSK_PORT}",
    "127.0.0.1",  # no port
    "localhost",
    f"127.0.0.1:{KIOSK_PORT + 1}",
    f"[::1]:{KIOSK_PORT}",
    f"0.0.0.0:{KIOSK_PORT}",
    "a" * 64,  # a Host werkzeug cannot parse
)


def test_the_kiosk_answers_only_to_its_own_host(site: Site) -> None:
    routes = kiosk_routes(site.kiosk)
    assert {url for _e, _m, url in routes} >= {"/", "/events", "/pin", "/consent", "/ask-staff"}
    kiosk = site.kiosk.test_client()
    problems = []
    for _endpoint, method, url in [*routes, ("static", "GET", "/static/kiosk.js")]:
        for host in FOREIGN_HOSTS:
            r = request_with(kiosk, method, url, {"Host": host})
            if not refused_for_host(r) or any(h not in r.headers for h in HEADERS):
                problems.append(f"{method} {url} Host {host[:20]} → {r.status_code}")
        for host in (f"127.0.0.1:{KIOSK_PORT}", f"LOCALHOST:{KIOSK_PORT}"):
            if refused_for_host(request_with(kiosk, method, url, {"Host": host})):
                problems.append(f"{method} {url} Host {host} refused")
    assert not problems, "\n".join(problems)
    page = kiosk.get("/", headers={"Host": f"evil.example:{KIOSK_PORT}", "Accept": "text/html"})
    assert "http://127.0.0.1" in page.get_data(as_text=True)  # says where the kiosk opens


def test_kiosk_state_changes_from_another_origin_are_refused(site: Site) -> None:
    kiosk = site.kiosk.test_client()
    posts = [url for _e, method, url in kiosk_routes(site.kiosk) if method == "POST"]
    assert posts
    problems = []
    for url in posts:
        for headers in (
            {"Origin": f"http://evil.example:{KIOSK_PORT}"},
            {"Origin": "null"},  # a sandboxed frame or a file:// page
            {"Origin": f"https://127.0.0.1:{KIOSK_PORT}"},
            {"Origin": f"http://127.0.0.1:{KIOSK_PORT + 1}"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            r = request_with(kiosk, "POST", url, headers)
            if r.status_code != 403:
                problems.append(f"POST {url} {headers} → {r.status_code}")
        for origin in (f"http://127.0.0.1:{KIOSK_PORT}", f"http://localhost:{KIOSK_PORT}"):
            headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
            r = request_with(kiosk, "POST", url, headers)
            if r.status_code == 403:
                problems.append(f"POST {url} from its own page {origin} → 403")
    assert not problems, "\n".join(problems)


def test_the_kiosk_serves_only_its_own_files(site: Site) -> None:
    static = Path(site.kiosk.static_folder or "")
    files = sorted(p.name for p in static.iterdir() if p.is_file())
    assert "admin.js" in files and "kiosk.js" in files
    kiosk, staff = site.kiosk.test_client(), site.staff.test_client()
    for name in files:
        r = kiosk.get(f"/static/{name}")
        assert r.status_code == (200 if name in KIOSK_ASSETS else 404), name
        assert all(h in r.headers for h in HEADERS), name
        r.close()
        served = staff.get(f"/static/{name}")
        assert served.status_code == 200, name
        served.close()
    assert KIOSK_ASSETS <= set(files)  # no name in the list that is not a file


def refused_for_host(response: Any) -> bool:
    if response.status_code != 400:
        response.close()  # not read (an event stream, a file): its resources end here
        return False
    body = response.get_data()
    wrong_host = text("error_kiosk_host", "ja").encode()
    bad_host = text("error_bad_host", "ja").encode()  # unparseable: werkzeug refuses first
    return response.status_code == 400 and (wrong_host in body or bad_host in body)


def request_with(client: FlaskClient, method: str, url: str, headers: dict[str, str]) -> Any:
    if method == "GET":
        response = client.get(url, headers={"Accept": "text/html", **headers}, buffered=False)
    else:
        response = client.post(url, json={"visit_id": "ab12"}, headers=headers)
    return response
