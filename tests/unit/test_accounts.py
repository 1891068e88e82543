"""device/accounts.py: password hashing, users and server-side sessions with an injected clock."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

import device.accounts
from device.accounts import (
    ROLE_LABELS,
    ROLES,
    AccountError,
    Accounts,
    StaffUser,
    hash_password,
    token_hash,
    verify_password,
)
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

PASSWORD = "correct horse battery"
T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store: Store, clock: Clock) -> Accounts:
    return Accounts(store, clock=clock)


@pytest.fixture
def suzuki(accounts: Accounts) -> StaffUser:
    return accounts.create_user(
        "suzuki", "鈴木 一郎", ["reception", "clinical"], PASSWORD, actor="admin-cli"
    )


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


# -- hashing -------------------------------------------------------------------------------
def test_hash_format_parameters_and_verify() -> None:
    encoded = hash_password(PASSWORD)
    match = re.fullmatch(r"\$argon2id\$v=19\$m=19456,t=2,p=1\$([^$]+)\$([^$]+)", encoded)
    assert match is not None, encoded
    assert len(_b64(match.group(1))) == 16 and len(_b64(match.group(2))) == 32
    assert "=" not in match.group(1) + match.group(2)  # PHC base64 has no padding
    assert verify_password(encoded, PASSWORD)
    assert not verify_password(encoded, PASSWORD + " ")
    assert not verify_password(encoded, "")
    assert hash_password(PASSWORD) != encoded  # a fresh salt each time


def test_hash_is_the_standard_phc_string() -> None:
    # Another argon2 implementation reads what we write, and we read what it writes.
    encoded = hash_password(PASSWORD)
    Argon2id.verify_phc_encoded(PASSWORD.encode(), encoded)
    theirs = Argon2id(
        salt=b"0123456789abcdef", length=32, iterations=3, lanes=2, memory_cost=8192
    ).derive_phc_encoded(PASSWORD.encode())
    assert verify_password(theirs, PASSWORD)
    assert not verify_password(theirs, "wrong password!")


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain text",
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
        "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
        "$argon2id$v=19$m=9999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
        "$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
        "$argon2id$v=19$m=4,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g$",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a",
    ],
)
def test_malformed_hashes_never_verify(encoded: str) -> None:
    assert verify_password(encoded, PASSWORD) is False


# -- users ---------------------------------------------------------------------------------
def test_create_user_validates_and_audits(accounts: Accounts, store: Store) -> None:
    user = accounts.create_user(
        "sato.h", "佐藤 花子", ["clinical", "reception", "clinical"], PASSWORD, actor="admin-cli"
    )
    assert user.roles == frozenset({"clinical", "reception"})
    assert user.has("clinical") and not user.has("admin")
    row = store.user_by_username("sato.h")
    assert row is not None and row.roles == ("clinical", "reception")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert accounts.count_users() == 1
    entry = store.audit_entries(1)[0]
    assert (entry.actor, entry.action, entry.subject) == (
        "admin-cli",
        "user.created",
        "user:sato.h",
    )
    assert PASSWORD not in entry.detail
    bad = [
        ("A", "x", ["reception"], PASSWORD, "ユーザー名"),
        ("Upper", "x", ["reception"], PASSWORD, "username"),
        ("a" * 33, "x", ["reception"], PASSWORD, "username"),
        ("ok.name", " ", ["reception"], PASSWORD, "display name"),
        ("ok.name", "x", [], PASSWORD, "role"),
        ("ok.name", "x", ["reception", "root"], PASSWORD, "unknown role"),
        ("ok.name", "x", ["reception"], "short-pass1", "12"),
        ("sato.h", "x", ["reception"], PASSWORD, "already exists"),
    ]
    for username, name, roles, password, message in bad:
        with pytest.raises(AccountError, match=message):
            accounts.create_user(username, name, roles, password, actor="t")
    assert accounts.count_users() == 1


def test_roles_and_labels() -> None:
    assert ROLES == ("reception", "clinical", "admin")
    assert ROLE_LABELS["clinical"] == ("医師・薬剤師", "clinical")
    assert device.accounts.role_label("reception", "ja") == "受付"
    assert device.accounts.role_label("admin", "en") == "admin"


def test_authenticate_right_wrong_unknown_disabled(
    accounts: Accounts, store: Store, suzuki: StaffUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    assert accounts.authenticate("suzuki", PASSWORD, client="10.0.0.5") == suzuki
    assert accounts.authenticate("suzuki", "wrong password!!", client="10.0.0.5") is None
    assert accounts.authenticate("nobody", PASSWORD, client="10.0.0.5") is None
    assert accounts.authenticate("suzuki", PASSWORD + "x" * 2000, client="") is None
    store.set_user_disabled(suzuki.id, True)
    assert accounts.authenticate("suzuki", PASSWORD, client="10.0.0.5") is None
    entries = [(e.action, e.subject, e.detail) for e in reversed(store.audit_entries(5))]
    assert entries == [
        ("login.success", "user:suzuki", "client=10.0.0.5"),
        ("login.failure", "user:suzuki", "password client=10.0.0.5"),
        ("login.failure", "user:nobody", "unknown client=10.0.0.5"),
        ("login.failure", "user:suzuki", "password client="),
        ("login.failure", "user:suzuki", "disabled client=10.0.0.5"),
    ]
    everything = caplog.text + "".join(str(e) for e in store.audit_entries())
    assert PASSWORD not in everything and "wrong password" not in everything


def test_an_unknown_username_costs_one_hash(
    accounts: Accounts, suzuki: StaffUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = device.accounts.verify_password

    def counting(encoded: str, password: str) -> bool:
        checked.append(encoded)
        return real(encoded, password)

    monkeypatch.setattr(device.accounts, "verify_password", counting)
    assert accounts.authenticate("nobody", PASSWORD, client="") is None
    assert accounts.authenticate("x" * 500, PASSWORD, client="") is None
    assert len(checked) == 2
    assert all(c.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for c in checked)
    assert accounts.authenticate("suzuki", PASSWORD, client="") == suzuki
    assert len(checked) == 3


# -- sessions ------------------------------------------------------------------------------
def test_session_stores_only_the_token_hash(
    accounts: Accounts, store: Store, suzuki: StaffUser
) -> None:
    token = accounts.start_session(suzuki, client="10.0.0.5")
    assert len(token) >= 40
    assert store.session(token) is None  # the raw token is not a key
    row = store.session(token_hash(token))
    assert row is not None and row.user_id == suzuki.id and row.client == "10.0.0.5"
    session = accounts.session(token)
    assert session is not None and session.user == suzuki
    assert session.csrf_token == row.csrf_token and len(session.csrf_token) >= 40
    other = accounts.start_session(suzuki, client="10.0.0.6")
    other_session = accounts.session(other)
    assert other_session is not None and other_session.csrf_token != session.csrf_token
    for junk in ["", "x", token + "x", "a" * 1000]:
        assert accounts.session(junk) is None


def test_idle_timeout(accounts: Accounts, store: Store, clock: Clock, suzuki: StaffUser) -> None:
    token = accounts.start_session(suzuki, client="")
    for _ in range(4):  # activity keeps it alive well past one idle period
        clock.advance(minutes=20)
        assert accounts.session(token) is not None
    clock.advance(minutes=30)
    assert accounts.session(token) is None
    assert store.session(token_hash(token)) is None  # deleted, not just refused
    clock.advance(seconds=1)
    assert accounts.session(token) is None


def test_absolute_timeout(store: Store, clock: Clock) -> None:
    accounts = Accounts(
        store, clock=clock, idle_timeout=timedelta(minutes=30), absolute_timeout=timedelta(hours=2)
    )
    user = accounts.create_user("tanaka", "田中", ["reception"], PASSWORD, actor="t")
    token = accounts.start_session(user, client="")
    for _ in range(7):
        clock.advance(minutes=17)
        assert accounts.session(token) is not None
    clock.advance(minutes=1)  # 2 h after sign-in, however busy
    assert accounts.session(token) is None
    assert store.session(token_hash(token)) is None


def test_touch_is_throttled(
    accounts: Accounts, store: Store, clock: Clock, suzuki: StaffUser
) -> None:
    token = accounts.start_session(suzuki, client="")
    clock.advance(seconds=5)
    accounts.session(token)
    row = store.session(token_hash(token))
    assert row is not None and row.last_seen == T0
    clock.advance(seconds=30)
    accounts.session(token)
    row = store.session(token_hash(token))
    assert row is not None and row.last_seen == T0 + timedelta(seconds=35)


def test_disabled_user_loses_the_session(
    accounts: Accounts, store: Store, suzuki: StaffUser
) -> None:
    token = accounts.start_session(suzuki, client="")
    with store._lock:  # disabled behind the store's back: the session check still refuses
        store._db.execute("UPDATE users SET disabled = 1 WHERE id = ?", [suzuki.id])
    assert accounts.session(token) is None
    assert store.session(token_hash(token)) is None


def test_end_session_makes_the_token_useless(
    accounts: Accounts, store: Store, suzuki: StaffUser
) -> None:
    token = accounts.start_session(suzuki, client="")
    keep = accounts.start_session(suzuki, client="")
    accounts.end_session(token)
    assert accounts.session(token) is None
    assert accounts.session(keep) is not None  # other devices stay signed in
    entry = store.audit_entries(1)[0]
    assert (entry.actor, entry.action, entry.subject) == ("suzuki", "logout", "user:suzuki")
    accounts.end_session(token)  # twice, or unknown: nothing happens
    accounts.end_session("")
    assert store.audit_entries(1)[0].id == entry.id


def test_purge_sessions(accounts: Accounts, clock: Clock, suzuki: StaffUser) -> None:
    old = accounts.start_session(suzuki, client="")
    clock.advance(minutes=25)
    fresh = accounts.start_session(suzuki, client="")
    clock.advance(minutes=10)
    assert accounts.purge_sessions() == 1
    assert accounts.session(old) is None and accounts.session(fresh) is not None


# -- demo logins -----------------------------------------------------------------------------
def test_demo_logins_created_once_and_kept_private(accounts: Accounts, tmp_path: Path) -> None:
    from device.demo import ensure_demo_logins, logins_text

    created = ensure_demo_logins(accounts, tmp_path)
    assert [u for u, _ in created] == ["reception", "doctor"]
    assert all(len(p) == 16 and p.isalnum() for _, p in created)
    assert created[0][1] != created[1][1]
    path = tmp_path / "logins.txt"
    assert path.stat().st_mode & 0o777 == 0o600
    saved = path.read_text(encoding="utf-8")
    for username, password in created:
        assert f"{username}\t{password}" in saved
        user = accounts.authenticate(username, password, client="")
        assert user is not None
    doctor = accounts.authenticate("doctor", created[1][1], client="")
    assert doctor is not None and doctor.roles == frozenset({"clinical", "reception"})
    shown = logins_text(created, path, "http://127.0.0.1:8080/login")
    assert "http://127.0.0.1:8080/login" in shown and created[1][1] in shown
    assert "医師・薬剤師" in shown
    assert ensure_demo_logins(accounts, tmp_path) == []  # users exist: nothing new
    again = logins_text([], path, "http://127.0.0.1:8080/login")
    assert str(path) in again and created[0][1] not in again
