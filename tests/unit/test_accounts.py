"""device/accounts.py: password hashing, users and server-side sessions with an injected clock."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.twofactor.totp import TOTP

import device.accounts
from device.accounts import (
    PENDING_ENROL,
    PENDING_TOTP,
    ROLE_LABELS,
    ROLES,
    AccountError,
    Accounts,
    LoginBlocked,
    StaffUser,
    UserSummary,
    hash_password,
    token_hash,
    verify_password,
)
from device.config import load_config
from device.events import EventBus
from device.ratelimit import LoginLimiter
from sync.fieldcrypt import DecryptError, FieldCipher, FieldKeys
from sync.store import Store
from tests.fake_services import services_with
from tests.unit.test_security import NoVisit, hidden, password_step
from web.app import create_staff_app

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
        ("login.failure", "user:(unknown)", "unknown client=10.0.0.5"),
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
    assert [u for u, _ in created] == ["reception", "doctor", "admin"]
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


# -- TOTP ------------------------------------------------------------------------------------
def code_at(secret: bytes, at: datetime) -> str:
    """What an authenticator app shows at `at` (the library's own RFC 6238 implementation)."""
    return TOTP(secret, 6, SHA1(), 30).generate(at.timestamp()).decode()


def wrong_code(secret: bytes, at: datetime) -> str:
    """A well-formed code that no step of the ±1 window accepts."""
    near = {code_at(secret, at + timedelta(seconds=30 * d)) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def test_totp_uri_and_secret(accounts: Accounts) -> None:
    secret = accounts.new_totp_secret()
    assert len(secret) == 20 and secret != accounts.new_totp_secret()
    b32 = base64.b32encode(secret).decode()
    assert accounts.totp_uri("suzuki", secret) == (
        f"otpauth://totp/onshi-edge:suzuki?secret={b32}&issuer=onshi-edge"
    )


def test_enrol_verify_window_and_replay(
    accounts: Accounts, store: Store, clock: Clock, suzuki: StaffUser
) -> None:
    secret = accounts.new_totp_secret()
    with pytest.raises(AccountError, match="code is not right"):
        accounts.enrol_totp(suzuki, secret, wrong_code(secret, T0), actor="suzuki")
    assert store.totp_secret(suzuki.id) is None
    accounts.enrol_totp(suzuki, secret, code_at(secret, T0), actor="suzuki")
    row = store.user(suzuki.id)
    assert row is not None and row.has_totp
    assert store.totp_secret(suzuki.id) == secret
    with store._lock:  # stored encrypted, not as the seed
        raw = store._db.execute(
            "SELECT totp_secret FROM users WHERE id = ?", [suzuki.id]
        ).fetchone()
    assert secret not in raw[0]
    entry = store.audit_entries(1)[0]
    assert (entry.action, entry.subject) == ("user.totp_enrolled", "user:suzuki")
    # The enrolment code has been spent; so has everything before it.
    assert not accounts.verify_totp(suzuki, code_at(secret, T0))
    clock.advance(seconds=30)
    assert accounts.verify_totp(suzuki, code_at(secret, clock.now))
    assert not accounts.verify_totp(suzuki, code_at(secret, clock.now))  # replayed
    clock.advance(seconds=60)
    assert accounts.verify_totp(suzuki, code_at(secret, clock.now - timedelta(seconds=30)))
    assert accounts.verify_totp(suzuki, code_at(secret, clock.now + timedelta(seconds=30)))
    assert not accounts.verify_totp(suzuki, code_at(secret, clock.now))  # older than the last
    clock.advance(seconds=300)
    assert not accounts.verify_totp(suzuki, code_at(secret, clock.now - timedelta(seconds=90)))
    for junk in ["", "12345", "1234567", "abcdef", "１２３４５６"]:
        assert not accounts.verify_totp(suzuki, junk)
    assert accounts.verify_totp(suzuki, code_at(secret, clock.now))


def test_totp_secret_is_bound_to_its_row(
    accounts: Accounts, store: Store, suzuki: StaffUser
) -> None:
    other = accounts.create_user("sato", "佐藤", ["reception"], PASSWORD, actor="t")
    store.set_totp_secret(suzuki.id, b"s" * 20)
    with store._lock:  # copied into another user's row, it does not decrypt
        store._db.execute(
            "UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE id = ?)"
            " WHERE id = ?",
            [suzuki.id, other.id],
        )
    with pytest.raises(DecryptError):
        store.totp_secret(other.id)


def test_session_pending_until_the_second_factor(
    accounts: Accounts, store: Store, clock: Clock, suzuki: StaffUser
) -> None:
    secret = accounts.new_totp_secret()
    accounts.enrol_totp(suzuki, secret, code_at(secret, T0), actor="suzuki")
    user = accounts.authenticate("suzuki", PASSWORD, client="c")
    assert user is not None and user.has_totp
    token = accounts.start_session(user, client="c")
    session = accounts.session(token)
    assert session is not None and session.pending == PENDING_TOTP and not session.second_factor
    clock.advance(seconds=30)
    assert not accounts.second_factor_login(session, wrong_code(secret, clock.now), client="c")
    assert accounts.second_factor_login(session, code_at(secret, clock.now), client="c")
    session = accounts.session(token)
    assert session is not None and session.pending is None and session.second_factor
    admin = accounts.create_user("kanri", "管理", ["admin"], PASSWORD, actor="t")
    admin_session = accounts.session(accounts.start_session(admin, client="c"))
    assert admin_session is not None and admin_session.pending == PENDING_ENROL
    plain = accounts.create_user("uketsuke", "受付", ["reception"], PASSWORD, actor="t")
    plain_session = accounts.session(accounts.start_session(plain, client="c"))
    assert plain_session is not None and plain_session.pending is None


# -- rate limiting in authenticate -----------------------------------------------------------
def test_blocked_account_is_not_even_checked(
    store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = LoginLimiter(per_account=3, per_client=100, clock=clock)
    accounts = Accounts(store, clock=clock, limiter=limiter)
    accounts.create_user("suzuki", "鈴木", ["reception"], PASSWORD, actor="t")
    for _ in range(3):
        assert accounts.authenticate("suzuki", "wrong password!!", client="a") is None
    checked: list[str] = []

    def counting(encoded: str, password: str) -> bool:
        checked.append(encoded)
        return True

    monkeypatch.setattr(device.accounts, "verify_password", counting)
    with pytest.raises(LoginBlocked) as blocked:
        accounts.authenticate("suzuki", PASSWORD, client="b")
    assert checked == [] and blocked.value.minutes == 15
    assert "15" in str(blocked.value) and "しばらくしてから" in str(blocked.value)
    entry = store.audit_entries(1)[0]
    assert (entry.action, entry.subject) == ("login.blocked", "user:suzuki")
    monkeypatch.undo()
    clock.advance(minutes=15)
    assert accounts.authenticate("suzuki", PASSWORD, client="b") is not None


def test_a_name_that_is_no_account_is_never_audited(store: Store, clock: Clock) -> None:
    # A password typed into the username field must not stay in the audit log for years.
    limiter = LoginLimiter(per_account=2, per_client=100, clock=clock)
    accounts = Accounts(store, clock=clock, limiter=limiter)
    accounts.create_user("suzuki", "鈴木", ["reception"], PASSWORD, actor="t")
    typed = "Secret-Pass-9"
    for _ in range(2):
        assert accounts.authenticate(typed, "", client="a") is None
    with pytest.raises(LoginBlocked):
        accounts.authenticate(typed, "", client="a")  # unknown names block alike
    assert accounts.authenticate("x" * 500, "", client="a") is None
    entries = [(e.action, e.subject) for e in reversed(store.audit_entries(4))]
    assert entries == [
        ("login.failure", "user:(unknown)"),
        ("login.failure", "user:(unknown)"),
        ("login.blocked", "user:(unknown)"),
        ("login.failure", "user:(unknown)"),
    ]
    assert not any(typed.lower() in str(e).lower() for e in store.audit_entries())
    assert accounts.authenticate("suzuki", "wrong password!!", client="a") is None
    assert store.audit_entries(1)[0].subject == "user:suzuki"  # real accounts stay named


def test_flooding_made_up_names_does_not_reset_a_real_account(store: Store, clock: Clock) -> None:
    limiter = LoginLimiter(per_account=3, per_client=10_000, clock=clock, max_keys=4)
    accounts = Accounts(store, clock=clock, limiter=limiter)
    accounts.create_user("suzuki", "鈴木", ["reception"], PASSWORD, actor="t")
    for _ in range(2):
        accounts.authenticate("suzuki", "wrong password!!", client="a")
    for i in range(20):
        accounts.authenticate(f"junk{i}", "x", client="b")
    accounts.authenticate("suzuki", "wrong password!!", client="a")
    with pytest.raises(LoginBlocked):
        accounts.authenticate("suzuki", PASSWORD, client="c")


# -- user management -------------------------------------------------------------------------
@pytest.fixture
def admin(accounts: Accounts) -> StaffUser:
    return accounts.create_user("kanri", "管理 太郎", ["admin", "reception"], PASSWORD, actor="t")


def last_audit(store: Store) -> tuple[str, str, str, str]:
    entry = store.audit_entries(1)[0]
    return entry.actor, entry.action, entry.subject, entry.detail


def test_list_users_and_user_by_id(
    accounts: Accounts, store: Store, admin: StaffUser, suzuki: StaffUser
) -> None:
    store.set_totp_secret(admin.id, b"k" * 20)
    users = accounts.list_users()
    assert [u.username for u in users] == ["kanri", "suzuki"]
    assert users[0] == UserSummary(
        admin.id,
        "kanri",
        "管理 太郎",
        frozenset({"admin", "reception"}),
        False,
        True,
        users[0].created_at,
    )
    assert users[0].created_at.tzinfo is not None
    assert users[1].has_totp is False and users[1].roles == frozenset({"reception", "clinical"})
    assert accounts.user_by_id(suzuki.id) == users[1]
    assert accounts.user_by_id(9999) is None


def test_set_disabled_ends_sessions_and_audits(
    accounts: Accounts, store: Store, admin: StaffUser, suzuki: StaffUser
) -> None:
    token = accounts.start_session(suzuki, client="")
    accounts.set_disabled(suzuki.id, True, actor="kanri")
    assert accounts.session(token) is None and store.session(token_hash(token)) is None
    assert last_audit(store) == ("kanri", "user.disabled", "user:suzuki", "")
    assert accounts.authenticate("suzuki", PASSWORD, client="") is None
    accounts.set_disabled(suzuki.id, False, actor="kanri")
    assert last_audit(store) == ("kanri", "user.enabled", "user:suzuki", "")
    assert accounts.authenticate("suzuki", PASSWORD, client="") is not None
    with pytest.raises(AccountError, match="no such user"):
        accounts.set_disabled(9999, True, actor="kanri")


def test_cannot_disable_yourself_or_the_last_admin(
    accounts: Accounts, store: Store, admin: StaffUser
) -> None:
    with pytest.raises(AccountError, match="your own account"):
        accounts.set_disabled(admin.id, True, actor="kanri")
    with pytest.raises(AccountError, match="no enabled administrator"):
        accounts.set_disabled(admin.id, True, actor="someone-else")
    second = accounts.create_user("kanri2", "管理 二郎", ["admin"], PASSWORD, actor="kanri")
    accounts.set_disabled(second.id, True, actor="kanri")  # another admin is left: allowed
    with pytest.raises(AccountError, match="no enabled administrator"):
        accounts.set_roles(admin.id, ["reception"], actor="kanri2")  # kanri2 is disabled
    accounts.set_disabled(second.id, False, actor="kanri")
    accounts.set_roles(admin.id, ["reception"], actor="kanri2")
    summary = accounts.user_by_id(admin.id)
    assert summary is not None and summary.roles == frozenset({"reception"})
    assert not any(
        e.action == "user.disabled" and e.subject == "user:kanri" for e in store.audit_entries()
    )


def test_set_roles_validates_and_audits(
    accounts: Accounts, store: Store, admin: StaffUser, suzuki: StaffUser
) -> None:
    accounts.set_roles(suzuki.id, ["clinical", "admin", "clinical"], actor="kanri")
    summary = accounts.user_by_id(suzuki.id)
    assert summary is not None and summary.roles == frozenset({"clinical", "admin"})
    assert last_audit(store) == (
        "kanri",
        "user.roles",
        "user:suzuki",
        "reception,clinical → clinical,admin",
    )
    for bad in [[], ["root"]]:
        with pytest.raises(AccountError):
            accounts.set_roles(suzuki.id, bad, actor="kanri")
    summary = accounts.user_by_id(suzuki.id)
    assert summary is not None and summary.roles == frozenset({"clinical", "admin"})


def test_reset_password_ends_sessions(
    accounts: Accounts, store: Store, clock: Clock, admin: StaffUser, suzuki: StaffUser
) -> None:
    token = accounts.start_session(suzuki, client="")
    with pytest.raises(AccountError, match="at least 12"):
        accounts.reset_password(suzuki.id, "short", actor="kanri")
    assert accounts.session(token) is not None
    clock.advance(hours=1)
    accounts.reset_password(suzuki.id, "a brand new password", actor="kanri")
    assert accounts.session(token) is None
    assert accounts.authenticate("suzuki", PASSWORD, client="") is None
    assert accounts.authenticate("suzuki", "a brand new password", client="") is not None
    assert ("kanri", "user.password_reset", "user:suzuki", "") in [
        (e.actor, e.action, e.subject, e.detail) for e in store.audit_entries(5)
    ]
    with store._lock:
        changed = store._db.execute(
            "SELECT password_changed_at FROM users WHERE id = ?", [suzuki.id]
        ).fetchone()[0]
    assert datetime.fromisoformat(changed) == T0 + timedelta(hours=1)
    everything = "".join(str(e) for e in store.audit_entries())
    assert "a brand new password" not in everything


def test_reset_second_factor(
    accounts: Accounts, store: Store, admin: StaffUser, suzuki: StaffUser
) -> None:
    secret = accounts.new_totp_secret()
    accounts.enrol_totp(suzuki, secret, code_at(secret, T0), actor="suzuki")
    token = accounts.start_session(suzuki, client="")
    accounts.reset_second_factor(suzuki.id, actor="kanri")
    assert store.totp_secret(suzuki.id) is None
    summary = accounts.user_by_id(suzuki.id)
    assert summary is not None and not summary.has_totp
    assert accounts.session(token) is None
    assert last_audit(store) == ("kanri", "user.totp_reset", "user:suzuki", "")


def test_change_own_password(accounts: Accounts, store: Store, suzuki: StaffUser) -> None:
    here = accounts.start_session(suzuki, client="")
    elsewhere = accounts.start_session(suzuki, client="")
    with pytest.raises(AccountError, match="current password"):
        accounts.change_own_password(
            suzuki, "not my password", "another password!", client="c", keep_token=here
        )
    with pytest.raises(AccountError, match="at least 12"):
        accounts.change_own_password(suzuki, PASSWORD, "short", client="c", keep_token=here)
    with pytest.raises(AccountError, match="differ"):
        accounts.change_own_password(suzuki, PASSWORD, PASSWORD, client="c", keep_token=here)
    assert accounts.session(elsewhere) is not None
    accounts.change_own_password(suzuki, PASSWORD, "another password!", client="c", keep_token=here)
    assert accounts.session(here) is not None and accounts.session(elsewhere) is None
    assert accounts.authenticate("suzuki", "another password!", client="") is not None
    assert ("suzuki", "user.password_changed", "user:suzuki", "") in [
        (e.actor, e.action, e.subject, e.detail) for e in store.audit_entries(3)
    ]


def test_remove_own_totp(
    accounts: Accounts, store: Store, admin: StaffUser, suzuki: StaffUser
) -> None:
    for user in (suzuki, admin):
        secret = accounts.new_totp_secret()
        accounts.enrol_totp(user, secret, code_at(secret, T0), actor=user.username)
    with pytest.raises(AccountError, match="password"):
        accounts.remove_own_totp(suzuki, "not my password", client="c")
    with pytest.raises(AccountError, match="keep the second factor"):
        accounts.remove_own_totp(admin, PASSWORD, client="c")
    accounts.remove_own_totp(suzuki, PASSWORD, client="c")
    assert store.totp_secret(suzuki.id) is None and store.totp_secret(admin.id) is not None
    assert last_audit(store) == ("suzuki", "user.totp_removed", "user:suzuki", "")


def test_own_password_checks_are_rate_limited(
    store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A session left open must not let anyone guess the password without limit.
    limiter = LoginLimiter(per_account=3, per_client=100, clock=clock)
    accounts = Accounts(store, clock=clock, limiter=limiter)
    suzuki = accounts.create_user("suzuki", "鈴木", ["reception"], PASSWORD, actor="t")
    new = "another password!"
    with pytest.raises(AccountError):
        accounts.change_own_password(suzuki, "wrong password 1", new, client="10.0.0.5")
    with pytest.raises(AccountError):
        accounts.remove_own_totp(suzuki, "wrong password 2", client="10.0.0.5")
    assert limiter.blocked("nobody-else", "10.0.0.5") is None
    assert accounts.authenticate("suzuki", "wrong password 3", client="10.0.0.6") is None
    checked: list[str] = []

    def counting(encoded: str, password: str) -> bool:
        checked.append(encoded)
        return True

    monkeypatch.setattr(device.accounts, "verify_password", counting)
    with pytest.raises(LoginBlocked):
        accounts.change_own_password(suzuki, PASSWORD, new, client="10.0.0.7")
    with pytest.raises(LoginBlocked):
        accounts.remove_own_totp(suzuki, PASSWORD, client="10.0.0.7")
    with pytest.raises(LoginBlocked):  # the sign-in page is blocked by the same failures
        accounts.authenticate("suzuki", PASSWORD, client="10.0.0.7")
    assert checked == []
    monkeypatch.undo()
    assert [(e.action, e.detail) for e in reversed(store.audit_entries(6))] == [
        ("login.failure", "password_change client=10.0.0.5"),
        ("login.failure", "totp_removal client=10.0.0.5"),
        ("login.failure", "password client=10.0.0.6"),
        ("login.blocked", "password_change client=10.0.0.7"),
        ("login.blocked", "totp_removal client=10.0.0.7"),
        ("login.blocked", "client=10.0.0.7"),
    ]
    client_limiter = LoginLimiter(per_account=100, per_client=2, clock=clock)
    accounts = Accounts(store, clock=clock, limiter=client_limiter)
    for _ in range(2):
        with pytest.raises(AccountError):
            accounts.change_own_password(suzuki, "wrong password!!", new, client="10.0.0.8")
    assert client_limiter.blocked("someone", "10.0.0.8") is not None  # the client counts too
    clock.advance(minutes=15)
    accounts.change_own_password(suzuki, PASSWORD, new, client="10.0.0.8")


def test_account_page_refuses_while_blocked_with_the_sign_in_words(
    tmp_path: Path, store: Store, clock: Clock
) -> None:
    limiter = LoginLimiter(per_account=2, per_client=100, clock=clock)
    accounts = Accounts(store, clock=clock, limiter=limiter)
    accounts.create_user("uketsuke", "受付", ["reception"], PASSWORD, actor="t")
    config = load_config(environ={}, overrides={"data_dir": str(tmp_path)})
    services = services_with(
        config=config,
        store=store,
        bus=EventBus(),
        flow=cast(Any, NoVisit()),
        accounts=accounts,
    )
    client = create_staff_app(config, services).test_client()
    assert password_step(client, "uketsuke").status_code == 303
    csrf = hidden(client.get("/account").get_data(as_text=True), "csrf_token")
    change = {"csrf_token": csrf, "new_password": "y" * 14, "new_password_again": "y" * 14}
    for _ in range(2):
        r = client.post("/account/password", data={**change, "current_password": "guess one!"})
        assert r.status_code == 422
        # the reason in the page's language only
        assert "現在のパスワードが違います" in r.get_data(as_text=True)
        assert "not right" not in r.get_data(as_text=True)
    assert limiter.blocked("uketsuke", "127.0.0.1") is not None  # the request's address counted
    r = client.post("/account/password", data={**change, "current_password": PASSWORD})
    assert r.status_code == 429
    assert "ログインの失敗が続いたため一時的に停止しています" in r.get_data(as_text=True)
    assert "約15分後" in r.get_data(as_text=True)
    r = client.post("/account/totp/remove", data={"csrf_token": csrf, "password": PASSWORD})
    assert r.status_code == 429 and "約15分後" in r.get_data(as_text=True)
    clock.advance(minutes=15)
    r = client.post("/account/password", data={**change, "current_password": PASSWORD})
    assert r.status_code == 303
