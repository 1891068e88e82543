"""Staff accounts: who may sign in, with which roles, and how long a sign-in lasts.

Passwords are hashed with argon2id (OWASP's minimum: 19 MiB, 2 passes, 1 lane) in the PHC string
format, so parameters can be raised later without breaking stored hashes. Sessions live on the
server: the browser holds a random token, the database only its SHA-256, so a copied database
does not sign anyone in. Roles are data (a tuple of names), so admin pages can add more later.
Passwords are never logged or audited; usernames appear only in the audit trail, and only
names of existing accounts (anything else typed may be a password in the wrong field).

Second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s), ±1 step for clock drift, each step usable
once. A session of a user with TOTP is pending until the code is given; an admin without TOTP is
pending until one is enrolled. Failed passwords and codes count toward a LoginLimiter, and so do
wrong passwords typed to change the password or remove the second factor; while it blocks, the
password is not even checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from device.ratelimit import LoginLimiter
from sync.clock import utc_now
from sync.store import SessionRow, Store, UserExists, UserRow

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
_MAX_LOOKUP = 64  # a typed username longer than this is no account: not even looked up
# The audit subject of a sign-in with a name that is no account: what was typed may be a
# password in the wrong field, and the audit log is kept for years.
UNKNOWN_SUBJECT = "user:(unknown)"

TOTP_ISSUER = "onshi-edge"
TOTP_DIGITS = 6
TOTP_PERIOD_S = 30
TOTP_SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends for HMAC-SHA-1
TOTP_WINDOW = 1  # steps either side accepted: phones whose clock is a little off
_TOTP_CODE = re.compile(r"[0-9]{6}")

# What StaffSession.pending says is still to do before the session counts as signed in.
PENDING_TOTP = "totp"  # type the code
PENDING_ENROL = "enrol"  # an admin without TOTP: enrol one


class AccountError(ValueError):
    """Bad input for an account; the message is "日本語 / English"."""


class LoginBlocked(Exception):
    """Too many failed sign-ins for this account or client; try again after `retry_after`."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        self.minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
        super().__init__(
            f"しばらくしてから（{self.minutes}分後）もう一度お試しください / "
            f"try again in {self.minutes} minutes"
        )


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    has_totp: bool = False

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class StaffSession:
    token_hash: str
    user: StaffUser
    csrf_token: str
    second_factor: bool = False

    @property
    def pending(self) -> str | None:
        """PENDING_TOTP, PENDING_ENROL, or None when the sign-in is complete."""
        if self.second_factor:
            return None
        if self.user.has_totp:
            return PENDING_TOTP
        if self.user.has("admin"):
            return PENDING_ENROL
        return None


