"""Staff accounts: who may sign in, with which roles, and how long a sign-in lasts.

Passwords are hashed with argon2id (OWASP's minimum: 19 MiB, 2 passes, 1 lane) in the PHC string
format, so parameters can be raised later without breaking stored hashes. Sessions live on the
server: the browser holds a random token, the database only its SHA-256, so a copied database
does not sign anyone in. Roles are data (a tuple of names), so admin pages can add more later.
Passwords are never logged or audited; usernames appear only in the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from sync.clock import utc_now
from sync.store import SessionRow, Store, UserRow

ROLES = ("reception", "clinical", "admin")
ROLE_LABELS: dict[str, tuple[str, str]] = {
    "reception": ("受付", "reception"),
    "clinical": ("医師・薬剤師", "clinical"),
    "admin": ("管理者", "admin"),
}

USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{2,32}")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing cost does not depend on it, but nobody types more
MAX_DISPLAY_NAME_LENGTH = 64

# argon2id parameters (OWASP Password Storage Cheat Sheet, first recommendation).
ARGON2_MEMORY_KIB = 19456
ARGON2_ITERATIONS = 2
ARGON2_LANES = 1
ARGON2_SALT_BYTES = 16
ARGON2_HASH_BYTES = 32
# What verify_password accepts from a stored hash: enough room to raise the cost later, a bound
# so a damaged row cannot make one sign-in allocate gigabytes.
_MAX_MEMORY_KIB = 1 << 20
_MAX_ITERATIONS = 16
_MAX_LANES = 8
_PHC = re.compile(
    r"\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,2}),p=(\d{1,2})"
    r"\$([A-Za-z0-9+/]{11,64})\$([A-Za-z0-9+/]{16,128})"
)
# Checked against when a username does not exist, so that costs one hash like a real check.
# Its password was random and thrown away.
_DECOY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$WmuvW63Aosnu8SCTEdZGZQ"
    "$uMt+kXY55Hx3LxESN8pD/WW7YqMMCco9TjGjyIUqiAA"
)

TOKEN_BYTES = 32
TOUCH_INTERVAL = timedelta(seconds=30)  # last_seen resolution: no write on every request
_MAX_SUBJECT = 64  # a failed login's username is typed by anyone: keep the audit row bounded


class AccountError(ValueError):
    """Bad input for an account; the message is "日本語 / English"."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class StaffSession:
    token_hash: str
    user: StaffUser
    csrf_token: str


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _argon2(password: str, salt: bytes, memory: int, iterations: int, lanes: int) -> bytes:
    kdf = Argon2id(
        salt=salt,
        length=ARGON2_HASH_BYTES,
        iterations=iterations,
        lanes=lanes,
        memory_cost=memory,
    )
    return kdf.derive(password.encode())


def hash_password(password: str) -> str:
    """argon2id in the PHC format: $argon2id$v=19$m=…,t=…,p=…$salt$hash (base64, no padding)."""
    salt = secrets.token_bytes(ARGON2_SALT_BYTES)
    digest = _argon2(password, salt, ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES)
    return (
        f"$argon2id$v=19$m={ARGON2_MEMORY_KIB},t={ARGON2_ITERATIONS},p={ARGON2_LANES}"
        f"${_b64(salt)}${_b64(digest)}"
    )


def verify_password(encoded: str, password: str) -> bool:
    """True when the password matches; False for a wrong password or a malformed hash."""
    match = _PHC.fullmatch(encoded)
    if match is None:
        return False
    memory, iterations, lanes = (int(match.group(i)) for i in (1, 2, 3))
    if not (
        8 * lanes <= memory <= _MAX_MEMORY_KIB
        and 1 <= iterations <= _MAX_ITERATIONS
        and 1 <= lanes <= _MAX_LANES
    ):
        return False
    try:
        salt, expected = _unb64(match.group(4)), _unb64(match.group(5))
        kdf = Argon2id(
            salt=salt, length=len(expected), iterations=iterations, lanes=lanes, memory_cost=memory
        )
        kdf.verify(password.encode(), expected)  # constant-time comparison inside
    except (InvalidKey, ValueError):
        return False
    return True


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _staff_user(row: UserRow) -> StaffUser:
    return StaffUser(row.id, row.username, row.display_name, frozenset(row.roles))


