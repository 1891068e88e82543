"""Kiosk consent and call-for-staff, and reception's 目視確認, through the Flask test client."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from device.events import (
    ConfirmationStored,
    ConsentRequested,
    StaffHelpRequested,
    VisitAnswered,
    VisualCheckChosen,
)
from device.flow import ActiveVisit, VisitState
from device.inputs import ConsentChoice
from sync.xmlmsg import ConsentState
from web.kiosk import kiosk_initial, kiosk_wire
from web.present import consent_text
from web.reception import staff_wire

from .test_web import STAFF_USER, Setup, csrf_of, qualification, setup, staff, store

__all__ = ["setup", "staff", "store"]  # fixtures used here, defined beside the other web tests

STARTED = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)


def waiting_visit(setup: Setup, state: VisitState, **kw: Any) -> ActiveVisit:
    visit = ActiveVisit("ab12", "Virtual PCD 00 00", STARTED, state=state, **kw)
    setup.flow.current = visit
    return visit


class Recorder:
    """Stands in for VisitFlow's people-facing methods."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.calls: list[tuple[str, ...]] = []

    def switch_to_visual(self, visit_id: str, staff: str) -> bool:
        self.calls.append(("visual", visit_id, staff))
        return self.accept

    def ask_staff(self, visit_id: str) -> bool:
        self.calls.append(("ask_staff", visit_id))
        return self.accept


def attach(setup: Setup, accept: bool) -> Recorder:
    recorder = Recorder(accept)
    setup.flow.switch_to_visual = recorder.switch_to_visual  # type: ignore[attr-defined]
    setup.flow.ask_staff = recorder.ask_staff  # type: ignore[attr-defined]
    return recorder


# -- kiosk: consent ------------------------------------------------------------------------
def test_consent_answers_reach_the_waiting_visit(setup: Setup) -> None:
    visit = waiting_visit(setup, VisitState.AWAITING_CONSENT, consent_kinds=("drug", "checkup"))
    got: list[object] = []
    waiter = threading.Thread(
        target=lambda: got.append(setup.flow.inputs.wait(visit, "consent", 5))
    )
    waiter.start()
    client = setup.kiosk.test_client()
    deadline = time.monotonic() + 5
    while setup.flow.inputs.waiting_step("ab12") != "consent" and time.monotonic() < deadline:
        time.sleep(0.01)
    r = client.post(
        "/consent", json={"visit_id": "ab12", "answers": {"checkup": False, "drug": True}}
    )
    waiter.join(5)
    assert r.status_code == 202
    # In the order the clinic asks, whatever order the page sent.
    assert got == [ConsentChoice((("drug", True), ("checkup", False)))]


@pytest.mark.parametrize(
    "answers",
    [
        {"drug": True},  # a kind left unanswered
        {"drug": True, "checkup": True, "surgery": True},  # a kind not asked
        {"drug": "yes", "checkup": True},  # not a yes/no
        ["drug"],
    ],
)
def test_malformed_consent_is_refused_and_changes_nothing(setup: Setup, answers: Any) -> None:
    waiting_visit(setup, VisitState.AWAITING_CONSENT, consent_kinds=("drug", "checkup"))
    r = setup.kiosk.test_client().post("/consent", json={"visit_id": "ab12", "answers": answers})
    assert r.status_code == 400


def test_consent_for_another_visit_or_nobody_waiting_is_409(setup: Setup) -> None:
    client = setup.kiosk.test_client()
    answers = {"drug": True, "checkup": True}
    assert client.post("/consent", json={"visit_id": "ab12", "answers": answers}).status_code == 409
    waiting_visit(setup, VisitState.AWAITING_CONSENT, consent_kinds=("drug", "checkup"))
    assert client.post("/consent", json={"visit_id": "cd34", "answers": answers}).status_code == 409
    # The right visit, but its flow is not waiting for consent (real VisitInputs): 409.
    assert client.post("/consent", json={"visit_id": "ab12", "answers": answers}).status_code == 409


def test_consent_must_be_json(setup: Setup) -> None:
    waiting_visit(setup, VisitState.AWAITING_CONSENT, consent_kinds=("drug",))
    r = setup.kiosk.test_client().post("/consent", data={"visit_id": "ab12", "drug": "1"})
    assert r.status_code == 415


# -- kiosk: asking for staff ------------------------------------------------------------------
@pytest.mark.parametrize(("accept", "status"), [(True, 202), (False, 409)])
def test_ask_staff(setup: Setup, accept: bool, status: int) -> None:
    recorder = attach(setup, accept)
    r = setup.kiosk.test_client().post("/ask-staff", json={"visit_id": "ab12"})
    assert r.status_code == status
    assert recorder.calls == [("ask_staff", "ab12")]


def test_ask_staff_with_a_bad_visit_id_never_reaches_the_flow(setup: Setup) -> None:
    recorder = attach(setup, True)
    r = setup.kiosk.test_client().post("/ask-staff", json={"visit_id": "<script>"})
    assert r.status_code == 400 and recorder.calls == []


