"""The sandbox's switches for the simulated central (demo only), with a fake simulator control."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from device.central_sandbox import SimCentralState, SimControlError, SimMode
from sync.store import Store
from web.present import STRINGS

from .test_web import FakeSandbox, build, csrf_of, store

__all__ = ["store"]

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


class FakeCentral:
    """Stands in for `onshi sim control`: remembers the switches it was given."""

    instances: list[FakeCentral] = []

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.switches: list[tuple[SimMode, dict[str, Any]]] = []
        self.reachable = True
        self.current = SimCentralState(SimMode.NORMAL, False, 2.0, 30.0, False, False, 0)
        FakeCentral.instances.append(self)

    def state(self) -> SimCentralState:
        if not self.reachable:
            raise SimControlError("no simulator")
        return self.current

    def switch(self, mode: SimMode, **settings: Any) -> SimCentralState:
        if not self.reachable:
            raise SimControlError("no simulator")
        self.switches.append((mode, settings))
        self.current = SimCentralState(
            mode,
            mode in (SimMode.DOWN, SimMode.FLAPPING),
            settings["slow_s"],
            settings["flap_s"],
            settings["changed_after_recovery"],
            False,
            0,
        )
        return self.current


@pytest.fixture
def central(monkeypatch: pytest.MonkeyPatch) -> FakeCentral:
    FakeCentral.instances = []
    monkeypatch.setattr("web.sandbox.CentralSandbox", FakeCentral)
    return FakeCentral(Path("unused"))


def staff_page(tmp_path: Path, store: Store) -> tuple[Any, FakeCentral, dict[str, str]]:
    site = build(tmp_path, store, sandbox=FakeSandbox(), demo=True)
    staff = site.signed_in()
    sim = FakeCentral.instances[-1]
    assert sim.data_dir == site.config.demo_data  # where `onshi sim central` keeps its data
    return staff, sim, {"csrf_token": csrf_of(staff)}


@pytest.mark.parametrize("mode", list(SimMode), ids=str)
def test_every_mode_has_words_in_both_languages(mode: SimMode) -> None:
    for key in (f"sim_mode_{mode.value}", f"sim_switch_{mode.value}"):
        ja, en = STRINGS[key]
        assert _JAPANESE.search(ja) and en and not _JAPANESE.search(en), key


def test_the_page_shows_the_mode_and_a_button_per_mode(
    tmp_path: Path, store: Store, central: FakeCentral
) -> None:
    staff, sim, _ = staff_page(tmp_path, store)
    page = staff.get("/sandbox").get_data(as_text=True)
    assert 'data-mode="normal"' in page
    assert "通常" in page
    for mode in SimMode:
        assert f'data-sim-mode="{mode.value}"' in page
    english = staff.get("/sandbox?lang=en").get_data(as_text=True)
    assert "Simulated central service" in english
    assert "Normal" in english


def test_a_button_switches_the_simulator_with_the_forms_settings(
    tmp_path: Path, store: Store, central: FakeCentral
) -> None:
    staff, sim, csrf = staff_page(tmp_path, store)
    r = staff.post(
        "/sandbox/central",
        data={**csrf, "mode": "slow", "slow_s": "4.5", "flap_s": "20"},
    )
    assert r.status_code == 303
    assert sim.switches == [
        (SimMode.SLOW, {"slow_s": 4.5, "flap_s": 20.0, "changed_after_recovery": False})
    ]
    staff.post(
        "/sandbox/central",
        data={
            **csrf,
            "mode": "down",
            "slow_s": "2",
            "flap_s": "30",
            "changed_after_recovery": "on",
        },
    )
    assert sim.switches[-1][0] is SimMode.DOWN
    assert sim.switches[-1][1]["changed_after_recovery"] is True
    page = staff.get("/sandbox").get_data(as_text=True)
    assert 'data-mode="down"' in page and 'data-down="true"' in page
    assert "停止中" in page
    assert "P001・P004・P008" in page  # what will change when it recovers


@pytest.mark.parametrize(
    "form",
    [
        {"mode": "sideways", "slow_s": "2", "flap_s": "30"},
        {"slow_s": "2", "flap_s": "30"},
        {"mode": "slow", "slow_s": "two", "flap_s": "30"},
        {"mode": "slow", "slow_s": "-1", "flap_s": "30"},
        {"mode": "slow", "slow_s": "nan", "flap_s": "30"},
        {"mode": "slow", "slow_s": "601", "flap_s": "30"},
        {"mode": "flapping", "slow_s": "2", "flap_s": "0"},
        {"mode": "flapping", "slow_s": "2", "flap_s": "inf"},
    ],
)
def test_bad_input_changes_nothing(
    tmp_path: Path, store: Store, central: FakeCentral, form: dict[str, str]
) -> None:
    staff, sim, csrf = staff_page(tmp_path, store)
    assert staff.post("/sandbox/central", data={**csrf, **form}).status_code == 400
    assert sim.switches == []


def test_without_the_session_token_nothing_is_switched(
    tmp_path: Path, store: Store, central: FakeCentral
) -> None:
    staff, sim, _ = staff_page(tmp_path, store)
    r = staff.post("/sandbox/central", data={"mode": "down", "slow_s": "2", "flap_s": "30"})
    assert r.status_code == 403
    assert sim.switches == []


def test_an_unreachable_simulator_says_what_to_do(
    tmp_path: Path, store: Store, central: FakeCentral
) -> None:
    staff, sim, csrf = staff_page(tmp_path, store)
    sim.reachable = False
    page = staff.get("/sandbox")
    assert page.status_code == 200  # the card sandbox still works
    assert "onshi demo" in page.get_data(as_text=True)
    r = staff.post("/sandbox/central", data={**csrf, "mode": "down", "slow_s": "2", "flap_s": "30"})
    assert r.status_code == 502
    assert 'id="sim-central-error"' in r.get_data(as_text=True)


def test_not_offered_outside_the_demo(tmp_path: Path, store: Store, central: FakeCentral) -> None:
    staff = build(tmp_path, store, sandbox=FakeSandbox(), demo=False).signed_in()
    r = staff.post("/sandbox/central", data={"mode": "down", "slow_s": "2", "flap_s": "30"})
    assert r.status_code in (403, 404)
    assert all(not s.switches for s in FakeCentral.instances)
