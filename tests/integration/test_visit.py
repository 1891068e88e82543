"""Whole card visits: real pcscd + vpcd, the emulated JPKI card, the simulated central (mTLS)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from device.events import (
    CardGraceOver,
    ConfirmationStored,
    ConsentRequested,
    PinBlocked,
    PinRequested,
    StaffHelpRequested,
    VisitAborted,
    VisitAnswered,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
    VisualCheckChosen,
)
from device.flow import VisitState
from device.inputs import ConsentChoice
from sim.population import Person, population
from sync.codes import Verdict as Badge

from .conftest import Desk

pytestmark = pytest.mark.stack


def who(predicate: Callable[[Person], bool]) -> Person:
    return next(p for p in population() if predicate(p))


def valid_person() -> Person:
    return who(
        lambda p: (
            p.validity == "1"
            and p.card_status == "valid"
            and p.registered
            and p.pin_tries_left == 3
            and not p.duplicate_of
        )
    )


def pin_visit(desk: Desk, person: Person, pin: str | None = None) -> Any:
    desk.place(person.id)
    request = desk.expect(PinRequested)
    assert desk.inputs.submit(request.visit_id, pin or person.pin)
    return desk.finish()


def test_valid_card_visit_ends_with_the_answer_stored_and_shown(desk: Desk) -> None:
    person = valid_person()
    outcome = pin_visit(desk, person)
    assert outcome.state is VisitState.DONE
    stored = desk.expect(ConfirmationStored)
    confirmation = desk.store.confirmation(stored.confirmation_id)
    assert confirmation is not None and confirmation.badge == Badge.VALID.name
    qualification = confirmation.result.results[0]
    assert qualification.name == person.name
    assert qualification.name_kana == person.name_kana
    assert confirmation.method == "pin"
    # The minimum APDU sequence: SELECT AP, SELECT 000A, READs, SELECT 0018, VERIFY ×2,
    # SELECT 0017, SIGN — no second SELECT of anything.
    reads = outcome.timings.apdus - 7
    assert 1 <= reads <= 8, outcome.timings


def test_wrong_pin_then_right_pin(desk: Desk) -> None:
    person = valid_person()
    desk.place(person.id)
    first = desk.expect(PinRequested)
    assert first.tries_left == 3 and not first.wrong_pin
    wrong = "0000" if person.pin != "0000" else "1111"
    assert desk.inputs.submit(first.visit_id, wrong)
    second = desk.expect(PinRequested)
    assert second.tries_left == 2 and second.wrong_pin
    assert desk.inputs.submit(second.visit_id, person.pin)
    assert desk.finish().state is VisitState.DONE


def test_one_try_left_is_announced_and_nothing_is_retried(desk: Desk) -> None:
    person = who(lambda p: p.pin_tries_left == 1)
    card = desk.place(person.id)
    request = desk.expect(PinRequested)
    assert request.tries_left == 1
    # The flow waits for the patient: no VERIFY with a PIN reaches the card on its own.
    assert desk.flow.current is not None
    assert desk.flow.current.state is VisitState.AWAITING_PIN
    desk.remove(card)
    aborted = desk.expect(VisitAborted)
    assert aborted.reason == "card_removed"
    assert desk.store.count_confirmations() == 0


def test_blocked_card_tells_the_patient_and_stores_nothing_when_taken(desk: Desk) -> None:
    person = who(lambda p: p.pin_tries_left == 0)
    card = desk.place(person.id)
    desk.expect(PinBlocked)
    assert desk.flow.current is not None
    assert desk.flow.current.state is VisitState.PIN_BLOCKED
    desk.remove(card)
    aborted = desk.expect(VisitAborted)
    assert aborted.reason == "card_removed"
    assert desk.store.count_confirmations() == 0


def test_blocked_card_is_confirmed_visually_by_reception(desk: Desk) -> None:
    person = who(lambda p: p.pin_tries_left == 0)
    since = time.time()
    desk.place(person.id)
    blocked = desk.expect(PinBlocked)
    assert desk.flow.switch_to_visual(blocked.visit_id, "uketsuke1")
    assert desk.expect(VisualCheckChosen).staff == "uketsuke1"
    outcome = desk.finish()
    assert outcome.state is VisitState.DONE, outcome
    confirmation = outcome.confirmation
    assert confirmation.method == "visual" and confirmation.badge == Badge.VALID.name
    assert confirmation.result.results[0].name == person.name
    visit = desk.store.visit(outcome.visit_id)
    assert visit is not None and visit.method == "visual" and visit.staff == "uketsuke1"
    actions = {(e.actor, e.action) for e in desk.store.audit_entries()}
    assert ("uketsuke1", "visit.visual_check") in actions
    assert ("uketsuke1", "confirmation.stored") in actions
    # No PIN was tried and nothing was signed: VERIFY with data and the signature never ran.
    sent = [
        json.loads(line)
        for line in desk.audit_path.read_text().splitlines()
        if json.loads(line)["t"] >= since and json.loads(line)["person"] == person.id
    ]
    assert sent, "the card saw no APDUs"
    assert not [a for a in sent if "**" in a["apdu"] or a["why"].startswith("SIGN")]


def test_visual_check_is_refused_once_the_pin_was_taken(desk: Desk) -> None:
    person = valid_person()
    desk.place(person.id)
    request = desk.expect(PinRequested)
    assert desk.inputs.submit(request.visit_id, person.pin)
    assert not desk.flow.switch_to_visual(request.visit_id, "uketsuke1")  # one answer wins
    outcome = desk.finish()
    assert outcome.state is VisitState.DONE and outcome.confirmation.method == "pin"


def test_patient_asks_for_staff_on_the_last_try(desk: Desk) -> None:
    person = who(lambda p: p.pin_tries_left == 1 and p.card_status == "valid")
    desk.place(person.id)
    request = desk.expect(PinRequested)
    assert request.tries_left == 1
    assert desk.flow.ask_staff(request.visit_id)
    desk.expect(StaffHelpRequested)
    assert desk.flow.current is not None
    assert desk.flow.current.state is VisitState.AWAITING_STAFF
    assert not desk.inputs.submit(request.visit_id, person.pin)  # the keypad is closed now
    assert desk.flow.switch_to_visual(request.visit_id, "uketsuke2")
    outcome = desk.finish()
    assert outcome.state is VisitState.DONE and outcome.confirmation.method == "visual"


def test_nobody_comes_in_time_ends_the_call_for_staff(desk_factory: Any) -> None:
    desk = desk_factory(staff_timeout_s=0.5)
    person = valid_person()
    desk.place(person.id)
    request = desk.expect(PinRequested)
    assert desk.flow.ask_staff(request.visit_id)
    aborted = desk.expect(VisitAborted)
    assert aborted.reason == "staff_timeout"
    assert desk.store.count_confirmations() == 0


def test_consent_answers_go_to_central_and_the_flags_are_stored(desk_factory: Any) -> None:
    desk = desk_factory(consent_kinds=("drug", "checkup"))
    person = valid_person()
    desk.place(person.id)
    request = desk.expect(PinRequested)
    assert desk.inputs.submit(request.visit_id, person.pin)
    asked = desk.expect(ConsentRequested)
    assert asked.kinds == ("drug", "checkup")
    assert not desk.inputs.submit(asked.visit_id, "1234")  # only a consent answer fits now
    assert desk.inputs.submit(asked.visit_id, ConsentChoice.of({"drug": True, "checkup": False}))
    outcome = desk.finish()
    assert outcome.state is VisitState.DONE
    flags = {c.kind: c.flag for c in outcome.confirmation.result.results[0].consents}
    assert flags == {"drug": "1", "checkup": "0"}
    stored = {c.kind: c for c in desk.store.consents(outcome.confirmation.id)}
    assert stored["drug"].agreed and not stored["checkup"].agreed
    assert stored["drug"].available_until is not None and stored["drug"].consented_at is not None
    assert (stored["drug"].available_until - stored["drug"].consented_at).total_seconds() == 86400


def test_card_pulled_during_consent_stores_nothing(desk_factory: Any) -> None:
    desk = desk_factory(consent_kinds=("drug",))
    person = valid_person()
    card = desk.place(person.id)
    request = desk.expect(PinRequested)
    assert desk.inputs.submit(request.visit_id, person.pin)
    desk.expect(ConsentRequested)
    desk.remove(card)
    assert desk.expect(VisitAborted).reason == "card_removed"
    desk.finish()
    assert desk.store.count_confirmations() == 0


def test_unanswered_consent_times_out(desk_factory: Any) -> None:
    desk = desk_factory(consent_kinds=("drug", "checkup"), consent_timeout_s=0.5)
    person = valid_person()
    desk.place(person.id)
    request = desk.expect(PinRequested)
    assert desk.inputs.submit(request.visit_id, person.pin)
    desk.expect(ConsentRequested)
    assert desk.expect(VisitAborted).reason == "timeout"
    assert desk.store.count_confirmations() == 0


def test_central_refuses_revoked_certificates(desk: Desk) -> None:
    person = who(lambda p: p.card_status == "revoked")
    outcome = pin_visit(desk, person)
    assert outcome.confirmation is not None
    result = outcome.confirmation.result
    assert result.segment_of_result == "9" and result.error_code
    assert outcome.confirmation.badge == Badge.ERROR.name
    assert not result.results


def test_a_certificate_past_its_grace_ends_the_visit_before_the_pin(desk: Desk) -> None:
    """DOMAIN.md §10: the card is no insurance card any more; the desk checks the 資格確認書."""
    person = who(lambda p: p.card_status == "expired")
    desk.place(person.id)
    over = desk.expect(CardGraceOver)
    failed = desk.expect(VisitFailed)
    assert failed.visit_id == over.visit_id and failed.reason == "card_grace_over"
    outcome = desk.finish()
    assert outcome.state is VisitState.FAILED and outcome.confirmation is None
    assert desk.store.count_confirmations() == 0


def test_a_certificate_in_its_grace_confirms_qualification_without_consent(
    desk_factory: Callable[..., Desk],
) -> None:
    """Through the real card and the simulated central over mTLS: no consent is asked, none is
    sent, and the central answers the qualification."""
    desk = desk_factory(consent_kinds=("drug", "checkup"))
    person = who(lambda p: p.card_status == "grace")
    outcome, seen = desk.visit_agreeing(person.id, person.pin)  # seen: from the PIN on
    assert not any(isinstance(e, ConsentRequested) for e in seen)
    assert outcome.state is VisitState.DONE and outcome.confirmation is not None
    assert outcome.confirmation.badge == Badge.VALID.name
    assert desk.store.consents(outcome.confirmation.id) == []
    answered = [e for e in seen if isinstance(e, VisitAnswered)]
    assert [a.verdict for a in answered] == ["VALID"]


def test_not_found_and_multiple_matches(desk: Desk) -> None:
    not_found = who(
        lambda p: not p.registered and p.card_status == "valid" and p.pin_tries_left == 3
    )
    outcome = pin_visit(desk, not_found)
    assert outcome.confirmation.badge == Badge.NOT_FOUND.name
    assert outcome.confirmation.result.processing_message
    desk.remove(desk.cards[0])
    desk.wait_empty()
    several = who(lambda p: p.validity == "5" and p.card_status == "valid")
    outcome = pin_visit(desk, several)
    assert outcome.confirmation.badge == Badge.MULTIPLE.name
    assert len(outcome.confirmation.result.results) == 2


def test_card_pulled_before_the_read_then_the_next_card_works(desk: Desk) -> None:
    slow = desk.place(valid_person().id, delay_s=0.5)
    desk.expect(VisitStarted)
    desk.remove(slow)
    aborted = desk.expect(VisitAborted, timeout=15)
    assert aborted.reason == "card_removed"
    desk.finish()
    desk.wait_empty()
    assert pin_visit(desk, valid_person()).state is VisitState.DONE


def test_card_pulled_during_the_read_stores_nothing(desk: Desk) -> None:
    slow = desk.place(valid_person().id, delay_s=0.05)
    desk.expect(VisitStateChanged, where=lambda e: e.state == "reading")
    assert slow.wait_for_apdus(3, timeout=10)
    desk.remove(slow)
    aborted = desk.expect(VisitAborted, timeout=15)
    assert aborted.reason == "card_removed"
    assert desk.finish().state is VisitState.ABORTED
    assert desk.store.count_confirmations() == 0
    assert desk.store.count_visits("aborted") == 1
    desk.wait_empty()
    assert pin_visit(desk, valid_person()).state is VisitState.DONE


def test_central_unreachable_ends_the_visit_cleanly(desk_factory: Callable[..., Desk]) -> None:
    desk = desk_factory(central_url="https://127.0.0.1:9", retries=1, timeout_s=2)
    outcome = pin_visit(desk, valid_person())
    assert outcome.state is VisitState.FAILED and outcome.reason == "central_unavailable"
    assert desk.expect(VisitFailed).reason == "central_unavailable"
    assert desk.store.count_confirmations() == 0
    assert desk.flow.current is None


def test_no_plaintext_personal_data_in_the_database_file(desk: Desk, tmp_path: Any) -> None:
    person = valid_person()
    pin_visit(desk, person)
    desk.store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("onshi.db*"))
    secrets = [person.name, person.name_kana, person.insurer_number, person.birthdate]
    # Short numbers ("15") occur by chance in any binary file; long ones must not.
    secrets += [person.number] if len(person.number) >= 6 else []
    for secret in secrets:
        assert secret.encode() not in raw, secret


def test_stopping_the_appliance_ends_a_visit_that_waits_for_a_person(desk: Desk) -> None:
    desk.place(valid_person().id)
    desk.expect(PinRequested)
    started = time.monotonic()
    assert desk.flow.stop(10)  # not the 20 s the PIN step would wait
    assert time.monotonic() - started < 5
    assert desk.expect(VisitAborted).reason == "stopped"
    assert desk.store.count_confirmations() == 0
