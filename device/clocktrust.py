"""Whether the appliance may believe its wall clock, and its best knowledge of the time.

A Raspberry Pi has no battery clock: it boots at the time it last saved and waits for NTP, and an
admin can set any date by hand. Deleting personal data by age, dating a check of care and stamping
stored answers all read the clock, so a wrong clock loses data or sends last year's date.

The wall clock is *trusted* when all of these hold:
- the kernel says it is synchronised (``adjtimex``; see `kernel_synchronised`);
- when the central service answers GET /v1/time, the two agree within `tolerance_s`;
- no jump of the wall clock against the monotonic clock (larger than `tolerance_s`) has been seen
  since the central last confirmed the time.

`now()` is the appliance's best knowledge of the time: the wall clock while it agrees with the
central's time (carried forward on the monotonic clock from the last measurement), the central's
time otherwise. Stored rows and the date of care are stamped with it, so a clock set a year back
neither sends last year's date nor stores an answer as a year old.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.central import CentralError
from sync.clock import utc_now

log = logging.getLogger(__name__)

TIME_ERROR = 5  # adjtimex() return value: the clock is not synchronised
STA_UNSYNC = 0x0040  # timex.status bit: no NTP discipline
MAXERROR_UNSYNCED_US = 16_000_000  # the kernel's "maximum error" at which systemd gives up too
JUMPS_KEPT = 20
JUMP_SHOWN_S = 24 * 3600.0  # a jump stays on the status page this long (monotonic time)
ESTIMATE_MAX_AGE_S = 24 * 3600.0  # older central time is not carried forward (monotonic drift)
CARE_FRESH_S = 600.0  # the date of care asks the central again when its time is older


class _Timex(ctypes.Structure):
    """struct timex of <sys/timex.h> as the C library's adjtimex() takes it."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
        ("_slack", ctypes.c_byte * 64),  # room should a C library's struct be longer
    ]


