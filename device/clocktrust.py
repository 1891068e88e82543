"""Whether the appliance may believe its wall clock, and its best knowledge of the time.

A Raspberry Pi has no battery clock: it boots at the time it last saved and waits for NTP, and an
admin can set any date by hand. Deleting personal data by age, dating a check of care and stamping
stored answers all read the clock, so a wrong clock loses data or sends last year's date.

The wall clock is *trusted* when all of these hold:
- the kernel says it is synchronised (``adjtimex``; see `kernel_synchronised`);
- when the central's time is known, the two agree within `tolerance_s`;
- no jump of the wall clock against the monotonic clock (larger than `tolerance_s`) has been seen
  since the central last confirmed the time.

Where the central's time comes from: over HTTPS, GET /v1/time at every measurement. Through the
official terminal's folders there is no time call, but every answer is stamped by the national
system (ProcessExecutionTime, to the second): each answer the box receives is an observation
(`observe`, fed by device.confirm.Confirmations), taken with the middle of its round trip; a
measurement uses one younger than `observed_fresh_s` and asks (`central_time`: a harmless request
through the terminal) only when there is none. So a jump of the clock is confirmed or corrected
by the next answer, not held until a restart.

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
from sync.clock import JST, utc_now
from sync.transport import CentralAnswer, CentralUnreadable

log = logging.getLogger(__name__)

TIME_ERROR = 5  # adjtimex() return value: the clock is not synchronised
STA_UNSYNC = 0x0040  # timex.status bit: no NTP discipline
MAXERROR_UNSYNCED_US = 16_000_000  # the kernel's "maximum error" at which systemd gives up too
JUMPS_KEPT = 20
JUMP_SHOWN_S = 24 * 3600.0  # a jump stays on the status page this long (monotonic time)
ESTIMATE_MAX_AGE_S = 24 * 3600.0  # older central time is not carried forward (monotonic drift)
CARE_FRESH_S = 600.0  # the date of care asks the central again when its time is older
# Through the terminal an answer's stamp this young stands for asking (one harmless request an
# hour at most, on a quiet day; a busy desk's answers keep it fresh).
TERMINAL_TIME_FRESH_S = 3600.0
STAMP_RESOLUTION_S = 0.5  # ProcessExecutionTime is cut to the second: its middle


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


def stamped_instant(process_time: str) -> datetime:
    """An answer's ProcessExecutionTime (YYYYMMDDHHmmss, Japan time) as an instant, at the
    middle of its second. ValueError when it is not one."""
    stamped = datetime.strptime(process_time, "%Y%m%d%H%M%S").replace(tzinfo=JST)
    return stamped + timedelta(seconds=STAMP_RESOLUTION_S)


def terminal_time(ask: Callable[[], CentralAnswer]) -> datetime:
    """The central's time through the terminal's folders: the stamp of the answer `ask` gets
    (a harmless request); CentralUnreadable when it carries none."""
    try:
        return stamped_instant(ask().result.process_time)
    except ValueError as exc:
        raise CentralUnreadable("ProcessExecutionTime is not a time") from exc


class ClockTrust:
    def __init__(
        self,
        *,
        tolerance_s: float,
        wall: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        synchronised: Callable[[], bool | None] = kernel_synchronised,
        central_time: Callable[[], datetime] | None = None,
        observed_fresh_s: float = 0.0,
        care_fresh_s: float = CARE_FRESH_S,
    ) -> None:
        """`observed_fresh_s`: an observation of the central's time (`observe`) this young is
        used instead of asking `central_time` (0: always ask). `care_fresh_s`: how old the
        central's time may be when a date of care is stamped before it is asked again."""
        self._tolerance = timedelta(seconds=tolerance_s)
        self._observed_fresh_s = observed_fresh_s
        self._care_fresh_s = care_fresh_s
        self._wall = wall
        self._monotonic = monotonic
        self._synchronised = synchronised
        self._central_time = central_time
        self._lock = threading.Lock()
        self._base: float | None = None  # wall minus monotonic at the previous reading, in s
        self._central: tuple[float, datetime] | None = None  # (monotonic, central time)
        self._offset: tuple[float, float] | None = None  # (monotonic, this box minus central)
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
        observed = self._fresh_offset(mono_before)  # costs nothing: taken even unasked
        if observed is not None:
            offset = observed
        elif ask_central and self._central_time is not None:
            try:
                server = self._central_time()
            except CentralError as exc:
                problem = str(exc)[:300]
            else:
                mono_after = self._monotonic()
                # The central read its clock somewhere in the round trip: the middle is the best
                # guess, on both clocks.
                middle = (mono_after - mono_before) / 2
                offset = self._record(
                    mono_before + middle, wall_before + timedelta(seconds=middle), server
                )
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

    def observe(self, central: datetime, round_trip_s: float) -> None:
        """The central's time as stamped on an answer just received (ProcessExecutionTime),
        `round_trip_s` after its request was sent. An answer slower than the tolerance cannot
        tell the time that closely and is not taken."""
        if not 0 <= round_trip_s <= self.tolerance_s:
            return
        mono, wall = self._monotonic(), self._wall()
        half = round_trip_s / 2
        self._record(mono - half, wall - timedelta(seconds=half), central, seen=mono)

    def observe_answer(self, answer: CentralAnswer) -> None:
        """`observe` with an answer's stamp; an answer without a usable one tells nothing."""
        try:
            central = stamped_instant(answer.result.process_time)
        except ValueError:
            return
        self.observe(central, answer.round_trip_s)

    def _record(
        self, mono: float, local: datetime, central: datetime, *, seen: float | None = None
    ) -> float:
        """The central's time `central` at `mono` (monotonic), when this box read `local`:
        kept for `now`, and a jump it agrees with is confirmed. `seen`: when it was learnt,
        if later than `mono`. Returns the offset."""
        offset = (local - central).total_seconds()
        with self._lock:
            self._central = (mono, central)
            self._offset = (mono if seen is None else seen, offset)
            if abs(offset) <= self.tolerance_s:
                self._pending = None  # the central agrees with the present time
        return offset

    def _fresh_offset(self, mono: float) -> float | None:
        """The offset last observed, when younger than `observed_fresh_s` and later than any
        unconfirmed jump (a jump after it is not answered by it)."""
        with self._lock:
            observed, pending = self._offset, self._pending
        if observed is None or not 0 <= mono - observed[0] <= self._observed_fresh_s:
            return None
        if pending is not None and pending.monotonic >= observed[0]:
            return None
        return observed[1]

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
        if central is None or not 0 <= self._monotonic() - central[0] <= self._care_fresh_s:
            self.measure()
        return self.now()
