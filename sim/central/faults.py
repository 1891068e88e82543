"""The simulated central's failure modes, switchable at run time (drills, the demo, tests).

- ``normal``: answers at once.
- ``down``: unreachable. The server closes its listener, so a caller's connection is refused
  (the honest way to be down: no HTTP answer at all).
- ``slow``: every request is answered after ``slow_s`` seconds (real time: a caller's deadline
  is real time too).
- ``flapping``: down and up in turn, starting down. Each phase lasts ``flap_s`` seconds of the
  injected clock; with a ``flap_seed`` the lengths vary between half and one and a half times
  ``flap_s``, the same for the same seed.

``changed_after_recovery`` (with any mode): when a down period ends, the answers of the people
in `sim.central.changes` change (see there), and stay changed.

Every instant comes from the injected clock, so a test moves time instead of sleeping. The state
is read by the server (to open and close its listener) and by each request; a switch takes
effect at once.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

MAX_SLOW_S = 600.0
MIN_FLAP_S = 0.1
MAX_FLAP_S = 86_400.0
JITTER = (0.5, 1.5)  # a seeded phase lasts flap_s times a factor drawn from this range


class Mode(StrEnum):
    NORMAL = "normal"
    DOWN = "down"
    SLOW = "slow"
    FLAPPING = "flapping"


class SettingError(ValueError):
    """A control request or CLI flag out of range: nothing was changed."""


@dataclass(frozen=True)
class FaultSettings:
    mode: Mode = Mode.NORMAL
    slow_s: float = 2.0
    flap_s: float = 30.0
    flap_seed: int | None = None
    changed_after_recovery: bool = False

    def checked(self) -> FaultSettings:
        if not 0 <= self.slow_s <= MAX_SLOW_S:
            raise SettingError(f"slow_s must be 0–{MAX_SLOW_S:g} seconds")
        if not MIN_FLAP_S <= self.flap_s <= MAX_FLAP_S:
            raise SettingError(f"flap_s must be {MIN_FLAP_S:g}–{MAX_FLAP_S:g} seconds")
        return self


NORMAL = FaultSettings()


@dataclass(frozen=True)
class FaultStatus:
    """What the control surface reports (JSON: `to_json`)."""

    settings: FaultSettings
    down: bool  # unreachable right now
    since: datetime  # when the current mode was switched on
    next_change: datetime | None  # flapping: when down/up turns next
    recoveries: int  # down periods that have ended since the simulator started
    answers_changed: bool  # the changed answers are in effect

    def to_json(self) -> dict[str, object]:
        s = self.settings
        return {
            "mode": s.mode.value,
            "slow_s": s.slow_s,
            "flap_s": s.flap_s,
            "flap_seed": s.flap_seed,
            "changed_after_recovery": s.changed_after_recovery,
            "down": self.down,
            "since": self.since.isoformat(),
            "next_change": self.next_change.isoformat() if self.next_change else None,
            "recoveries": self.recoveries,
            "answers_changed": self.answers_changed,
        }


class FlapSchedule:
    """Down/up phases from a start instant: phase 0 is down, 1 up, 2 down…"""

    def __init__(self, start: datetime, flap_s: float, seed: int | None) -> None:
        self.start = start
        self._flap_s = flap_s
        self._random = random.Random(seed) if seed is not None else None
        self._total = 0.0  # seconds from start to the end of the last phase computed
        self._ends: list[datetime] = []  # when phase i ends (instants, so no rounding drifts)

    def _length(self) -> float:
        if self._random is None:
            return self._flap_s
        return self._flap_s * self._random.uniform(*JITTER)

    def phase(self, now: datetime) -> tuple[int, datetime]:
        """The phase index at `now` and when it ends."""
        index = bisect.bisect_right(self._ends, now)
        while index == len(self._ends):
            self._total += self._length()
            self._ends.append(self.start + timedelta(seconds=self._total))
            index = bisect.bisect_right(self._ends, now)
        return index, self._ends[index]

    def phase_start(self, index: int) -> datetime:
        return self._ends[index - 1] if index else self.start


class Faults:
    """The switchable state. `on_recovery(down_since, now)` runs once per ended down period
    (the service changes its answers there when asked to)."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        settings: FaultSettings = NORMAL,
        on_recovery: Callable[[datetime, datetime], None] | None = None,
    ) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)  # slow requests wait on it
        self._closed = False
        self._on_recovery = on_recovery
        self._settings = settings.checked()
        self._since = clock()
        self._schedule = self._new_schedule()
        self._down = False
        self._down_since: datetime | None = None
        self._last_phase: int | None = None  # flapping: the phase seen at the last look
        self._recoveries = 0
        self.answers_changed = False
        self._evaluate()

    def _new_schedule(self) -> FlapSchedule | None:
        s = self._settings
        if s.mode is not Mode.FLAPPING:
            return None
        return FlapSchedule(self._since, s.flap_s, s.flap_seed)

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return self._settings

    def switch(self, **changes: object) -> FaultStatus:
        """Change the mode and/or its settings (keyword names of FaultSettings); a mode given
        as text is accepted. Raises SettingError and changes nothing when a value is wrong."""
        if "mode" in changes:
            try:
                changes["mode"] = Mode(str(changes["mode"]))
            except ValueError:
                raise SettingError(
                    f"mode must be one of {', '.join(m.value for m in Mode)}"
                ) from None
        unknown = set(changes) - set(FaultSettings.__dataclass_fields__)
        if unknown:
            raise SettingError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            try:
                new = replace(self._settings, **changes).checked()  # type: ignore[arg-type]
            except TypeError as exc:
                raise SettingError(str(exc)) from None
            self._evaluate()  # close the old mode's books (a flapping recovery due by now)
            restart = new.mode != self._settings.mode or (
                new.mode is Mode.FLAPPING
                and (new.flap_s, new.flap_seed) != (self._settings.flap_s, self._settings.flap_seed)
            )
            self._settings = new
            if restart:
                self._since = self.clock()
                self._schedule = self._new_schedule()
                self._last_phase = None
            self._evaluate()
            self._wake.notify_all()  # requests held by the old slow setting go on now
            return self._status()

    def close(self) -> None:
        """The server is stopping: release every held request."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()

    def resume(self) -> None:
        """The server starts (again) after `close`."""
        with self._lock:
            self._closed = False

    def hold(self) -> None:
        """Slow mode: wait `slow_s` seconds of real time (the caller's deadline is real time);
        a switch out of slow mode or `close` ends the wait."""
        with self._lock:
            end = time.monotonic() + self.delay_s()
            while not self._closed and self._settings.mode is Mode.SLOW:
                left = end - time.monotonic()
                if left <= 0:
                    return
                self._wake.wait(left)

    def down(self) -> bool:
        """Whether the service is unreachable now (and book any transition)."""
        with self._lock:
            return self._evaluate()

    def delay_s(self) -> float:
        """How long a request waits before it is answered."""
        with self._lock:
            return self._settings.slow_s if self._settings.mode is Mode.SLOW else 0.0

    def status(self) -> FaultStatus:
        with self._lock:
            self._evaluate()
            return self._status()

    def _status(self) -> FaultStatus:
        next_change = None
        if self._schedule is not None:
            next_change = self._schedule.phase(self.clock())[1]
        return FaultStatus(
            self._settings,
            self._down,
            self._since,
            next_change,
            self._recoveries,
            self.answers_changed,
        )

    def _evaluate(self) -> bool:
        now = self.clock()
        mode = self._settings.mode
        if mode is Mode.DOWN:
            if not self._down:
                self._down, self._down_since = True, self._since
            return True
        if self._schedule is None:
            if self._down:
                self._recovered(self._since)  # up since the switch to this mode
            return False
        index, _ = self._schedule.phase(now)
        first = self._last_phase if self._last_phase is not None else 0
        # Every down phase that ended since the last look (a moved clock may skip several).
        for k in range(first, index):
            if k % 2 == 0:
                if not self._down:
                    self._down, self._down_since = True, self._schedule.phase_start(k)
                self._recovered(self._schedule.phase_start(k + 1))
        self._last_phase = index
        if index % 2 == 0 and not self._down:
            self._down, self._down_since = True, self._schedule.phase_start(index)
        return index % 2 == 0

    def _recovered(self, at: datetime) -> None:
        down_since = self._down_since or at
        self._down = False
        self._recoveries += 1
        if self._settings.changed_after_recovery and not self.answers_changed:
            self.answers_changed = True
            if self._on_recovery is not None:
                self._on_recovery(down_since, at)
