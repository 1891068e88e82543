"""web/: both apps with the Flask test client, a real Store on a temp file and a real EventBus."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from flask import Flask
from flask.testing import FlaskClient

from device.accounts import Accounts, hash_password
from device.config import Config, load_config
from device.events import (
    ConfirmationStored,
    EventBus,
    PinRequested,
    VisitAborted,
    VisitAnswered,
    VisitStateChanged,
)
from device.flow import ActiveVisit, VisitFlow, VisitState
from device.inputs import ConsentChoice, VisitInputs
from device.sandbox import CardSandbox, DemoPerson
from device.services import Services
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Confirmation, Store
from sync.xmlmsg import (
    ElderlyInfo,
    Qualification,
    QualificationResult,
    SearchInfo,
    build_result,
    parse_result,
)
from tests.fake_services import services_with
from web.app import CSP, create_kiosk_app, create_staff_app
from web.auth import SESSION_COOKIE
from web.present import (
    confirmation_row,
    format_birthdate,
    format_ratio,
    ratio_text,
    start_of_today,
    wareki,
)
from web.server import WebServer

NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)  # 10:30 JST

STAFF_USER, STAFF_PASSWORD = "reception", "desk password 1"
STAFF_HASH = hash_password(
    STAFF_PASSWORD
)  # hashed once for the module: argon2id is slow on purpose


# -- fakes and fixtures ------------------------------------------------------------------
@dataclass
class FakeFlow:
    """The visit flow's page-facing side: the running visit, and its input doors handed to
    `inputs` (a VisitInputs, or a recorder)."""

    current: ActiveVisit | None = None
    inputs: Any = field(default_factory=VisitInputs)
    card_left: str | None = None  # the visit whose card stayed on the reader after it ended

    def enter_pin(self, visit_id: str, pin: str) -> bool:
        return bool(self.inputs.submit(visit_id, pin))

    def give_consent(self, visit_id: str, choice: ConsentChoice) -> bool:
        return bool(self.inputs.submit(visit_id, choice))


class FakePins:
    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.submitted: list[tuple[str, str]] = []

    def submit(self, visit_id: str, pin: str) -> bool:
        self.submitted.append((visit_id, pin))
        return self.accept


class FakeSandbox:
    def __init__(self) -> None:
        self.placed: str | None = None

    def people(self) -> list[DemoPerson]:
        return [
            DemoPerson("P001", "山田　太郎", "ヤマダ　タロウ", "有効・3割", "1234", True),
            DemoPerson("P002", "佐藤　花子", "サトウ　ハナコ", "未就学・2割", "1234", False),
        ]

    def place(self, person_id: str) -> None:
        if person_id not in {p.id for p in self.people()}:
            raise KeyError(person_id)
        self.placed = person_id

    def remove(self) -> None:
        self.placed = None


def qualification(**changes: Any) -> Qualification:
    base: dict[str, Any] = dict(
        card_classification="01",
        insurer_number="06130012",
        symbol="記号1",
        number="1234",
        branch="01",
        personal_family="1",
        name="山田　太郎",
        name_kana="ヤマダ　タロウ",
        sex="1",
        birthdate="19800401",
        contribution_ratio="030",
        insurer_name="東京都市町村職員共済組合",
    )
    base.update(changes)
    return Qualification(**base)


def result(*results: Qualification, **changes: Any) -> QualificationResult:
    base: dict[str, Any] = dict(
        process_time="20260401103000",
        confirmation_date="20260401",
        medical_institution_code="1312345670",
        file_id="f1",
        reference_classification="1",
        segment_of_result="1",
        processing_status="1",
        processing_code="",
        processing_message="",
        validity="1",
        results=results,
    )
    base.update(changes)
    return QualificationResult(**base)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


def as_kiosk_browser(kiosk: Flask, port: int) -> Flask:
    """kiosk.test_client() then asks for http://127.0.0.1:<port>/, as the kiosk's Chromium does
    (the kiosk listener refuses any other Host)."""

    class KioskClient(FlaskClient):
        def open(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("base_url", f"http://127.0.0.1:{port}")
            return super().open(*args, **kwargs)

    kiosk.test_client_class = KioskClient
    return kiosk


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {"data_dir": str(tmp_path), "kiosk_port": 18081}
    values.update(overrides)
    return load_config(environ={}, overrides=values)


@dataclass
class Setup:
    config: Config
    services: Services
    flow: FakeFlow
    bus: EventBus
    staff: Flask
    kiosk: Flask

    def signed_in(self) -> FlaskClient:
        """A staff-app client signed in as the reception user (role reception)."""
        return sign_in(self.staff.test_client())


def sign_in(client: FlaskClient, username: str = STAFF_USER) -> FlaskClient:
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post(
        "/login", data={"csrf_token": token, "username": username, "password": STAFF_PASSWORD}
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    return client


def add_admin(store: Store, username: str = "kanri") -> bytes:
    """An admin (password STAFF_PASSWORD) with TOTP enrolled; returns the TOTP secret."""
    row = store.add_user(username, "管理 太郎", ("admin", "reception"), STAFF_HASH)
    secret = secrets.token_bytes(20)
    store.set_totp_secret(row.id, secret)
    return secret


def totp_code(secret: bytes, at: datetime | None = None) -> str:
    """What the authenticator app shows at `at` (now by default, like Accounts' default clock)."""
    moment = at if at is not None else datetime.now(UTC)
    return TOTP(secret, 6, SHA1(), 30).generate(moment.timestamp()).decode()


def sign_in_with_totp(
    client: FlaskClient, username: str, secret: bytes, *, at: datetime | None = None
) -> FlaskClient:
    """Password, then the code: a complete (second-factor) session. Each code works once, so
    sign one user in at most once per 30 s of `at` (pass `at` from an injected Accounts clock)."""
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post(
        "/login", data={"csrf_token": token, "username": username, "password": STAFF_PASSWORD}
    )
    assert r.status_code == 303 and r.headers["Location"].startswith("/login/totp"), r.status
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login/totp", data={"csrf_token": csrf, "code": totp_code(secret, at)})
    assert r.status_code == 303, r.get_data(as_text=True)
    return client


def csrf_of(client: FlaskClient) -> str:
    """The session's CSRF token, as a page hands it to its scripts."""
    html = client.get("/").get_data(as_text=True)
    return html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]