def kernel_synchronised() -> bool | None:
    """The kernel's own view: True synchronised, False not, None cannot tell (not Linux).

    adjtimex() with no mode bits only reads, needs no privilege, no D-Bus and no subprocess, and
    works whichever NTP daemon disciplines the clock (systemd-timesyncd, chrony, ntpd). It is the
    same test `timedatectl show -p NTPSynchronized` makes inside systemd-timedated, without the
    D-Bus round trip the hardened service unit may not be allowed and a container does not have.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        adjtimex = ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None
    buffer = _Timex()  # modes = 0: read only
    state = int(adjtimex(ctypes.byref(buffer)))
    if state < 0:
        return None
    return (
        state != TIME_ERROR
        and not buffer.status & STA_UNSYNC
        and buffer.maxerror < MAXERROR_UNSYNCED_US
    )


@dataclass(frozen=True)
class ClockJump:
    """The wall clock moved against the monotonic clock between two readings."""

    at: datetime  # the wall clock just after the jump
    seconds: float  # positive: set forward
    monotonic: float  # when it was seen, on the monotonic clock


@dataclass(frozen=True)
class ClockReading:
    at: datetime  # the wall clock when read
    synchronised: bool | None  # the kernel's answer; None: cannot tell
    offset_s: float | None  # this box minus the central: positive = this box is ahead
    central_problem: str  # why the central's time is unknown ("" when known or not asked)
    unconfirmed_jump: ClockJump | None  # a jump the central has not confirmed since
    tolerance_s: float
    reasons: tuple[str, ...]  # why the clock is not trusted ("日本語 / English"), empty if it is

    @property
    def trusted(self) -> bool:
        return not self.reasons


def describe_seconds(seconds: float, lang: str = "en") -> str:
    """ "+3.0 s", "-2 h", "+365 days" (or 秒, 分, 時間, 日): a size read at a glance, signed."""
    size = abs(seconds)
    sign = "+" if seconds >= 0 else "-"
    if size < 120:
        number, unit = f"{size:.1f}", ("s", "秒")
    elif size < 2 * 3600:
        number, unit = f"{size / 60:.0f}", ("min", "分")
    elif size < 2 * 86400:
        number, unit = f"{size / 3600:.1f}", ("h", "時間")
    else:
        number, unit = f"{size / 86400:.0f}", ("days", "日")
    return f"{sign}{number} {unit[0]}" if lang == "en" else f"{sign}{number}{unit[1]}"


class ClockTrust:
    def __init__(
        self,
        *,
        tolerance_s: float,
        wall: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        synchronised: Callable[[], bool | None] = kernel_synchronised,
        central_time: Callable[[], datetime] | None = None,
    ) -> None:
        self._tolerance = timedelta(seconds=tolerance_s)
        self._wall = wall
        self._monotonic = monotonic
        self._synchronised = synchronised
        self._central_time = central_time
        self._lock = threading.Lock()
        self._base: float | None = None  # wall minus monotonic at the previous reading, in s
        self._central: tuple[float, datetime] | None = None  # (monotonic, central time)
        self._pending: ClockJump | None = None  # seen, and not yet confirmed by the central
        self._jumps: deque[ClockJump] = deque(maxlen=JUMPS_KEPT)
        self._last: ClockReading | None = None

    @property
    def tolerance_s(self) -> float:
        return self._tolerance.total_seconds()

    # -- readings ---------------------------------------------------------------------------
    def measure(self, *, ask_central: bool = True) -> ClockReading:
        """Read the kernel's state, look for a jump and (when asked) the central's time."""
        synchronised = self._synchronised()
        mono_before, wall_before = self._monotonic(), self._wall()
        self._note_jump(wall_before, mono_before)
        offset: float | None = None
        problem = ""
        if ask_central and self._central_time is not None:
            try:
                server = self._central_time()
            except CentralError as exc:
                problem = str(exc)[:300]
            else:
                mono_after = self._monotonic()
                # The central read its clock somewhere in the round trip: the middle is the best
                # guess, on both clocks.
                middle = (mono_after - mono_before) / 2
                local = wall_before + timedelta(seconds=middle)
                offset = (local - server).total_seconds()
                with self._lock:
                    self._central = (mono_before + middle, server)
                    if abs(offset) <= self.tolerance_s:
                        self._pending = None  # the central agrees with the present time
        elif ask_central:
            problem = "中央の時刻は未設定 / no central time source"
        with self._lock:
            pending = self._pending
        reasons = []
        if synchronised is not True:
            reasons.append(
                "時刻が NTP で同期されていません / the system clock is not synchronised (NTP)"
                if synchronised is False
                else "時刻の同期状態が分かりません / cannot tell whether the clock is synchronised"
            )
        if offset is not None and abs(offset) > self.tolerance_s:
            reasons.append(
                f"中央サービスと {describe_seconds(offset, 'ja')} ずれています / "
                f"this box is {describe_seconds(offset)} off the central service"
            )
        if pending is not None:
            reasons.append(
                f"時刻が {describe_seconds(pending.seconds, 'ja')} 跳び、"
                "中央でまだ確認できていません / "
                f"the clock jumped {describe_seconds(pending.seconds)} and the central has not "
                "confirmed it yet"
            )
        reading = ClockReading(
            wall_before, synchronised, offset, problem, pending, self.tolerance_s, tuple(reasons)
        )
        with self._lock:
            self._last = reading
        if offset is not None and abs(offset) > self.tolerance_s:
            log.warning(
                "clock is %s off the central service; using the central's time",
                describe_seconds(offset),
            )
        return reading

    def _note_jump(self, wall: datetime, mono: float) -> None:
        base = wall.timestamp() - mono
        with self._lock:
            previous, self._base = self._base, base
            if previous is None or abs(base - previous) <= self.tolerance_s:
                return
            jump = ClockJump(wall, base - previous, mono)
            self._jumps.append(jump)
            self._pending = jump
        log.warning(
            "clock jumped %s against the monotonic clock (now %s); retention purges wait until "
            "the central confirms the time",
            describe_seconds(jump.seconds),
            wall.isoformat(timespec="seconds"),
        )

    def last_reading(self) -> ClockReading | None:
        with self._lock:
            return self._last

    def recent_jumps(self) -> list[ClockJump]:
        """Jumps seen in the last day, newest first."""
        now = self._monotonic()
        with self._lock:
            jumps = list(self._jumps)
        return [j for j in reversed(jumps) if now - j.monotonic <= JUMP_SHOWN_S]

    # -- the time ---------------------------------------------------------------------------
    def now(self) -> datetime:
        """The wall clock while it agrees with the central's time, the central's time otherwise.

        The central's time is carried forward on the monotonic clock from the last measurement,
        so a wall clock that jumps after it is corrected at once, without asking again.
        """
        wall = self._wall()
        with self._lock:
            central = self._central
        if central is None:
            return wall
        elapsed = self._monotonic() - central[0]
        if not 0 <= elapsed <= ESTIMATE_MAX_AGE_S:
            return wall
        estimate = central[1] + timedelta(seconds=elapsed)
        if abs(wall - estimate) <= self._tolerance:
            return wall
        return estimate.astimezone(wall.tzinfo)

    def care_now(self) -> datetime:
        """`now()`, after asking the central's time again when the last answer is not fresh: the
        date of care of a check is never taken from a clock nobody has compared lately."""
        with self._lock:
            central = self._central
        if central is None or not 0 <= self._monotonic() - central[0] <= CARE_FRESH_S:
            self.measure()
        return self.now()
