"""Sign-in rate limiting: failed passwords and TOTP codes per account and per client address.

A sliding window: a key is blocked while it has `limit` failures younger than `window`, so the
block lifts by itself once the oldest of those ages out. Each key keeps only its last `limit`
failure times. Per process, in memory: a restart forgets, which is acceptable on an appliance
whose restarts are rare and audited.

Memory is bounded by three maps of at most `max_keys` keys each, so that no traffic can push a
real account's failures out: clients (least recently failed forgotten first), names that are no
account (the same; their counts guard nothing but keep blocking looking alike for every name),
and existing accounts. The accounts map forgets only keys whose failures have all aged out,
which changes nothing; when none has, a new account is not tracked until one does, and only
existing accounts ever enter it, so made-up usernames cannot fill it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sync.clock import utc_now

MAX_KEYS = 10_000
_MAX_KEY_LENGTH = 128  # usernames and addresses are typed by anyone

_Failures = OrderedDict[str, deque[datetime]]  # key → recent failure times, least recent first


class LoginLimiter:
    def __init__(
        self,
        *,
        per_account: int = 5,
        per_client: int = 20,
        window: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = utc_now,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if per_account < 1 or per_client < 1 or window <= timedelta(0) or max_keys < 2:
            raise ValueError("limits and window must be positive")
        self._per_account = per_account
        self._per_client = per_client
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._accounts: _Failures = OrderedDict()
        self._unknown: _Failures = OrderedDict()
        self._clients: _Failures = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, username: str, client: str) -> timedelta | None:
        """How long the account or the client is still blocked; None when it may try."""
        now = self._clock()
        account = _account_key(username)
        with self._lock:
            waits = [
                self._wait(self._accounts, account, self._per_account, now),
                self._wait(self._unknown, account, self._per_account, now),
                self._wait(self._clients, _client_key(client), self._per_client, now),
            ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def failed(self, username: str, client: str, *, known: bool) -> None:
        """Count a failure; `known` says whether `username` is an existing account."""
        now = self._clock()
        account = _account_key(username)
        with self._lock:
            if known:
                self._record_account(account, now)
            else:
                self._record(self._unknown, account, self._per_account, now)
            self._record(self._clients, _client_key(client), self._per_client, now)

    def succeeded(self, username: str, client: str) -> None:
        """Clears the account's failures; the client's stay (one right password proves little)."""
        account = _account_key(username)
        with self._lock:
            self._accounts.pop(account, None)
            self._unknown.pop(account, None)

    def tracked(self) -> int:
        """How many keys are held in all maps together: what the memory bound is about."""
        with self._lock:
            return len(self._accounts) + len(self._unknown) + len(self._clients)

    def _wait(self, failures: _Failures, key: str, limit: int, now: datetime) -> timedelta | None:
        times = failures.get(key)
        if times is None or len(times) < limit:
            return None
        until = times[-limit] + self._window
        return until - now if until > now else None

    def _record(self, failures: _Failures, key: str, limit: int, now: datetime) -> None:
        """Least recently failed keys are forgotten first."""
        times = failures.get(key)
        if times is None:
            times = deque(maxlen=limit)
            failures[key] = times
        times.append(now)
        failures.move_to_end(key)
        while len(failures) > self._max_keys:
            failures.popitem(last=False)

    def _record_account(self, key: str, now: datetime) -> None:
        """Only keys whose failures have all aged out are forgotten to make room."""
        accounts = self._accounts
        if key not in accounts and len(accounts) >= self._max_keys:
            stale = [k for k, times in accounts.items() if times[-1] + self._window <= now]
            for k in stale[: len(accounts) - self._max_keys + 1]:
                del accounts[k]
            if len(accounts) >= self._max_keys:
                return  # every tracked account failed recently: they keep their counts
        self._record(accounts, key, self._per_account, now)


def _account_key(username: str) -> str:
    return "account:" + username.strip().lower()[:_MAX_KEY_LENGTH]


def _client_key(client: str) -> str:
    return "client:" + client[:_MAX_KEY_LENGTH]