@dataclass(frozen=True)
class UserSummary:
    """A user as the admin pages list it: no hashes, no secrets."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    disabled: bool
    has_totp: bool
    created_at: datetime


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
    return StaffUser(row.id, row.username, row.display_name, frozenset(row.roles), row.has_totp)


def _summary(row: UserRow) -> UserSummary:
    return UserSummary(
        row.id,
        row.username,
        row.display_name,
        frozenset(row.roles),
        row.disabled,
        row.has_totp,
        row.created_at,
    )


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_PERIOD_S)


class Accounts:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utc_now,
        idle_timeout: timedelta = timedelta(minutes=30),
        absolute_timeout: timedelta = timedelta(hours=12),
        limiter: LoginLimiter | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._idle = idle_timeout
        self._absolute = absolute_timeout
        self._limiter = limiter if limiter is not None else LoginLimiter(clock=clock)
        # Check-then-write of the "last enabled admin" rule happens under this lock.
        self._admin_lock = threading.Lock()

    @property
    def limiter(self) -> LoginLimiter:
        return self._limiter

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
        wanted = _checked_roles(roles)
        _check_password(password)
        if self._store.user_by_username(username) is not None:
            raise AccountError(_exists(username))
        try:
            row = self._store.add_user(username, display_name, wanted, hash_password(password))
        except UserExists as exc:  # created by someone else meanwhile
            raise AccountError(_exists(username)) from exc
        self._store.audit(actor, "user.created", f"user:{username}", f"roles={','.join(wanted)}")
        return _staff_user(row)

    def count_users(self) -> int:
        return self._store.count_users()

    def list_users(self) -> list[UserSummary]:
        return [_summary(row) for row in self._store.list_users()]

    def user_by_id(self, user_id: int) -> UserSummary | None:
        row = self._store.user(user_id)
        return _summary(row) if row is not None else None

    def set_disabled(self, user_id: int, disabled: bool, *, actor: str) -> None:
        """Disable (ending every session) or enable again; never yourself, never the last admin."""
        with self._admin_lock:
            row = self._existing(user_id)
            if disabled and row.username == actor:
                raise AccountError(
                    "自分自身は無効にできません / you cannot disable your own account"
                )
            if disabled and self._last_enabled_admin(row):
                raise AccountError(_LAST_ADMIN)
            self._store.set_user_disabled(user_id, disabled)
            self._store.delete_sessions_of(user_id)
        action = "user.disabled" if disabled else "user.enabled"
        self._store.audit(actor, action, f"user:{row.username}")

    def reset_password(self, user_id: int, password: str, *, actor: str) -> None:
        """A new password set by an admin; the user's sessions end."""
        _check_password(password)
        row = self._existing(user_id)
        self._store.set_password_hash(user_id, hash_password(password), at=self._clock())
        self._store.delete_sessions_of(user_id)
        self._store.audit(actor, "user.password_reset", f"user:{row.username}")

    def reset_second_factor(self, user_id: int, *, actor: str) -> None:
        """Forget the user's TOTP (a lost phone); their sessions end. Admins enrol again."""
        row = self._existing(user_id)
        self._store.set_totp_secret(user_id, None)
        self._store.delete_sessions_of(user_id)
        self._store.audit(actor, "user.totp_reset", f"user:{row.username}")

    def set_roles(self, user_id: int, roles: Iterable[str], *, actor: str) -> None:
        wanted = _checked_roles(roles)
        with self._admin_lock:
            row = self._existing(user_id)
            if "admin" not in wanted and self._last_enabled_admin(row):
                raise AccountError(_LAST_ADMIN)
            self._store.set_user_roles(user_id, wanted)
        self._store.audit(
            actor,
            "user.roles",
            f"user:{row.username}",
            f"{','.join(row.roles)} → {','.join(wanted)}",
        )

    def change_own_password(
        self, user: StaffUser, old: str, new: str, *, client: str, keep_token: str = ""
    ) -> None:
        """The signed-in user's own change; their other sessions end (`keep_token` stays).

        The current password is checked like a sign-in: LoginBlocked while the limiter blocks
        the account or the client, and a wrong one counts as a failure.
        """
        row = self._existing(user.id)
        if not self._own_password_right(row, old, client, "password_change"):
            raise AccountError("現在のパスワードが違います / the current password is not right")
        _check_password(new)
        if new == old:
            raise AccountError(
                "新しいパスワードは今までと違うものにしてください / "
                "the new password must differ from the current one"
            )
        self._store.set_password_hash(user.id, hash_password(new), at=self._clock())
        self._store.delete_sessions_of(user.id, keep=token_hash(keep_token) if keep_token else "")
        self._store.audit(user.username, "user.password_changed", f"user:{user.username}")

    def _own_password_right(self, row: UserRow, password: str, client: str, what: str) -> bool:
        """A signed-in user's password typed again, limited like a sign-in.

        Otherwise a session left open would let anyone guess the password without limit.
        """
        subject = f"user:{row.username}"
        wait = self._limiter.blocked(row.username, client)
        if wait is not None:
            self._store.audit(row.username, "login.blocked", subject, f"{what} client={client}")
            raise LoginBlocked(wait)
        if verify_password(row.password_hash, password[:MAX_PASSWORD_LENGTH]):
            return True
        self._limiter.failed(row.username, client, known=True)
        self._store.audit(row.username, "login.failure", subject, f"{what} client={client}")
        return False

    def _existing(self, user_id: int) -> UserRow:
        row = self._store.user(user_id)
        if row is None:
            raise AccountError("ユーザーが見つかりません / no such user")
        return row

    def _last_enabled_admin(self, row: UserRow) -> bool:
        if row.disabled or "admin" not in row.roles:
            return False
        admins = [u for u in self._store.list_users() if not u.disabled and "admin" in u.roles]
        return len(admins) <= 1

    # -- signing in ---------------------------------------------------------------------
    def authenticate(self, username: str, password: str, *, client: str) -> StaffUser | None:
        """The user when the password is right and the account enabled; every attempt audited.

        LoginBlocked (without checking the password) while the limiter blocks the account or
        the client. A right password of a user with TOTP does not clear the account's failures:
        only the code does, so failed codes cannot be reset by typing the password again.
        """
        row = self._store.user_by_username(username) if len(username) <= _MAX_LOOKUP else None
        subject = f"user:{row.username}" if row is not None else UNKNOWN_SUBJECT
        wait = self._limiter.blocked(username, client)
        if wait is not None:
            self._store.audit("anonymous", "login.blocked", subject, f"client={client}")
            raise LoginBlocked(wait)
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
            if not row.has_totp:
                self._limiter.succeeded(username, client)
            return _staff_user(row)
        self._limiter.failed(username, client, known=row is not None)
        self._store.audit("anonymous", "login.failure", subject, f"{reason} client={client}")
        return None

    def second_factor_login(self, session: StaffSession, code: str, *, client: str) -> bool:
        """The TOTP step of a pending sign-in: True marks the session complete.

        Wrong codes count toward the limiter like wrong passwords; LoginBlocked while blocked.
        """
        user = session.user
        subject = f"user:{user.username}"
        wait = self._limiter.blocked(user.username, client)
        if wait is not None:
            self._store.audit(user.username, "login.blocked", subject, f"totp client={client}")
            raise LoginBlocked(wait)
        if not self.verify_totp(user, code):
            self._limiter.failed(user.username, client, known=True)
            self._store.audit(user.username, "login.failure", subject, f"totp client={client}")
            return False
        self._store.set_session_second_factor(session.token_hash)
        self._limiter.succeeded(user.username, client)
        self._store.audit(user.username, "login.second_factor", subject, f"client={client}")
        return True

    # -- TOTP ---------------------------------------------------------------------------
    def new_totp_secret(self) -> bytes:
        return secrets.token_bytes(TOTP_SECRET_BYTES)

    def totp_uri(self, username: str, secret: bytes) -> str:
        """The otpauth:// URI an authenticator app reads from the QR code."""
        b32 = base64.b32encode(secret).decode().rstrip("=")
        label = quote(f"{TOTP_ISSUER}:{username}", safe=":@")
        return f"otpauth://totp/{label}?secret={b32}&issuer={quote(TOTP_ISSUER)}"

    def enrol_totp(self, user: StaffUser, secret: bytes, code: str, *, actor: str) -> None:
        """Keep `secret` as the user's second factor once `code` shows the app has it."""
        if len(secret) != TOTP_SECRET_BYTES:
            raise AccountError("登録情報が正しくありません / the enrolment data is not valid")
        step = self._matching_step(secret, code)
        if step is None or not self._store.use_totp_step(user.id, step):
            raise AccountError(
                "確認コードが違います。アプリに表示されている6桁を入力してください / "
                "the code is not right; type the 6 digits the app shows"
            )
        self._store.set_totp_secret(user.id, secret)
        self._store.audit(actor, "user.totp_enrolled", f"user:{user.username}")

    def verify_totp(self, user: StaffUser, code: str) -> bool:
        """True for a current code (±1 step) not used before; a used step never works again."""
        secret = self._store.totp_secret(user.id)
        if secret is None:
            return False
        step = self._matching_step(secret, code)
        return step is not None and self._store.use_totp_step(user.id, step)

    def remove_own_totp(self, user: StaffUser, password: str, *, client: str) -> None:
        """The user's own removal, confirmed with the password; admins must keep theirs.

        The password is checked like a sign-in: LoginBlocked while the limiter blocks the
        account or the client, and a wrong one counts as a failure.
        """
        row = self._existing(user.id)
        if "admin" in row.roles:
            raise AccountError(
                "管理者は二段階認証を外せません / administrators must keep the second factor"
            )
        if not self._own_password_right(row, password, client, "totp_removal"):
            raise AccountError("パスワードが違います / the password is not right")
        self._store.set_totp_secret(user.id, None)
        self._store.audit(user.username, "user.totp_removed", f"user:{user.username}")

    def _matching_step(self, secret: bytes, code: str) -> int | None:
        code = code.strip().replace(" ", "")
        if not _TOTP_CODE.fullmatch(code):
            return None
        totp = _totp(secret)
        now = int(self._clock().timestamp())
        current = now // TOTP_PERIOD_S
        found = None
        for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
            expected = totp.generate(step * TOTP_PERIOD_S)
            if hmac.compare_digest(expected, code.encode()):  # every step compared: no early exit
                found = step
        return found

    # -- sessions -------------------------------------------------------------------------
    def start_session(self, user: StaffUser, *, client: str) -> str:
        """A new session; returns the raw token for the cookie (the store keeps its hash).

        It is pending (see StaffSession.pending) until complete_second_factor when the user has
        TOTP, or is an admin without one.
        """
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._store.add_session(
            token_hash(token),
            user.id,
            secrets.token_urlsafe(TOKEN_BYTES),
            client,
            at=self._clock(),
        )
        return token

    def complete_second_factor(self, token: str) -> None:
        """Mark the session verified (after a TOTP code or an enrolment in this session)."""
        if token and len(token) <= 128:
            self._store.set_session_second_factor(token_hash(token))

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
        return StaffSession(hashed, _staff_user(user), row.csrf_token, row.second_factor)

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


_LAST_ADMIN = (
    "有効な管理者が1人もいなくなるため変更できません / "
    "refused: this would leave no enabled administrator"
)


def _checked_roles(roles: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(roles))  # keeps the order given, without repeats
    if not wanted:
        raise AccountError("役割を1つ以上指定してください / give at least one role")
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise AccountError(
            f"不明な役割です ({', '.join(r[:20] for r in unknown)}) / unknown role; "
            f"choose from {', '.join(ROLES)}"
        )
    return wanted


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください / "
            f"password must be at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("パスワードが長すぎます / password is too long")


def _exists(username: str) -> str:
    return f"ユーザー {username} は既に存在します / user {username} already exists"


def role_label(role: str, lang: str) -> str:
    ja, en = ROLE_LABELS.get(role, (role, role))
    return en if lang == "en" else ja