def test_a_reloaded_kiosk_resumes_at_the_consent_screen(setup: Setup) -> None:
    waiting_visit(setup, VisitState.AWAITING_CONSENT, consent_kinds=("drug",))
    wire = kiosk_initial(setup.services)
    assert wire[0] == (
        "state",
        {"visit_id": "ab12", "state": "awaiting_consent", "screen": "consent"},
    )
    assert wire[1] == ("consent_requested", {"visit_id": "ab12", "kinds": ["drug"]})


def test_wire_names_for_the_new_steps() -> None:
    assert kiosk_wire(ConsentRequested("ab12", ("drug", "checkup")), "ja") == (
        "consent_requested",
        {"visit_id": "ab12", "kinds": ["drug", "checkup"]},
    )
    assert kiosk_wire(StaffHelpRequested("ab12"), "ja") == (
        "staff_help_requested",
        {"visit_id": "ab12"},
    )
    assert staff_wire(VisualCheckChosen("ab12", "uketsuke"), "ja") == (
        "visual_check_chosen",
        {"visit_id": "ab12", "staff": "uketsuke"},
    )
    # A check typed at reception stores an answer with no visit: no kiosk screen changes.
    assert kiosk_wire(ConfirmationStored(7, None), "ja") is None
    # A card visit's screen follows what its answer says (VisitAnswered), not the desk's event.
    assert kiosk_wire(ConfirmationStored(7, "ab12"), "ja") is None
    assert kiosk_wire(VisitAnswered("ab12", "VALID"), "ja") == (
        "done",
        {"visit_id": "ab12", "desk": False},
    )
    # Reception learns that the patient is answering from the state change, not the kinds.
    assert staff_wire(ConsentRequested("ab12", ("drug",)), "ja") is None


# -- reception: 目視確認 --------------------------------------------------------------------
def test_visual_check_records_the_signed_in_user(setup: Setup, staff: Any) -> None:
    waiting_visit(setup, VisitState.PIN_BLOCKED)
    recorder = attach(setup, True)
    token = csrf_of(staff)
    # Asked once: nothing changes until the clerk says they checked the photo.
    r = staff.post("/api/visits/ab12/visual", headers={"X-CSRF-Token": token}, json={})
    assert r.status_code == 422 and recorder.calls == []
    assert "写真" in r.get_json()["message"] or "本人" in r.get_json()["message"]
    r = staff.post(
        "/api/visits/ab12/visual", headers={"X-CSRF-Token": token}, json={"confirmed": True}
    )
    assert r.status_code == 202
    assert recorder.calls == [("visual", "ab12", STAFF_USER)]
    assert r.get_json()["staff"] == setup.services.store.user_by_username(STAFF_USER).display_name
    last = setup.services.store.audit_entries(1)[0]
    assert (last.action, last.subject) == ("visit.visual_confirmed", "visit:ab12")
    assert last.detail == r.get_json()["staff"]


def test_visual_check_without_csrf_is_refused_before_the_flow(setup: Setup, staff: Any) -> None:
    recorder = attach(setup, True)
    assert staff.post("/api/visits/ab12/visual").status_code == 403
    assert recorder.calls == []


def test_visual_check_of_a_visit_that_moved_on_is_409(setup: Setup, staff: Any) -> None:
    attach(setup, False)
    r = staff.post(
        "/api/visits/ab12/visual",
        headers={"X-CSRF-Token": csrf_of(staff)},
        json={"confirmed": True},
    )
    assert r.status_code == 409


def test_visual_check_with_a_malformed_id_is_404(setup: Setup, staff: Any) -> None:
    recorder = attach(setup, True)
    r = staff.post("/api/visits/AB-12/visual", headers={"X-CSRF-Token": csrf_of(staff)})
    assert r.status_code == 404 and recorder.calls == []


def test_visual_check_needs_a_signed_in_user(setup: Setup) -> None:
    recorder = attach(setup, True)
    r = setup.staff.test_client().post("/api/visits/ab12/visual")
    assert r.status_code in (401, 403) and recorder.calls == []


def test_the_desk_offers_the_visual_check_while_a_visit_waits(setup: Setup, staff: Any) -> None:
    waiting_visit(setup, VisitState.AWAITING_STAFF)
    html = staff.get("/").get_data(as_text=True)
    assert 'id="visual-check"' in html and 'data-visit-id="ab12"' in html
    button = html.split('id="visual-check"', 1)[1].split(">", 1)[0]
    assert " hidden" not in button
    assert "職員の確認を希望" in html
    setup.flow.current = None
    idle = staff.get("/").get_data(as_text=True)
    assert " hidden" in idle.split('id="visual-check"', 1)[1].split(">", 1)[0]


# -- how consent reads on the desk -----------------------------------------------------------
def test_consent_text_shows_each_kind_and_its_expiry() -> None:
    q = qualification(
        consents=(
            ConsentState("drug", "1", "20260401103000", "20260402103000"),
            ConsentState("checkup", "0", "20260401103000", ""),
        )
    )
    assert consent_text(q, "ja") == "薬剤情報 ✓〜04/02 10:30 ・ 特定健診情報 ✗"
    assert consent_text(q, "en").startswith("drug information ✓")
    assert consent_text(None, "ja") == ""
