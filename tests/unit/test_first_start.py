"""First start: the one-time setup code (device/setup.py) and the 初期設定 form (web/setup.py)."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask

from device.accounts import AccountError, Accounts, LoginBlocked
from device.appliance import announce_setup_code
from device.config import load_config
from device.setup import (
    SETUP_ALPHABET,
    SETUP_CODE_LENGTH,
    FirstStart,
    SetupClosed,
    SetupCodeWrong,
    shown,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from web.app import create_kiosk_app, create_staff_app
from web.auth import SESSION_COOKIE

from .test_web import as_kiosk_browser

PASSWORD = "correct horse battery"


@dataclass
class Site:
    staff: Flask
    kiosk: Flask
    accounts: Accounts
    store: Store
    setup: FirstStart


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    found = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield found
    found.close()


@pytest.fixture
def site(tmp_path: Path, store: Store) -> Site:
    accounts = Accounts(store)
    setup = FirstStart(accounts, store)
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    services = services_with(
        config=config, store=store, flow=cast(Any, NoVisit()), accounts=accounts
    )
    services = dataclasses.replace(services, first_start=setup)
    kiosk = as_kiosk_browser(create_kiosk_app(config, services), config.kiosk_port)
    return Site(create_staff_app(config, services), kiosk, accounts, store, setup)


class NoVisit:
    current = None
    card_left = None


def actions(store: Store) -> list[str]:
    return [entry.action for entry in store.audit_entries()]


# -- the code --------------------------------------------------------------------------------
def test_a_code_only_without_staff_users_and_a_new_one_each_start(store: Store) -> None:
    accounts = Accounts(store)
    setup = FirstStart(accounts, store)
    first = setup.issue()
    assert first is not None and len(first) == SETUP_CODE_LENGTH
    assert set(first) <= set(SETUP_ALPHABET) and not set(first) & set("01OIL")
    assert setup.current() == first
    second = setup.issue()  # a restart: the earlier code is void
    assert second is not None and setup.current() == second
    with pytest.raises(SetupCodeWrong):
        setup.create_first_admin(first, "boss", "院長", PASSWORD, client="a")
    accounts.create_user("desk", "受付", ["reception"], PASSWORD, actor="cli")
    assert setup.current() is None  # a user made some other way voids it
    assert FirstStart(accounts, store).issue() is None


def test_the_right_code_makes_one_admin_and_is_then_void(store: Store) -> None:
    accounts = Accounts(store)
    setup = FirstStart(accounts, store)
    code = setup.issue()
    assert code is not None
    typed = shown(code).lower()  # as a person types it: hyphen, lower case
    user = setup.create_first_admin(typed, "boss", "院長", PASSWORD, client="a")
    assert user.has("admin") and user.has("reception")
    assert not setup.pending()
    with pytest.raises(SetupClosed):
        setup.create_first_admin(code, "other", "他", PASSWORD, client="a")
    assert [u.username for u in accounts.list_users()] == ["boss"]
    assert {"user.created", "setup.first_admin"} <= set(actions(store))


def test_a_wrong_code_changes_nothing_and_is_rate_limited(store: Store) -> None:
    accounts = Accounts(store)
    setup = FirstStart(accounts, store)
    code = setup.issue()
    assert code is not None
    wrong = "".join("A" if c != "A" else "B" for c in code)
    for _ in range(5):
        with pytest.raises(SetupCodeWrong):
            setup.create_first_admin(wrong, "boss", "院長", PASSWORD, client="mallory")
    assert accounts.count_users() == 0 and setup.current() == code
    with pytest.raises(LoginBlocked):  # even the right code, from that client, for a while
        setup.create_first_admin(code, "boss", "院長", PASSWORD, client="mallory")
    # Another client is not locked out by someone else's guesses.
    setup.create_first_admin(code, "boss", "院長", PASSWORD, client="desk")
    assert actions(store).count("setup.code_refused") == 5
    assert all(code not in e.detail for e in store.audit_entries())


def test_bad_input_keeps_the_code(store: Store) -> None:
    accounts = Accounts(store)
    setup = FirstStart(accounts, store)
    code = setup.issue()
    assert code is not None
    with pytest.raises(AccountError):
        setup.create_first_admin(code, "boss", "院長", "short", client="a")
    assert accounts.count_users() == 0 and setup.current() == code


def test_two_submissions_at_once_make_only_one_admin(store: Store) -> None:
    accounts = Accounts(store)
    setup = FirstStart(accounts, store)
    code = setup.issue()
    assert code is not None
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(name: str) -> None:
        start.wait()
        try:
            setup.create_first_admin(code, name, name, PASSWORD, client=name)
            outcomes.append("made")
        except SetupClosed:
            outcomes.append("closed")

    threads = [threading.Thread(target=submit, args=(n,)) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["closed", "made"]
    assert accounts.count_users() == 1


def test_the_console_line_shows_the_code_in_both_languages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    announce_setup_code(None, "https://desk:8443")
    assert capsys.readouterr().err == ""
    announce_setup_code("ABCDEFGHJK", "https://desk:8443")
    line = capsys.readouterr().err
    assert line.count("\n") == 1
    assert "ABCDE-FGHJK" in line and "初期設定コード" in line and "setup code" in line
    assert "https://desk:8443/setup" in line


# -- the pages -------------------------------------------------------------------------------
def form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def test_the_kiosk_shows_the_code_until_an_admin_exists(site: Site) -> None:
    kiosk = site.kiosk.test_client()
    assert 'id="setup-code" lang="en"></p>' in kiosk.get("/").get_data(as_text=True)
    code = site.setup.issue()
    assert code is not None
    page = kiosk.get("/").get_data(as_text=True)
    assert 'data-setup="1"' in page and shown(code) in page
    site.setup.create_first_admin(code, "boss", "院長", PASSWORD, client="a")
    page = kiosk.get("/").get_data(as_text=True)
    assert 'data-setup="1"' not in page and shown(code) not in page


def test_the_staff_form_creates_the_admin_and_leads_to_the_second_factor(site: Site) -> None:
    client = site.staff.test_client()
    assert client.get("/setup").status_code == 404  # no code issued: nothing to set up
    code = site.setup.issue()
    assert code is not None
    login = client.get("/login")
    assert login.status_code == 303 and login.headers["Location"].endswith("/setup")
    page = client.get("/setup").get_data(as_text=True)
    assert "初期設定" in page
    fields = {
        "csrf_token": form_token(page),
        "username": "boss",
        "display_name": "院長 一郎",
        "password": PASSWORD,
        "password_again": PASSWORD,
    }
    # Without the form's token: refused, nothing made.
    forged = client.post("/setup", data={**fields, "csrf_token": "x", "code": code})
    assert forged.status_code == 403
    wrong = client.post("/setup", data={**fields, "code": "AAAAA-AAAAA"})
    assert wrong.status_code == 401 and "初期設定コードが違います" in wrong.get_data(as_text=True)
    differ = client.post("/setup", data={**fields, "code": code, "password_again": "x" * 12})
    assert differ.status_code == 400 and site.accounts.count_users() == 0
    short = client.post(
        "/setup", data={**fields, "code": code, "password": "short", "password_again": "short"}
    )
    assert short.status_code == 400 and "12文字以上" in short.get_data(as_text=True)
    made = client.post("/setup", data={**fields, "code": code})
    assert made.status_code == 303
    assert "/account/totp" in made.headers["Location"]
    assert "recovery" in made.headers["Location"]
    assert client.get_cookie(SESSION_COOKIE) is not None
    assert [u.username for u in site.accounts.list_users()] == ["boss"]
    # Afterwards the form is gone and the code void, for anyone.
    other = site.staff.test_client()
    assert other.get("/setup").status_code == 404
    assert other.get("/login").status_code == 200
    again = other.post("/setup", data={**fields, "code": code, "username": "two"})
    assert again.status_code in (403, 404) and site.accounts.count_users() == 1
