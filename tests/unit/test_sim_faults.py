"""The simulated central's failure modes (sim/central/faults.py), on a clock the test moves."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sim.central.app import CONTROL_PATH, create_control_app
from sim.central.changes import MOVED_TO, NEW_NUMBER, NEW_SYMBOL
from sim.central.faults import Faults, FaultSettings, FlapSchedule, Mode, SettingError
from sim.central.service import CentralService
from sim.cli import _fault_changes, _parser
from sim.people import KYOKAI
from sim.population import person
from sync.xmlmsg import QualificationRequest, QualificationResult, SearchInfo, build_request
from sync.xmlmsg import parse_result as parse

MIC = "1312345670"
# 2026-04-01 09:30 in Japan: an outage that starts here makes 20260401 "the day it began".
START = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def pki(pki_at: Any) -> Any:
    """The test PKI as built at START: the simulator's clock starts there, not today."""
    return pki_at(START)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- switching ---------------------------------------------------------------------------


def test_normal_is_up_at_once(clock: FakeClock) -> None:
    faults = Faults(clock)
    assert not faults.down()
    assert faults.delay_s() == 0.0
    assert faults.status().recoveries == 0


def test_down_until_switched_back_and_the_recovery_is_counted(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.DOWN))
    clock.advance(3600)
    assert faults.down()
    status = faults.switch(mode="normal")
    assert not status.down
    assert status.recoveries == 1
    assert status.since == clock.now
    assert not faults.down()


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "sideways"},
        {"slow_s": -1.0},
        {"slow_s": 601.0},
        {"slow_s": float("nan")},
        {"flap_s": 0.0},
        {"flap_s": float("inf")},
        {"colour": "red"},
    ],
)
def test_a_wrong_switch_changes_nothing(clock: FakeClock, changes: dict[str, Any]) -> None:
    faults = Faults(clock, FaultSettings(Mode.SLOW, slow_s=3.0))
    before = faults.status()
    with pytest.raises(SettingError):
        faults.switch(**changes)
    assert faults.status() == before


def test_slow_delays_each_request_by_its_setting(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.SLOW, slow_s=2.5))
    assert faults.delay_s() == 2.5
    assert not faults.down()
    faults.switch(slow_s=0.5)
    assert faults.delay_s() == 0.5
    faults.switch(mode="normal")
    assert faults.delay_s() == 0.0


def test_a_held_request_goes_on_when_slow_mode_ends(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.SLOW, slow_s=600.0))
    held = threading.Thread(target=faults.hold)
    held.start()
    faults.switch(mode="normal")
    held.join(timeout=30)
    assert not held.is_alive()


def test_closing_releases_held_requests(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.SLOW, slow_s=600.0))
    held = threading.Thread(target=faults.hold)
    held.start()
    faults.close()
    held.join(timeout=30)
    assert not held.is_alive()


# -- flapping ----------------------------------------------------------------------------


def test_flapping_alternates_every_flap_s_of_the_clock_starting_down(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.FLAPPING, flap_s=30.0))
    seen = []
    for _ in range(8):
        seen.append(faults.down())
        clock.advance(15)
    assert seen == [True, True, False, False, True, True, False, False]
    assert faults.status().recoveries == 2


def test_flapping_reports_when_it_turns_next(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.FLAPPING, flap_s=30.0))
    clock.advance(10)
    assert faults.status().next_change == START + timedelta(seconds=30)


def test_a_clock_jump_over_several_phases_counts_every_recovery(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.FLAPPING, flap_s=30.0))
    assert faults.down()
    clock.advance(30 * 5 + 1)  # phases 0 (down) … 5 (up): three down phases ended
    assert not faults.down()
    assert faults.status().recoveries == 3


def transitions(seed: int | None, flap_s: float = 10.0, phases: int = 12) -> list[float]:
    schedule = FlapSchedule(START, flap_s, seed)
    ends = []
    now = START
    for _ in range(phases):
        index, end = schedule.phase(now)
        ends.append((end - START).total_seconds())
        now = end
    return ends


def test_a_seed_gives_the_same_irregular_phases_every_time() -> None:
    first = transitions(seed=7)
    assert first == transitions(seed=7)
    assert first != transitions(seed=8)
    lengths = [b - a for a, b in zip([0.0, *first], first, strict=False)]
    assert all(5.0 <= length <= 15.0 for length in lengths)
    assert len(set(lengths)) > 1
    assert transitions(seed=None) == [10.0 * (i + 1) for i in range(12)]


def test_a_seeded_flapping_service_follows_its_schedule(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.FLAPPING, flap_s=10.0, flap_seed=7))
    ends = transitions(seed=7)
    for index, end in enumerate(ends[:6]):
        assert faults.down() is (index % 2 == 0)
        clock.now = START + timedelta(seconds=end - 0.001)
        assert faults.down() is (index % 2 == 0)
        clock.now = START + timedelta(seconds=end)


def test_switching_to_flapping_restarts_its_schedule(clock: FakeClock) -> None:
    faults = Faults(clock, FaultSettings(Mode.FLAPPING, flap_s=30.0))
    clock.advance(45)
    assert not faults.down()
    faults.switch(mode="normal")
    clock.advance(100)
    assert faults.switch(mode="flapping").down  # starts with a down phase


# -- answers changed after recovery ------------------------------------------------------