class Accounts:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utc_now,
        idle_timeout: timedelta = timedelta(minutes=30),
        absolute_timeout: timedelta = timedelta(hours=12),
    ) -> None:
        self._store = store
        self._clock = clock
        self._idle = idle_timeout
        self._absolute = absolute_timeout

    # -- users --------------------------------------------------------------------------
    def create_user(
        self,
        username: str,
        display_name: str,
        roles: Iterable[str],
        password: str,
        *,
        actor: str,
    ) -> StaffUser:
        wanted = tuple(dict.fromkeys(roles))  # keeps the order given, without repeats
        if not USERNAME_PATTERN.fullmatch(username):
            raise AccountError(
                "ユーザー名は英小文字・数字・. _ - の2〜32文字です / "
                "username must be 2-32 characters of a-z 0-9 . _ -"
            )
        display_name = display_name.strip()
        if not display_name or len(display_name) > MAX_DISPLAY_NAME_LENGTH:
            raise AccountError(
                f"表示名は1〜{MAX_DISPLAY_NAME_LENGTH}文字です / "
                f"display name must be 1-{MAX_DISPLAY_NAME_LENGTH} characters"
            )
        if not wanted:
            raise AccountError("役割を1つ以上指定してください / give at least one role")
        unknown = [r for r in wanted if r not in ROLES]
        if unknown:
            raise AccountError(
                f"不明な役割です ({', '.join(r[:20] for r in unknown)}) / unknown role; "
                f"choose from {', '.join(ROLES)}"
            )
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(
                f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください / "
                f"password must be at least {MIN_PASSWORD_LENGTH} characters"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise AccountError("パスワードが長すぎます / password is too long")
        if self._store.user_by_username(username) is not None:
            raise AccountError(_exists(username))
        try:
            row = self._store.add_user(username, display_name, wanted, hash_password(password))
        except sqlite3.IntegrityError as exc:  # created by someone else meanwhile
            raise AccountError(_exists(username)) from exc
        self._store.audit(actor, "user.created", f"user:{username}", f"roles={','.join(wanted)}")
        return _staff_user(row)

    def count_users(self) -> int:
        return self._store.count_users()

    def authenticate(self, username: str, password: str, *, client: str) -> StaffUser | None:
        """The user when the password is right and the account enabled; every attempt audited."""
        subject = f"user:{username[:_MAX_SUBJECT]}"
        row = self._store.user_by_username(username) if len(username) <= _MAX_SUBJECT else None
        too_long = len(password) > MAX_PASSWORD_LENGTH
        if row is None:
            # Same cost as a real check, so response time does not tell which usernames exist.
            verify_password(_DECOY_HASH, password[:MAX_PASSWORD_LENGTH])
            reason = "unknown"
        elif not verify_password(row.password_hash, password[:MAX_PASSWORD_LENGTH]) or too_long:
            reason = "password"
        elif row.disabled:
            reason = "disabled"
        else:
            self._store.audit(row.username, "login.success", subject, f"client={client}")
            return _staff_user(row)
        self._store.audit("anonymous", "login.failure", subject, f"{reason} client={client}")
        return None

    # -- sessions -------------------------------------------------------------------------
    def start_session(self, user: StaffUser, *, client: str) -> str:
        """A new session; returns the raw token for the cookie (the store keeps its hash)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._store.add_session(
            token_hash(token),
            user.id,
            secrets.token_urlsafe(TOKEN_BYTES),
            client,
            at=self._clock(),
        )
        return token

    def session(self, token: str) -> StaffSession | None:
        """The live session for a cookie value; expired or orphaned ones are deleted."""
        if not token or len(token) > 128:
            return None
        hashed = token_hash(token)
        row = self._store.session(hashed)
        if row is None:
            return None
        user = self._store.user(row.user_id)
        now = self._clock()
        if user is None or user.disabled or self._expired(row, now):
            self._store.delete_session(hashed)
            return None
        if now - row.last_seen >= TOUCH_INTERVAL:
            self._store.touch_session(hashed, now)
        return StaffSession(hashed, _staff_user(user), row.csrf_token)

    def _expired(self, row: SessionRow, now: datetime) -> bool:
        return now - row.last_seen >= self._idle or now - row.created_at >= self._absolute

    def end_session(self, token: str) -> None:
        """Sign out: the cookie value stops working at once."""
        if not token or len(token) > 128:
            return
        hashed = token_hash(token)
        row = self._store.session(hashed)
        if row is None:
            return
        user = self._store.user(row.user_id)
        self._store.delete_session(hashed)
        name = user.username if user else f"user-id:{row.user_id}"
        self._store.audit(name, "logout", f"user:{name}")

    def purge_sessions(self) -> int:
        """Delete every idle or too-old session (for a periodic job)."""
        now = self._clock()
        return self._store.purge_sessions(
            seen_before=now - self._idle, created_before=now - self._absolute
        )


def _exists(username: str) -> str:
    return f"ユーザー {username} は既に存在します / user {username} already exists"


def role_label(role: str, lang: str) -> str:
    ja, en = ROLE_LABELS.get(role, (role, role))
    return en if lang == "en" else ja
