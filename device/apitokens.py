"""Tokens for the read API (web/api.py): made and revoked by an admin, every change audited.

A secret is `onshi_` + 43 url-safe characters (32 random bytes); it is shown once, when it is
made, and only its SHA-256 is stored: a stolen database opens no API. A secret is checked by
looking up its hash (a hash of 256 random bits cannot be guessed letter by letter, so the lookup
leaks nothing a timing could use) and comparing with hmac.compare_digest. A use is noted at most
once a minute, so polling does not write on every request.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta

from sync.clock import utc_now
from sync.store import ApiTokenRow, Store

TOKEN_PREFIX = "onshi_"
SECRET_BYTES = 32
NAME_MAX = 40
# Anything longer is no secret of ours: refused before any lookup.
SECRET_MAX = len(TOKEN_PREFIX) + 64
TOUCH_EVERY = timedelta(minutes=1)
_UNPRINTABLE = frozenset({"Zl", "Zp"})  # line and paragraph separators (and every C* category)


class TokenNameProblem(enum.Enum):
    """Why a name was refused (words in web/strings_admin.py)."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNPRINTABLE = "unprintable"  # control characters, line breaks
    TAKEN = "taken"  # an active token has this name: the audit log could not tell them apart


class TokenNameError(ValueError):
    def __init__(self, problem: TokenNameProblem) -> None:
        super().__init__(f"token name refused: {problem.value}")
        self.problem = problem


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_actor(row: ApiTokenRow) -> str:
    """Who an audit entry of a request made with this token names."""
    return f"token:{row.name}"


class ApiTokens:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def create(self, name: str, actor: str) -> tuple[ApiTokenRow, str]:
        """The new token and its secret, which is never available again. TokenNameError when
        the name is empty, too long, holds control characters or names an active token."""
        name = self._checked_name(name)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        row = self._store.add_api_token(name, secret_hash(secret), actor=actor)
        return row, secret

    def verify(self, secret: str) -> ApiTokenRow | None:
        """The active token of this secret, or None (unknown, malformed or revoked)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > SECRET_MAX:
            return None
        digest = secret_hash(secret)
        row = self._store.api_token_by_hash(digest)
        if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked:
            return None
        now = self._clock()
        last = row.last_used_at
        # Also when the clock went back: the newest use is what the list should say.
        if last is None or not timedelta(0) <= now - last < TOUCH_EVERY:
            self._store.touch_api_token(row.id, now)
        return row

    def revoke(self, token_id: int, actor: str) -> bool:
        """True when an active token was revoked now; False when unknown or revoked already."""
        return self._store.revoke_api_token(token_id, actor=actor)

    def list(self) -> list[ApiTokenRow]:
        """Active tokens first (newest first), then revoked ones."""
        return self._store.api_tokens()

    def _checked_name(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise TokenNameError(TokenNameProblem.EMPTY)
        if len(name) > NAME_MAX:
            raise TokenNameError(TokenNameProblem.TOO_LONG)
        if any(
            unicodedata.category(c) in _UNPRINTABLE or unicodedata.category(c)[0] == "C"
            for c in name
        ):
            raise TokenNameError(TokenNameProblem.UNPRINTABLE)
        if any(row.name == name and not row.revoked for row in self._store.api_tokens()):
            raise TokenNameError(TokenNameProblem.TAKEN)
        return name