def ask(service: CentralService, pid: str, file_id: str) -> QualificationResult:
    p = person(pid)
    request = QualificationRequest(
        medical_institution_code=MIC,
        confirmation_date="20260401",
        file_id=file_id,
        reference_classification="2",
        search=SearchInfo(p.insurer_number, p.number, p.birthdate, symbol=p.symbol),
    )
    return parse(service.qualify(build_request(request), MIC).body)


def outage(service: CentralService, clock: FakeClock) -> None:
    service.faults.switch(mode="down")
    clock.advance(4 * 3600)
    service.faults.switch(mode="normal")


def test_answers_change_after_the_first_recovery_only_when_asked(
    pki: Any, clock: FakeClock
) -> None:
    plain = CentralService(pki, clock=clock)
    outage(plain, clock)
    assert ask(plain, "P001", "a1").validity == "1"
    assert not plain.faults.status().answers_changed


def test_the_documented_answers_change_after_recovery(pki: Any, clock: FakeClock) -> None:
    service = CentralService(pki, clock=clock, faults=FaultSettings(changed_after_recovery=True))
    before = {pid: ask(service, pid, f"b{pid}") for pid in ("P001", "P004", "P008", "P002")}
    assert before["P001"].validity == "1"
    assert before["P004"].results[0].contribution_ratio == "020"
    assert before["P008"].validity == "1"

    service.faults.switch(mode="down")
    clock.advance(3600)
    assert ask(service, "P001", "d1").validity == "1"  # nothing changes while down
    clock.advance(3600)
    assert service.faults.switch(mode="normal").answers_changed

    lost = ask(service, "P001", "c1")
    assert lost.validity == "2"
    assert lost.results[0].disqualification_date == "20260401"  # the day the outage began
    ratio = ask(service, "P004", "c4")
    assert ratio.validity == "1"
    assert ratio.results[0].contribution_ratio == "030"
    moved = ask(service, "P008", "c8")
    assert moved.validity == "3"
    newer = moved.results[0]
    assert (newer.insurer_number, newer.symbol, newer.number) == (
        KYOKAI.number,
        NEW_SYMBOL,
        NEW_NUMBER,
    )
    assert newer.qualification_date == "20260401"
    unchanged = ask(service, "P002", "c2")
    assert (unchanged.validity, unchanged.results) == (
        before["P002"].validity,
        before["P002"].results,
    )
    assert MOVED_TO in {p.id for p in service.people}


def test_answers_change_once_and_stay_changed(pki: Any, clock: FakeClock) -> None:
    service = CentralService(
        pki,
        clock=clock,
        faults=FaultSettings(Mode.FLAPPING, flap_s=60.0, changed_after_recovery=True),
    )
    clock.advance(61)
    assert not service.faults.down()
    first = ask(service, "P001", "f1").results[0].disqualification_date
    clock.advance(3600 * 3)  # more down phases end
    service.faults.down()
    assert service.faults.status().recoveries > 1
    assert ask(service, "P001", "f2").results[0].disqualification_date == first
    assert [p.id for p in service.people].count(MOVED_TO) == 1


# -- the control surface -----------------------------------------------------------------


def test_control_endpoint_reads_and_switches(clock: FakeClock) -> None:
    faults = Faults(clock)
    client = create_control_app(faults).test_client()
    assert client.get(CONTROL_PATH).get_json()["mode"] == "normal"
    answer = client.post(CONTROL_PATH, json={"mode": "slow", "slow_s": 4})
    assert answer.status_code == 200
    assert answer.get_json()["slow_s"] == 4.0
    assert faults.delay_s() == 4.0
    state = client.post(
        CONTROL_PATH, json={"mode": "flapping", "flap_s": 5, "flap_seed": 3}
    ).get_json()
    assert state["down"] is True
    assert state["next_change"] is not None


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "sideways"},
        {"slow_s": True},
        {"slow_s": "2"},
        {"flap_seed": 1.5},
        {"changed_after_recovery": 1},
        {"extra": 1},
        [1, 2],
    ],
)
def test_control_endpoint_refuses_wrong_values_and_changes_nothing(
    clock: FakeClock, body: Any
) -> None:
    faults = Faults(clock)
    client = create_control_app(faults).test_client()
    answer = client.post(CONTROL_PATH, json=body)
    assert answer.status_code == 400
    assert answer.get_json()["error"]
    assert faults.settings == FaultSettings()


def test_cli_flags_give_the_starting_mode() -> None:
    args = _parser().parse_args(
        ["central", "--mode", "flapping", "--slow-s", "2", "--flap-s", "30"]
        + ["--flap-seed", "9", "--changed-after-recovery"]
    )
    settings = FaultSettings(
        Mode(args.mode), args.slow_s, args.flap_s, args.flap_seed, args.changed_after_recovery
    )
    assert settings == FaultSettings(Mode.FLAPPING, 2.0, 30.0, 9, True)
    assert _parser().parse_args(["central"]).mode == "normal"


def test_cli_control_sends_only_what_was_given() -> None:
    assert _fault_changes(_parser().parse_args(["control"])) == {}
    args = _parser().parse_args(["control", "--mode", "down", "--no-changed-after-recovery"])
    assert _fault_changes(args) == {"mode": "down", "changed_after_recovery": False}