def build(
    tmp_path: Path,
    store: Store,
    *,
    pins: object | None = None,
    demo: bool = False,
    sandbox: FakeSandbox | None = None,
) -> Setup:
    config = make_config(tmp_path, demo=demo)
    flow = FakeFlow(inputs=pins if pins is not None else VisitInputs())
    bus = EventBus()
    if store.user_by_username(STAFF_USER) is None:
        store.add_user(STAFF_USER, "受付 花子", ("reception",), STAFF_HASH)
    services = services_with(
        config=config,
        store=store,
        bus=bus,
        flow=cast(VisitFlow, flow),
        sandbox=cast(CardSandbox, sandbox) if sandbox is not None else None,
        accounts=Accounts(store),
    )
    return Setup(
        config,
        services,
        flow,
        bus,
        create_staff_app(config, services),
        as_kiosk_browser(create_kiosk_app(config, services), config.kiosk_port),
    )


@pytest.fixture
def setup(tmp_path: Path, store: Store) -> Setup:
    return build(tmp_path, store)


@pytest.fixture
def staff(setup: Setup) -> FlaskClient:
    """The staff app, signed in as a reception user."""
    return setup.signed_in()


def save(store: Store, res: QualificationResult, file_id: str, **kw: Any) -> Confirmation:
    res = QualificationResult(**{**res.__dict__, "file_id": file_id})
    return store.save_confirmation(
        file_id=file_id,
        raw_result=build_result(res),
        result=parse_result(build_result(res)),
        kind=kw.get("kind", "card"),
        method=kw.get("method", "pin"),
        actor="reader",
        source=kw.get("source", "online"),
    )


def confirmation(
    res: QualificationResult, method: str = "pin", source: str = "online"
) -> Confirmation:
    """A stored row as the store hands it out, created at NOW (10:30 JST)."""
    return Confirmation(1, "f1", None, NOW, "card", method, source, "VALID", res)


def audit_actions(store: Store) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.subject) for e in reversed(store.audit_entries())]


