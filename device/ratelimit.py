"""Sign-in rate limiting: failed passwords and TOTP codes per account and per client address.

A sliding window: a key is blocked while it has `limit` failures younger than `window`, so the
block lifts by itself once the oldest of those ages out. Memory is bounded: at most `max_keys`
keys are tracked (the least recently failed are forgotten first) and each keeps only its last
`limit` failure times. Per process, in memory: a restart forgets, which is acceptable on an
appliance whose restarts are rare and audited.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sync.clock import utc_now

MAX_KEYS = 10_000
_MAX_KEY_LENGTH = 128  # usernames and addresses are typed by anyone


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
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, username: str, client: str) -> timedelta | None:
        """How long the account or the client is still blocked; None when it may try."""
        now = self._clock()
        with self._lock:
            waits = [
                self._wait(_account_key(username), self._per_account, now),
                self._wait(_client_key(client), self._per_client, now),
            ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def failed(self, username: str, client: str) -> None:
        now = self._clock()
        with self._lock:
            self._record(_account_key(username), self._per_account, now)
            self._record(_client_key(client), self._per_client, now)

    def succeeded(self, username: str, client: str) -> None:
        """Clears the account's failures; the client's stay (one right password proves little)."""
        with self._lock:
            self._failures.pop(_account_key(username), None)

    def _wait(self, key: str, limit: int, now: datetime) -> timedelta | None:
        times = self._failures.get(key)
        if times is None or len(times) < limit:
            return None
        until = times[-limit] + self._window
        return until - now if until > now else None

    def _record(self, key: str, limit: int, now: datetime) -> None:
        times = self._failures.get(key)
        if times is None:
            times = deque(maxlen=limit)
            self._failures[key] = times
        times.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)


def _account_key(username: str) -> str:
    return "account:" + username.strip().lower()[:_MAX_KEY_LENGTH]


def _client_key(client: str) -> str:
    return "client:" + client[:_MAX_KEY_LENGTH]
