"""device/clocktrust.py: when the wall clock is trusted, jumps, and the central-confirmed time."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from device.clocktrust import (
    CARE_FRESH_S,
    ESTIMATE_MAX_AGE_S,
    ClockTrust,
    describe_seconds,
    kernel_synchronised,
    terminal_time,
)
from sync.central import CentralUnavailable
from sync.clock import JST
from sync.transport import CentralAnswer, CentralUnreadable
from sync.xmlmsg import QualificationResult

NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)
YEAR = timedelta(days=365)


class Clocks:
    """A wall clock that can be set anywhere, a monotonic clock that only moves on, and a
    central whose clock is the true time."""

    def __init__(self) -> None:
        self.true = NOW
        self.skew = timedelta(0)  # wall minus true
        self.mono = 1000.0
        self.synced: bool | None = True
        self.central_up = True
        self.central_calls = 0

    def wall(self) -> datetime:
        return self.true + self.skew

    def monotonic(self) -> float:
        return self.mono

    def central(self) -> datetime:
        self.central_calls += 1
        if not self.central_up:
            raise CentralUnavailable("中央サービスに接続できません / central service unreachable")
        return self.true

    def elapse(self, seconds: float) -> None:
        self.true += timedelta(seconds=seconds)
        self.mono += seconds

    def trust(self, *, central: bool = True) -> ClockTrust:
        return ClockTrust(
            tolerance_s=30,
            wall=self.wall,
            monotonic=self.monotonic,
            synchronised=lambda: self.synced,
            central_time=self.central if central else None,
        )


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adjtimex is Linux's")
def test_the_kernel_answers_whether_the_clock_is_synchronised() -> None:
    assert kernel_synchronised() in (True, False)


def test_synchronised_and_agreeing_with_the_central_is_trusted(clocks: Clocks) -> None:
    clocks.skew = timedelta(seconds=2)
    reading = clocks.trust().measure()
    assert reading.trusted and reading.reasons == ()
    assert reading.offset_s == pytest.approx(2.0)  # positive: this box is ahead


def test_not_synchronised_is_not_trusted_whatever_the_central_says(clocks: Clocks) -> None:
    clocks.synced = False
    reading = clocks.trust().measure()
    assert not reading.trusted and "not synchronised" in reading.reasons[0]
    clocks.synced = None
    assert "cannot tell" in clocks.trust().measure().reasons[0]


@pytest.mark.parametrize("skew", [YEAR, -YEAR, timedelta(seconds=31), -timedelta(days=1)])
def test_disagreeing_with_the_central_is_not_trusted(clocks: Clocks, skew: timedelta) -> None:
    clocks.skew = skew
    reading = clocks.trust().measure()
    assert not reading.trusted
    assert reading.offset_s == pytest.approx(skew.total_seconds())
    assert "off the central service" in reading.reasons[0]


def test_an_unreachable_central_leaves_the_kernel_to_decide(clocks: Clocks) -> None:
    clocks.central_up = False
    reading = clocks.trust().measure()
    assert reading.trusted and reading.offset_s is None
    assert "unreachable" in reading.central_problem


def test_a_jump_is_seen_logged_and_untrusted_until_the_central_confirms(
    clocks: Clocks, caplog: pytest.LogCaptureFixture
) -> None:
    trust = clocks.trust()
    assert trust.measure().trusted
    clocks.central_up = False
    clocks.elapse(300)
    clocks.skew = YEAR  # someone set the date a year ahead (NTP still claims synchronised)
    with caplog.at_level(logging.WARNING):
        reading = trust.measure()
    assert not reading.trusted and reading.unconfirmed_jump is not None
    assert reading.unconfirmed_jump.seconds == pytest.approx(YEAR.total_seconds())
    assert "clock jumped +365 days" in caplog.text
    assert [j.seconds for j in trust.recent_jumps()] == [pytest.approx(YEAR.total_seconds())]
    clocks.elapse(300)
    assert not trust.measure().trusted  # still unconfirmed: no jump now, but none cleared
    clocks.skew = timedelta(0)  # NTP puts it right: a jump back, and the central agrees
    clocks.central_up = True
    clocks.elapse(300)
    assert trust.measure().trusted
    assert len(trust.recent_jumps()) == 2
    clocks.elapse(ESTIMATE_MAX_AGE_S + 1)
    assert trust.recent_jumps() == []  # shown for a day


def test_small_steps_are_not_jumps(clocks: Clocks) -> None:
    trust = clocks.trust()
    trust.measure()
    clocks.elapse(300)
    clocks.skew = timedelta(seconds=5)
    assert trust.measure().unconfirmed_jump is None and trust.recent_jumps() == []


def test_now_is_the_wall_clock_while_it_agrees(clocks: Clocks) -> None:
    trust = clocks.trust()
    assert trust.now() == clocks.wall()  # nothing measured yet
    clocks.skew = timedelta(seconds=3)
    trust.measure()
    assert trust.now() == clocks.wall()


@pytest.mark.parametrize("skew", [YEAR, -YEAR, -timedelta(days=1)])
def test_now_is_the_central_time_carried_forward_when_the_wall_clock_is_off(
    clocks: Clocks, skew: timedelta
) -> None:
    trust = clocks.trust()
    trust.measure()  # agreed
    clocks.elapse(120)
    clocks.skew = skew  # jumps after the measurement: corrected without asking again
    calls = clocks.central_calls
    assert trust.now() == clocks.true
    clocks.elapse(60)
    assert trust.now() == clocks.true
    assert clocks.central_calls == calls


def test_an_old_central_time_is_not_carried_forward(clocks: Clocks) -> None:
    trust = clocks.trust()
    trust.measure()
    clocks.skew = YEAR
    clocks.elapse(ESTIMATE_MAX_AGE_S + 1)
    assert trust.now() == clocks.wall()


def test_care_now_asks_the_central_when_its_time_is_not_fresh(clocks: Clocks) -> None:
    clocks.skew = -YEAR  # the box starts a year behind
    trust = clocks.trust()
    assert trust.care_now() == clocks.true and clocks.central_calls == 1
    clocks.elapse(CARE_FRESH_S / 2)
    assert trust.care_now() == clocks.true and clocks.central_calls == 1
    clocks.elapse(CARE_FRESH_S)
    assert trust.care_now() == clocks.true and clocks.central_calls == 2


def test_without_a_central_time_source_the_reading_says_so(clocks: Clocks) -> None:
    reading = clocks.trust(central=False).measure()
    assert reading.offset_s is None and "no central time source" in reading.central_problem


def test_describe_seconds() -> None:
    assert describe_seconds(3.04) == "+3.0 s"
    assert describe_seconds(-600) == "-10 min"
    assert describe_seconds(5400) == "+90 min"
    assert describe_seconds(9000) == "+2.5 h"
    assert describe_seconds(-YEAR.total_seconds()) == "-365 days"
    assert describe_seconds(-YEAR.total_seconds(), "ja") == "-365日"


class Terminal(Clocks):
    """Through the terminal's folders: the central's time only as the stamp of its answers."""

    def trust(self, *, central: bool = True) -> ClockTrust:
        return ClockTrust(
            tolerance_s=30,
            wall=self.wall,
            monotonic=self.monotonic,
            synchronised=lambda: self.synced,
            central_time=self.central if central else None,
            observed_fresh_s=3600,
            care_fresh_s=7200,
        )

    def answer(self, round_trip_s: float = 1.0) -> CentralAnswer:
        """An answer received now, stamped (to the second, Japan time) mid-way."""
        stamped = self.true - timedelta(seconds=round_trip_s / 2)
        result = QualificationResult(
            process_time=stamped.astimezone(JST).strftime("%Y%m%d%H%M%S"),
            confirmation_date="20260401",
            medical_institution_code="1312345678",
            file_id="f1",
            reference_classification="2",
            segment_of_result="1",
        )
        return CentralAnswer(result=result, raw=b"", round_trip_s=round_trip_s)


def test_an_answers_stamp_tells_the_time_and_confirms_a_jump_without_asking() -> None:
    terminal = Terminal()
    trust = terminal.trust(central=False)  # answers alone
    trust.observe_answer(terminal.answer())
    assert trust.measure().offset_s == pytest.approx(0.0, abs=1.0)
    terminal.elapse(60)
    terminal.skew = YEAR  # set a year ahead by hand
    reading = trust.measure()
    assert reading.unconfirmed_jump is not None and not reading.trusted
    assert abs(trust.now() - terminal.true) <= timedelta(seconds=1)  # the stamp, carried on
    terminal.elapse(60)
    terminal.skew = timedelta(0)  # NTP puts it right: another jump, unconfirmed so far
    assert not trust.measure().trusted
    terminal.elapse(60)
    trust.observe_answer(terminal.answer())
    assert trust.measure().trusted  # confirmed by the next answer: retention is not held


def test_a_jump_after_the_last_stamp_is_asked_about_through_the_terminal() -> None:
    terminal = Terminal()
    trust = terminal.trust()
    trust.observe_answer(terminal.answer())
    assert trust.measure().trusted and terminal.central_calls == 0  # the stamp stood for it
    assert trust.measure(ask_central=False).offset_s is not None  # the status page's view
    terminal.elapse(60)
    terminal.skew = YEAR
    assert not trust.measure().trusted
    assert terminal.central_calls == 1  # the stamp is older than the jump: asked


def test_through_the_terminal_it_asks_only_when_no_answer_came_for_an_hour() -> None:
    terminal = Terminal()
    trust = terminal.trust()
    trust.observe_answer(terminal.answer())
    terminal.elapse(3000)
    assert trust.measure().trusted and terminal.central_calls == 0
    terminal.elapse(700)
    assert trust.measure().trusted and terminal.central_calls == 1


def test_a_slow_or_unstamped_answer_tells_nothing() -> None:
    terminal = Terminal()
    trust = terminal.trust(central=False)
    trust.observe_answer(terminal.answer(round_trip_s=45))  # slower than the tolerance
    assert trust.measure().offset_s is None
    unstamped = replace(
        terminal.answer(), result=replace(terminal.answer().result, process_time="")
    )
    trust.observe_answer(unstamped)
    assert trust.measure().offset_s is None
    terminal.skew = timedelta(minutes=5)
    trust.measure()  # sees the jump: only a later answer speaks of it
    terminal.elapse(1)
    trust.observe_answer(terminal.answer())
    reading = trust.measure()
    assert reading.offset_s == pytest.approx(300, abs=1) and not reading.trusted


def test_the_terminals_time_is_the_stamp_of_a_harmless_answer() -> None:
    terminal = Terminal()
    assert abs(terminal_time(terminal.answer) - terminal.true) <= timedelta(seconds=1)
    bad = replace(terminal.answer(), result=replace(terminal.answer().result, process_time="x"))
    with pytest.raises(CentralUnreadable):
        terminal_time(lambda: bad)
