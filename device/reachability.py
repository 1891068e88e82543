"""Whether the central service can be reached, as the circuit breaker (sync/breaker.py) last
found: the one place the desk, the kiosk and the status page read it from.

`CentralReachability.on_change` is the breaker's listener: when the circuit opens it records
since when the central has been down and publishes CentralDown on the bus; when it closes,
CentralUp. A probe that fails again changes nothing the pages show (still down, same since).
`CentralProbe` asks the central's health through the same breaker once the open interval has
passed, so the outage ends on the pages as soon as the central is back, even when no visit
comes to probe it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from device.events import CentralDown, CentralUp, EventBus
from sync.breaker import BreakerChange, BreakerState, CircuitBreaker
from sync.clock import utc_now
from sync.transport import CentralError

log = logging.getLogger(__name__)

PROBE_POLL_S = 1.0  # how often the probe looks whether the circuit is waiting for one


@dataclass(frozen=True)
class Reachability:
    """`down_since` None: the central is reachable as far as known; else since when it is not.
    `state` is the breaker's (closed, open, half_open)."""

    down_since: datetime | None
    state: BreakerState
    last_change: datetime | None = None  # when the state last changed
    cause: str = ""  # what the transport said when the circuit opened

    @property
    def down(self) -> bool:
        return self.down_since is not None


class CentralReachability:
    def __init__(self, bus: EventBus, clock: Callable[[], datetime] = utc_now) -> None:
        self._bus = bus
        self._clock = clock
        self._lock = threading.Lock()
        self._now = Reachability(None, BreakerState.CLOSED)

    def current(self) -> Reachability:
        with self._lock:
            return self._now

    def down_for_s(self) -> float | None:
        """Seconds the central has been unreachable, by this holder's clock; None while up."""
        since = self.current().down_since
        if since is None:
            return None
        return max(0.0, (self._clock() - since).total_seconds())

    def on_change(self, change: BreakerChange) -> None:
        """The breaker's listener (called under its lock: quick, and never calls it back)."""
        now = self._clock()
        with self._lock:
            before = self._now
            if change.state is BreakerState.CLOSED:
                self._now = Reachability(None, change.state, now)
                event: CentralDown | CentralUp | None = CentralUp(now) if before.down else None
            elif before.down:  # half-open, or open again after a failed probe: still down
                self._now = Reachability(before.down_since, change.state, now, before.cause)
                event = None
            elif change.state is BreakerState.OPEN:
                since = now - timedelta(seconds=change.down_for_s)
                self._now = Reachability(since, change.state, now, change.cause[:300])
                event = CentralDown(since)
            else:
                self._now = Reachability(None, change.state, now)
                event = None
        if event is not None:
            self._bus.publish(event)


class CentralProbe:
    """A thread that probes the central (`check`, e.g. its health call) through the breaker
    whenever the circuit is open; the breaker itself lets one probe through per interval."""

    def __init__(
        self,
        breaker: CircuitBreaker,
        check: Callable[[], object],
        poll_s: float = PROBE_POLL_S,
    ) -> None:
        self._breaker = breaker
        self._check = check
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="central-probe", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def probe_once(self) -> None:
        """One probe if the circuit is not closed (CircuitOpen at once while it waits)."""
        if self._breaker.state is BreakerState.CLOSED:
            return
        try:
            self._breaker.call(self._check)
        except CentralError as exc:
            log.debug("central probe: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.probe_once()
            except Exception:
                log.exception("central probe failed")