def read_events(response: Any, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The first `count` named events of a streamed SSE response."""
    events: list[tuple[str, dict[str, Any]]] = []
    buffer = ""
    chunks = iter(response.response)
    while len(events) < count:
        chunk = next(chunks)
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer and len(events) < count:
            block, buffer = buffer.split("\n\n", 1)
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in lines:
                events.append((lines["event"], json.loads(lines["data"])))
    return events


# -- present.py --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(1980, 4, 1), "S55"),
        (date(1989, 1, 7), "S64"),
        (date(1989, 1, 8), "H1"),
        (date(2019, 4, 30), "H31"),
        (date(2019, 5, 1), "R1"),
        (date(2026, 4, 1), "R8"),
        (date(1926, 12, 24), "T15"),
        (date(1912, 7, 30), "T1"),
    ],
)
def test_wareki(day: date, expected: str) -> None:
    assert wareki(day) == expected


def test_birthdate_western_and_wareki() -> None:
    assert format_birthdate("19800401") == "1980/04/01 (S55)"
    assert format_birthdate("20190501") == "2019/05/01 (R1)"
    assert format_birthdate("19801301") == "19801301"  # impossible date shown as given
    assert format_birthdate("") == ""


def test_ratio_formatting() -> None:
    assert format_ratio("030", "ja") == "3割"
    assert format_ratio("010", "ja") == "1割"
    assert format_ratio("030", "en") == "30%"
    assert format_ratio("", "ja") == ""
    assert format_ratio("abc", "ja") == ""
    preschool = ratio_text(qualification(contribution_ratio="020", preschool=True), "ja")
    assert (preschool.ratio, preschool.note) == ("2割", "未就学")
    elderly = ratio_text(
        qualification(contribution_ratio="020", elderly=ElderlyInfo(ratio="020")), "ja"
    )
    assert elderly.elderly == "高齢受給者 2割"
    assert ratio_text(qualification(), "ja").note == ""


def test_row_valid() -> None:
    c = confirmation(result(qualification(), processing_message="正常に処理しました"))
    row = confirmation_row(c, "ja")
    assert row["time"] == "10:30"
    assert (row["name"], row["kana"]) == ("山田　太郎", "ヤマダ　タロウ")
    assert row["birthdate"] == "1980/04/01 (S55)"
    assert row["insurer_number"] == "06130012"
    assert row["numbers"] == "記号1・1234・01"
    assert row["ratio"] == "3割"
    assert row["badge"] == {"code": "VALID", "label": "有効", "css": "ok"}
    assert row["message"] == "正常に処理しました"
    assert row["error"] == ""
    assert row["method"] == "暗証番号"
    assert row["source"] == "今回照会"
    assert row["raw"]["validity"] == "1"
    en = confirmation_row(c, "en")
    assert en["badge"]["label"] == "valid"
    assert en["method"] == "PIN"
    assert en["source"] == "online now"


def test_row_segment_9_and_not_found() -> None:
    failed = confirmation(
        result(
            segment_of_result="9",
            processing_status="",
            validity="",
            error_code="EQ0001",
            error_message="システムエラー",
        ),
    )
    row = confirmation_row(failed, "ja")
    assert row["badge"]["css"] == "error"
    assert row["error"] == "EQ0001 システムエラー"
    not_found = confirmation(
        result(
            validity="4",
            reference_classification="2",
            search=SearchInfo("06130012", "9999", "19800401"),
        ),
        method="numbers",
        source="cache",
    )
    row = confirmation_row(not_found, "ja")
    assert row["badge"] == {"code": "NOT_FOUND", "label": "該当資格なし", "css": "warn"}
    assert row["name"] == ""
    assert row["number"] == "9999"  # what was asked, so staff can spot a typo
    assert row["source"] == "前回確認 2026/04/01"


def test_start_of_today_is_jst_midnight() -> None:
    start = start_of_today(datetime(2026, 3, 31, 16, 0, tzinfo=UTC))  # 01:00 JST
    assert start.astimezone(UTC) == datetime(2026, 3, 31, 15, 0, tzinfo=UTC)


# -- headers, routing, errors ------------------------------------------------------------
def test_security_headers_on_every_response(setup: Setup, staff: FlaskClient) -> None:
    kiosk = setup.kiosk.test_client()
    responses = [
        staff.get("/"),
        staff.get("/api/confirmations"),
        staff.get("/nope"),
        staff.get("/static/staff.css"),
        staff.post("/"),
        kiosk.get("/"),
        kiosk.get("/static/kiosk.js"),
        kiosk.get("/nope"),
        kiosk.post("/pin", data="x"),
    ]
    for r in responses:
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["X-Frame-Options"] == "DENY"
        r.close()
    for r in responses[5:]:
        assert r.headers["Cache-Control"] == "no-store"


def test_kiosk_has_no_staff_routes(setup: Setup) -> None:
    kiosk = setup.kiosk.test_client()
    for path in ["/api/confirmations", "/api/confirmations/1", "/sandbox"]:
        assert kiosk.get(path).status_code == 404
    page = kiosk.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-screen="welcome"' in html
    assert 'id="confirmations"' not in html
    assert kiosk.post("/sandbox/place", data={"person_id": "P001"}).status_code == 404


def test_errors_are_pages_or_json(staff: FlaskClient) -> None:
    page = staff.get("/missing")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    api = staff.get("/api/confirmations/999")
    assert api.status_code == 404
    assert api.get_json()["error"] == 404
    post = staff.post("/api/confirmations")
    assert post.status_code == 405
    assert post.is_json
    assert staff.get("/api/confirmations?since=yesterday").status_code == 400


def test_language_cookie(setup: Setup, staff: FlaskClient) -> None:
    assert "受付" in staff.get("/").get_data(as_text=True)
    r = staff.get("/?lang=en")
    assert "Reception" in r.get_data(as_text=True)
    assert "onshi_staff_lang=en" in r.headers["Set-Cookie"]
    assert '<html lang="en">' in staff.get("/").get_data(as_text=True)  # the cookie sticks
    kiosk = setup.kiosk.test_client()
    assert "カードを置いてください" in kiosk.get("/").get_data(as_text=True)
    assert "Please place your card" in kiosk.get("/?lang=en").get_data(as_text=True)
    assert "onshi_staff_lang" not in str(kiosk.get("/?lang=ja").headers)


# -- reception ----------------------------------------------------------------------------
def test_reception_page_lists_today_and_audits(staff: FlaskClient, store: Store) -> None:
    old = save(store, result(qualification(name="古田　一郎")), "old")
    # move it to yesterday (by the store's clock, the one the page's "today" reads too):
    # recent_confirmations filters by creation time
    with store._lock:
        store._db.execute(
            "UPDATE confirmations SET created_at = ? WHERE id = ?",
            [(old.created_at - timedelta(days=1)).isoformat(), old.id],
        )
    first = save(store, result(qualification()), "r1")
    second = save(
        store,
        result(qualification(name="佐藤　花子", preschool=True, contribution_ratio="020")),
        "r2",
    )
    html = staff.get("/").get_data(as_text=True)
    assert html.index(f'data-confirmation-id="{second.id}"') < html.index(
        f'data-confirmation-id="{first.id}"'
    )
    assert "古田" not in html
    assert "未就学" in html
    assert "1980/04/01 (S55)" in html
    assert 'id="desk-status"' in html
    assert ("reception", "confirmation.list", "confirmations:today") in audit_actions(store)


def test_api_confirmation_json_and_audit(staff: FlaskClient, store: Store) -> None:
    c = save(store, result(qualification()), "j1")
    r = staff.get(f"/api/confirmations/{c.id}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == c.id
    assert body["name"] == "山田　太郎"
    assert body["badge"]["css"] == "ok"
    assert body["raw"]["contribution_ratio"] == "030"
    assert audit_actions(store)[-1] == ("reception", "confirmation.view", f"confirmation:{c.id}")
    listing = staff.get("/api/confirmations?since=today").get_json()
    assert [row["id"] for row in listing["confirmations"]] == [c.id]
    assert audit_actions(store)[-1][1] == "confirmation.list"


def test_staff_events_initial_state_then_bus_events(setup: Setup, staff: FlaskClient) -> None:
    setup.flow.current = ActiveVisit(
        "v1", "Virtual PCD 00 00", NOW, state=VisitState.AWAITING_PIN, tries_left=2
    )
    r = staff.get("/events", buffered=False)
    assert r.mimetype == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-store"
    try:
        first = read_events(r, 2)
        boot = first[0][1].pop("boot")  # which run of the appliance: the page reloads on another
        assert isinstance(boot, str) and len(boot) == 16
        assert first == [
            (
                "desk",
                {
                    "visit_id": "v1",
                    "state": "awaiting_pin",
                    "label": "暗証番号入力待ち",
                    "tries_left": 2,
                    "visual_possible": True,
                    "method": "",
                    "staff": "",
                },
            ),
            ("central", {"down": False}),  # the online check can be reached
        ]
        setup.bus.publish(VisitAborted("v1", "card_removed"))
        setup.bus.publish(ConfirmationStored(7, "v2"))
        assert read_events(r, 2) == [
            (
                "visit_aborted",
                {
                    "visit_id": "v1",
                    "reason": "card_removed",
                    "text": "カードが取り外されました。もう一度カードを置いてください",
                },
            ),
            ("confirmation_stored", {"confirmation_id": 7}),
        ]
    finally:
        r.close()
    assert setup.bus._subscribers == []  # the listener left: its subscription is gone


def test_stream_heartbeat_and_end(setup: Setup) -> None:
    from web import sse

    sub = setup.bus.subscribe()
    with setup.staff.test_request_context("/events"):
        response = sse.stream(sub, lambda e: None, [], heartbeat_s=0.01, max_duration_s=0.2)
    chunks = [str(chunk) for chunk in response.response]
    assert chunks[0].startswith("retry: ")
    assert ": heartbeat\n\n" in chunks
    assert setup.bus._subscribers == []


# -- kiosk --------------------------------------------------------------------------------
def test_kiosk_events_resume_mid_visit(setup: Setup) -> None:
    setup.flow.current = ActiveVisit(
        "abc1", "Virtual PCD 00 00", NOW, state=VisitState.AWAITING_PIN, tries_left=1
    )
    r = setup.kiosk.test_client().get("/events", buffered=False)
    assert r.headers["Cache-Control"] == "no-store"
    try:
        assert read_events(r, 3) == [
            ("state", {"visit_id": "abc1", "state": "awaiting_pin", "screen": "pin"}),
            ("pin_requested", {"visit_id": "abc1", "tries_left": 1, "wrong_pin": False}),
            ("central", {"down": False}),
        ]
        setup.bus.publish(PinRequested("abc1", 1, wrong_pin=True))
        setup.bus.publish(VisitStateChanged("abc1", "confirming"))
        setup.bus.publish(VisitStateChanged("abc1", "aborted"))  # comes with its own event
        setup.bus.publish(ConfirmationStored(3, "abc1"))  # the desk's: the answer says more
        setup.bus.publish(VisitStateChanged("abc1", "stored"))  # its screen follows the answer
        setup.bus.publish(VisitAnswered("abc1", "NOT_FOUND"))
        assert read_events(r, 3) == [
            ("pin_requested", {"visit_id": "abc1", "tries_left": 1, "wrong_pin": True}),
            ("state", {"visit_id": "abc1", "state": "confirming", "screen": "checking"}),
            ("done", {"visit_id": "abc1", "desk": True}),
        ]
    finally:
        r.close()


def test_kiosk_events_idle(setup: Setup) -> None:
    r = setup.kiosk.test_client().get("/events?lang=en", buffered=False)
    try:
        assert read_events(r, 2) == [
            ("state", {"visit_id": None, "state": "idle", "screen": "welcome"}),
            ("central", {"down": False}),
        ]
        setup.bus.publish(VisitAborted("x1", "timeout"))
        assert read_events(r, 1) == [
            (
                "visit_aborted",
                {
                    "visit_id": "x1",
                    "reason": "timeout",
                    "text": "Timed out. Please place the card again",
                },
            )
        ]
    finally:
        r.close()


def test_pin_validation(tmp_path: Path, store: Store) -> None:
    pins = FakePins(accept=True)
    kiosk = build(tmp_path, store, pins=pins).kiosk.test_client()
    ok = kiosk.post("/pin", json={"visit_id": "ab12", "pin": "1234"})
    assert (ok.status_code, ok.get_json()) == (202, {"ok": True})
    assert pins.submitted == [("ab12", "1234")]
    for bad in ["123", "12345", "12a4", "１２３４", "", 1234, None]:
        r = kiosk.post("/pin", json={"visit_id": "ab12", "pin": bad})
        assert r.status_code == 400, bad
    assert kiosk.post("/pin", json=["1234"]).status_code == 400
    assert kiosk.post("/pin", json={"visit_id": "<x>", "pin": "1234"}).status_code == 400
    form = kiosk.post("/pin", data={"visit_id": "ab12", "pin": "1234"})
    assert form.status_code == 415
    assert form.is_json
    assert len(pins.submitted) == 1  # nothing invalid reached the card


def test_pin_without_waiting_visit_is_409(setup: Setup) -> None:
    r = setup.kiosk.test_client().post("/pin", json={"visit_id": "ab12", "pin": "1234"})
    assert r.status_code == 409  # real KioskPins: nobody is waiting


def test_pin_reaches_a_waiting_visit(setup: Setup) -> None:
    pins = setup.flow.inputs
    visit = ActiveVisit("cafe01", "r", NOW)
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(pins.wait(visit, "pin", 5)))
    waiter.start()
    kiosk = setup.kiosk.test_client()
    for _ in range(200):
        r = kiosk.post("/pin", json={"visit_id": "cafe01", "pin": "4321"})
        if r.status_code == 202:
            break
        threading.Event().wait(0.01)
    waiter.join(5)
    assert got == ["4321"]


def test_pin_is_never_logged(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    kiosk = build(tmp_path, store, pins=FakePins(accept=True)).kiosk.test_client()
    kiosk.post("/pin", json={"visit_id": "ab12", "pin": "9876"})
    kiosk.post("/pin", json={"visit_id": "ab12", "pin": "98x6"})
    assert "9876" not in caplog.text and "98x6" not in caplog.text


@pytest.mark.parametrize("path", ["/pin", "/consent", "/ask-staff"])
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 2000 + b"]" * 2000, "nested too deeply"),  # fits in 4 KiB; was a 500
        (b'{"visit_id": ' + b"[" * 1500 + b"]" * 1500 + b"}", "nested too deeply"),
        (b'{"visit_id": "ab12", "pin": NaN}', "not valid JSON"),
        (b'{"visit_id": "ab12"', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'["ab12", "1234"]', "not a JSON object"),
        (b"1234", "not a JSON object"),
    ],
)
def test_kiosk_refuses_deep_or_odd_json_with_400_and_the_reason(
    tmp_path: Path, store: Store, path: str, body: bytes, says: str
) -> None:
    pins = FakePins(accept=True)
    kiosk = build(tmp_path, store, pins=pins).kiosk.test_client()
    r = kiosk.post(f"{path}?lang=en", data=body, content_type="application/json")
    assert r.status_code == 400 and says in r.get_json()["message"]
    assert r.headers["Content-Security-Policy"] == CSP
    assert pins.submitted == []


UNPARSEABLE_HOSTS = ("a" * 64, "..", "a..b")  # werkzeug's BadHost: an IDNA label it cannot encode


def test_an_unparseable_host_is_400_with_the_security_headers(setup: Setup) -> None:
    # Before: the error page itself failed (no URLs can be built for such a host): a bare 500.
    for app, paths in (
        (setup.staff, ("/", "/login", "/nope", "/api/confirmations")),
        (setup.kiosk, ("/", "/nope")),
    ):
        for host in UNPARSEABLE_HOSTS:
            for path in paths:
                r = app.test_client().get(path, headers={"Host": host, "Accept": "text/html"})
                assert r.status_code == 400, (app.name, host, path)
                assert r.headers["Content-Security-Policy"] == CSP
                assert r.headers["X-Frame-Options"] == "DENY"
                says = r.get_data(as_text=True)
                assert "Host" in says or "http://127.0.0.1:" in says  # the kiosk's own address


@pytest.mark.parametrize("listener", ["staff", "kiosk"])
def test_an_unparseable_host_is_400_through_a_real_server(setup: Setup, listener: str) -> None:
    server = WebServer(getattr(setup, listener), "127.0.0.1", 0, numthreads=2)
    server.start()
    try:
        for host in UNPARSEABLE_HOSTS:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", "/", headers={"Host": host, "Accept": "text/html"})
            response = conn.getresponse()
            body = response.read().decode()
            conn.close()
            assert response.status == 400, (host, body)
            assert response.getheader("Content-Security-Policy") == CSP
            assert response.getheader("X-Content-Type-Options") == "nosniff"
            assert "Host" in body or "http://127.0.0.1:" in body
    finally:
        server.stop()


# -- sandbox ------------------------------------------------------------------------------
def test_sandbox_404_when_not_demo(tmp_path: Path, store: Store) -> None:
    staff = build(tmp_path, store, sandbox=FakeSandbox(), demo=False).signed_in()
    assert staff.get("/sandbox").status_code == 404
    assert staff.post("/sandbox/place", data={"person_id": "P001"}).status_code == 404
    assert "/sandbox" not in staff.get("/").get_data(as_text=True)


def test_sandbox_place_and_remove(tmp_path: Path, store: Store) -> None:
    cards = FakeSandbox()
    site = build(tmp_path, store, sandbox=cards, demo=True)
    staff = site.signed_in()
    page = staff.get("/sandbox").get_data(as_text=True)
    assert "デモ専用" in page
    assert 'data-place="P001"' in page
    assert 'data-place="P002"' not in page  # no My Number card: nothing to place
    assert "http://127.0.0.1:18081/" in page
    csrf = csrf_of(staff)
    assert f'name="csrf_token" value="{csrf}"' in page  # every form carries the session token
    hidden = dict(
        re.findall(r'<input type="hidden" name="(token|csrf_token)" value="([^"]*)"', page)
    )
    no_csrf = staff.post("/sandbox/place", data={**hidden, "person_id": "P001", "csrf_token": ""})
    assert no_csrf.status_code == 403
    assert cards.placed is None
    r = staff.post("/sandbox/place", data={**hidden, "person_id": "P001"})
    assert r.status_code == 303
    assert cards.placed == "P001"
    assert 'class="is-placed"' in staff.get("/sandbox").get_data(as_text=True)
    unknown = staff.post("/sandbox/place", data={**hidden, "person_id": "P999"})
    assert unknown.status_code == 400
    assert staff.post("/sandbox/remove", data=hidden).status_code == 303
    assert cards.placed is None
    assert site.staff.test_client().get("/sandbox").status_code == 302  # signed-in staff only


# -- server ---------------------------------------------------------------------------------
def test_server_streams_events_over_a_real_socket(setup: Setup) -> None:
    server = WebServer(setup.kiosk, "127.0.0.1", 0, numthreads=4)
    server.start()
    try:
        assert server.port > 0
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/events")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Cache-Control") == "no-store"
        seen = b""
        while b"welcome" not in seen:
            seen += resp.read1(4096)
        setup.bus.publish(VisitStateChanged("abc", "reading"))
        while b'"reading"' not in seen:  # arrives while the response is still open
            seen += resp.read1(4096)
        conn.close()
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 3  # the open stream did not hold the worker


def test_server_serves_tls_when_given_a_certificate(
    setup: Setup, staff: FlaskClient, tmp_path: Path
) -> None:
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = WebServer(
        setup.staff, "127.0.0.1", 0, numthreads=2, certificate=cert_path, private_key=key_path
    )
    server.start()
    try:
        context = ssl.create_default_context(cafile=str(cert_path))
        context.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=context)
        cookie = staff.get_cookie(SESSION_COOKIE)
        assert cookie is not None
        conn.request(
            "GET", "/api/confirmations", headers={"Cookie": f"{SESSION_COOKIE}={cookie.value}"}
        )
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read()) == {"confirmations": [], "disk_warning": ""}
        conn.close()
    finally:
        server.stop()
    with pytest.raises(ValueError):
        WebServer(setup.staff, "127.0.0.1", 0, certificate=cert_path)


def test_staff_pages_need_a_signed_in_user(setup: Setup, store: Store) -> None:
    anonymous = setup.staff.test_client()
    page = anonymous.get("/")
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/"
    assert anonymous.get("/api/confirmations").status_code == 401
    assert anonymous.get("/events").status_code == 401
    c = save(store, result(qualification()), "a1")
    assert anonymous.get(f"/api/confirmations/{c.id}").status_code == 401
    assert ("reception", "confirmation.view", f"confirmation:{c.id}") not in audit_actions(store)
