"""A circuit breaker around the central transport: know the central is down, and stop waiting.

`CircuitBreaker` is a QualificationTransport that wraps another one (sync.transport). It counts
the calls that end in CentralFault.UNAVAILABLE (not reached, timed out, 5xx); after
`failures` of them in a row the circuit opens, and every call fails at once with CircuitOpen
(a CentralUnavailable: the callers' "try again later" path) without touching the network.
After `open_s` one call goes through as a probe (half-open): its success closes the circuit,
its failure opens it again for another `open_s`. The other calls made while the probe is out
fail at once too.

A refusal (REFUSED), an answer that cannot be read (UNREADABLE) and a certificate mismatch
(UNTRUSTED) are answers from a service that is there: they end a run of failures and never
open the circuit. Anything else a call raises (a bug, a message that cannot be built) says
nothing about the central and changes nothing, except that a probe slot it held is given back.

The clock is injected (a monotonic clock in seconds). Every transition is reported to the
listener, a plain callable (sync imports nothing of device/), called while the breaker's lock
is held so the transitions arrive in order: it must be quick and must not call the breaker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from sync.transport import (
    CentralError,
    CentralFault,
    CentralUnavailable,
    QualificationTransport,
    RelayTransport,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_FAILURES = 2
DEFAULT_OPEN_S = 30.0


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls fail at once until the open interval has passed
    HALF_OPEN = "half_open"  # one probe call is out; the others fail at once


@dataclass(frozen=True)
class BreakerChange:
    """One transition. `down_for_s`: seconds since the first failure of the current run of
    failures (0 when closed); `cause`: the failure that caused it, as the transport said it."""

    state: BreakerState
    previous: BreakerState
    down_for_s: float
    cause: str = ""


class CircuitOpen(CentralUnavailable):
    """The circuit is open: the central is known to be unreachable, so nothing was sent."""

    def __init__(self, retry_in_s: float) -> None:
        super().__init__(
            "中央サービスに接続できません（回路遮断中：送信していません、"
            f"{retry_in_s:.0f} 秒後に再確認）/ central service unreachable: circuit open, "
            f"nothing sent (next probe in {retry_in_s:.0f} s)"
        )
        self.retry_in_s = retry_in_s


class CircuitBreaker(RelayTransport):
    """Implements sync.transport.QualificationTransport around `inner` (each call through
    `call`); thread-safe."""

    def __init__(
        self,
        inner: QualificationTransport,
        *,
        failures: int = DEFAULT_FAILURES,
        open_s: float = DEFAULT_OPEN_S,
        clock: Callable[[], float] = time.monotonic,
        listener: Callable[[BreakerChange], None] | None = None,
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if open_s < 0:
            raise ValueError("open_s must not be negative")
        super().__init__(inner)
        self._failures = failures
        self._open_s = open_s
        self._clock = clock
        self._listener = listener
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._count = 0  # consecutive unavailable failures
        self._first_failure: float | None = None  # clock() of the run's first failure
        self._opened_at = 0.0
        self._probe_out = False

    # -- any call to the same central -------------------------------------------------
    def call(self, run: Callable[[], T]) -> T:
        """Run one call to the central under the breaker: CircuitOpen at once while open."""
        probe = self._admit()
        try:
            result = run()
        except CentralError as exc:
            if exc.fault is CentralFault.UNAVAILABLE:
                self._failed(probe, exc)
            else:
                self._answered(probe)  # an answer, if not a welcome one: the service is there
            raise
        except BaseException:
            if probe:
                with self._lock:
                    self._probe_out = False  # says nothing about the central: probe again
            raise
        self._answered(probe)
        return result

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    @property
    def failures(self) -> int:
        """Consecutive unavailable failures counted so far."""
        with self._lock:
            return self._count

    def down_for_s(self) -> float | None:
        """Seconds since the current run of failures began; None while none is counted."""
        with self._lock:
            if self._first_failure is None:
                return None
            return max(0.0, self._clock() - self._first_failure)

    # -- the state machine -------------------------------------------------------------
    def _admit(self) -> bool:
        """True when this call is the half-open probe; CircuitOpen when it may not go."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return False
            now = self._clock()
            if self._state is BreakerState.OPEN:
                waited = now - self._opened_at
                if waited < self._open_s:
                    raise CircuitOpen(self._open_s - waited)
                self._move(BreakerState.HALF_OPEN, now)
            if self._probe_out:  # half-open, and another call is the probe
                raise CircuitOpen(0.0)
            self._probe_out = True
            return True

    def _failed(self, probe: bool, exc: CentralError) -> None:
        with self._lock:
            now = self._clock()
            if probe:
                self._probe_out = False
            if self._first_failure is None:
                self._first_failure = now
            self._count += 1
            if self._state is BreakerState.HALF_OPEN and probe:
                self._opened_at = now
                self._move(BreakerState.OPEN, now, str(exc))
            elif self._state is BreakerState.CLOSED and self._count >= self._failures:
                self._opened_at = now
                self._move(BreakerState.OPEN, now, str(exc))

    def _answered(self, probe: bool) -> None:
        with self._lock:
            if probe:
                self._probe_out = False
            elif self._state is BreakerState.HALF_OPEN:
                return  # only the probe decides
            # Closed, the probe, or a call admitted before the circuit opened that came back
            # with an answer after all: the service is there.
            self._count = 0
            self._first_failure = None
            if self._state is not BreakerState.CLOSED:
                self._move(BreakerState.CLOSED, self._clock())

    def _move(self, state: BreakerState, now: float, cause: str = "") -> None:
        """Change state and tell the listener (the lock is held)."""
        previous, self._state = self._state, state
        down = 0.0 if self._first_failure is None else max(0.0, now - self._first_failure)
        change = BreakerChange(state, previous, down, cause)
        if state is BreakerState.OPEN:
            log.warning("central circuit open after %d failures: %s", self._count, cause[:200])
        elif state is BreakerState.CLOSED:
            log.info("central circuit closed: the central answers again")
        if self._listener is None:
            return
        try:
            self._listener(change)
        except Exception:
            log.exception("central circuit listener failed")
