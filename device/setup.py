"""First start: a one-time setup code that lets the first admin be created on the staff page.

When the appliance starts with no staff user, `FirstStart.issue` makes a random code of
SETUP_CODE_LENGTH characters from an alphabet without look-alikes (no 0/O, 1/I/L). It lives only
in this process's memory: it is shown on the console (one stderr line, which the journal keeps
when run by systemd; it is never written through the logger) and on the loopback-only kiosk
screen, and is void once a user exists or the process ends (a restart makes a new one).

`create_first_admin` checks the code in constant time under a lock, so of two submissions at
once only one creates an admin; the other finds the code void. A wrong code changes nothing
but counts toward the sign-in limiter (per client), and is audited without what was typed.
"""

from __future__ import annotations

import hmac
import secrets
import threading

from device.accounts import AccountError, Accounts, LoginBlocked, StaffUser
from sync.store import Store

SETUP_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # 31 symbols: 10 of them ≈ 49 bits
SETUP_CODE_LENGTH = 10
FIRST_ADMIN_ROLES = ("admin", "reception")  # a small clinic's first admin also works the desk
SETUP_ACTOR = "setup"  # the audit actor of the first admin's creation
_LIMITER_NAME = "(setup):"  # the limiter's per-account key, per client: nobody locks out others


class SetupClosed(Exception):
    """There is no setup to do: a staff user exists, or the code was used."""


class SetupCodeWrong(Exception):
    """The code typed is not this start's setup code."""


def normalise(code: str) -> str:
    """What a person types: spaces, hyphens and lower case do not matter."""
    return "".join(c for c in code.upper() if c not in " -\u3000")


def shown(code: str) -> str:
    """The code as shown: two halves, easier to read aloud and type."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


class FirstStart:
    def __init__(self, accounts: Accounts, store: Store) -> None:
        self._accounts = accounts
        self._store = store
        self._code: str | None = None
        self._lock = threading.Lock()

    def issue(self) -> str | None:
        """A new code when there is no staff user (an earlier one is void), else None."""
        with self._lock:
            self._code = None
            if self._accounts.count_users() > 0:
                return None
            self._code = "".join(secrets.choice(SETUP_ALPHABET) for _ in range(SETUP_CODE_LENGTH))
            return self._code

    def current(self) -> str | None:
        """The code while setup is still to do; None (and the code void) once a user exists."""
        with self._lock:
            if self._code is not None and self._accounts.count_users() > 0:
                self._code = None
            return self._code

    def pending(self) -> bool:
        return self.current() is not None

    def create_first_admin(
        self, code: str, username: str, display_name: str, password: str, *, client: str
    ) -> StaffUser:
        """The first admin, or SetupClosed / LoginBlocked / SetupCodeWrong / AccountError, each
        changing nothing (a wrong code is only counted and audited)."""
        store = self._store
        limiter = self._accounts.limiter
        key = _LIMITER_NAME + client
        with self._lock:
            if self._code is not None and self._accounts.count_users() > 0:
                self._code = None
            if self._code is None:
                raise SetupClosed
            wait = limiter.blocked(key, client)
            if wait is not None:
                store.audit("anonymous", "setup.blocked", "setup", f"client={client}")
                raise LoginBlocked(wait)
            if not hmac.compare_digest(normalise(code[:64]).encode(), self._code.encode()):
                limiter.failed(key, client, known=False)
                store.audit("anonymous", "setup.code_refused", "setup", f"client={client}")
                raise SetupCodeWrong
            try:
                user = self._accounts.create_user(
                    username, display_name, FIRST_ADMIN_ROLES, password, actor=SETUP_ACTOR
                )
            except AccountError:
                raise  # bad input: the code stays valid for the corrected form
            self._code = None
            limiter.succeeded(key, client)
            store.audit(
                user.username, "setup.first_admin", f"user:{user.username}", f"client={client}"
            )
            return user
