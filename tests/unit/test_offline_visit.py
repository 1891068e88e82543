"""A card visit while the central cannot be reached (device/offline.py, device/flow.py).

The emulated JPKI card (sim/card.py) answers in process, the store is a real SQLite file, the
central is a fake that is up or down; the card's certificate is checked against the test
PKI's JPKI root."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from device.cardtrust import CardTrust
from device.checks import CheckFailed, ConfirmationNotFound, ManualChecks, NumbersInput
from device.confirm import Confirmations
from device.events import (
    ConfirmationStored,
    ConsentRequested,
    EventBus,
    VisitFailed,
    VisitStateChanged,
)
from device.flow import VisitFlow, VisitState
from device.inputs import ConsentChoice, VisitInput, VisualCheck
from device.offline import OfflineVisits, identity_of
from device.outbox import Outbox
from device.statement import Statements
from reader.connection import CardConnection
from sim.card import VirtualCard
from sim.pki import PkiPaths
from sync.cardexpiry import card_expiry
from sync.clock import JST, utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import CentralAnswer, CentralUnavailable, QualificationTransport
from sync.xmlmsg import QualificationRequest, build_result
from web.present import confirmation_row, reason_text, text
from web.reception import staff_wire

from .test_web import qualification, result

CODE = "1312345670"
PIN = "1234"
INSURER = "01130012"  # a valid check digit: the re-check request passes validation
CONSENT = ("drug", "checkup")


class _CardConnection:
    def __init__(self, card: VirtualCard) -> None:
        self._card = card

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        answer = self._card.transmit(apdu)
        return answer[:-2], int.from_bytes(answer[-2:], "big")

    def close(self) -> None:
        pass


class _Central:
    """Up, or unreachable for nonces and/or answers; counts what reached it."""

    def __init__(self) -> None:
        self.nonce_down = False
        self.confirm_down = False
        self.calls: list[str] = []
        self.requests: list[QualificationRequest] = []

    def nonce(self) -> bytes:
        self.calls.append("nonce")
        if self.nonce_down:
            raise CentralUnavailable("connection refused")
        return b"n" * 32

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        self.calls.append("confirm")
        self.requests.append(request)
        if self.confirm_down:
            raise CentralUnavailable("read timed out")
        answer = result(qualification(insurer_number=INSURER), file_id=request.file_id)
        return CentralAnswer(result=answer, raw=build_result(answer), round_trip_s=0.0)


class _People:
    """The patient enters the PIN and agrees to everything asked."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.visual = ""  # a staff user: reception confirms by looking instead of the PIN

    def submit(self, visit_id: str, value: object) -> bool:
        return False

    def wait(self, visit: Any, step: str, timeout: float) -> VisitInput | None:
        self.steps.append(step)
        if step == "consent":
            return ConsentChoice(tuple((k, True) for k in visit.consent_kinds))
        return VisualCheck(self.visual) if self.visual else PIN

    def cancel(self, visit_id: str) -> None:
        pass


class Box:
    def __init__(self, tmp_path: Path, pki: PkiPaths, trust: CardTrust) -> None:
        self.store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
        self.central = _Central()
        self.down = False
        self.bus = EventBus()
        self.events = self.bus.subscribe()
        self.people = _People()
        confirmations = Confirmations(
            transport=cast(QualificationTransport, self.central), store=self.store, bus=self.bus
        )
        self.outbox = Outbox(store=self.store, confirmations=confirmations, sleep=lambda s: None)
        self.checks = ManualChecks(
            medical_institution_code=CODE,
            confirmations=confirmations,
            store=self.store,
            outbox=self.outbox,
        )
        self.flow = VisitFlow(
            medical_institution_code=CODE,
            connect=lambda reader: cast(CardConnection, _CardConnection(self.card)),
            confirmations=confirmations,
            store=self.store,
            bus=self.bus,
            inputs=self.people,
            consent_kinds=CONSENT,
            offline=OfflineVisits(
                card_trust=trust,
                confirmations=confirmations,
                store=self.store,
                checks=self.checks,
                central_down=lambda: self.down,
            ),
        )
        self.pki = pki
        self.card = VirtualCard("P001", pki, state_dir=tmp_path / "card", pin=PIN)

    def visit(self) -> Any:
        list(self.events.drain())  # what earlier visits published
        self.people.steps.clear()
        return self.flow.run_visit("reader")


@pytest.fixture
def box(tmp_path: Path, sim_pki: PkiPaths) -> Iterator[Box]:
    root = x509.load_pem_x509_certificate(sim_pki.jpki_root_cert.read_bytes())
    made = Box(tmp_path, sim_pki, CardTrust([root], utc_now))
    yield made
    made.events.close()
    made.store.close()


def test_with_the_circuit_open_the_card_is_proven_here_and_kept_offline_beside_its_last_answer(
    box: Box,
) -> None:
    online = box.visit()
    assert online.state is VisitState.DONE and online.confirmation is not None
    earlier = online.confirmation
    assert "consent" in box.people.steps
    box.down = True
    box.central.calls.clear()

    outcome = box.visit()

    assert outcome.state is VisitState.OFFLINE_DONE, outcome
    assert box.central.calls == []  # nothing waited for the central
    assert box.people.steps == ["pin"]  # the PIN, and no consent asked
    events = list(box.events.drain())
    assert not [e for e in events if isinstance(e, ConsentRequested)]
    assert any(isinstance(e, VisitStateChanged) and e.state == "offline_done" for e in events)
    stored = outcome.confirmation
    assert stored is not None and stored.offline and stored.earlier_id == earlier.id
    assert any(isinstance(e, ConfirmationStored) and e.confirmation_id == stored.id for e in events)
    assert box.store.consents(stored.id) == []  # nothing registered as consent
    # the earlier answer's numbers are queued for a re-check, charged against that answer
    queued = box.store.outbox_items()
    assert len(queued) == 1
    item = queued[0]
    assert item.visit_id == outcome.visit_id and item.charged_id == earlier.id
    assert item.request is not None and item.request.search is not None
    assert item.request.search.number == "1234" and item.request.reference_classification == "2"
    visit = box.store.visit(outcome.visit_id)
    assert visit is not None and visit.state == "done" and visit.method == "pin"
    assert visit.reason == "central_unavailable"
    # the card signed the box's own challenge: the same APDUs as the online visit's, no more
    assert outcome.timings.apdus == online.timings.apdus


def test_the_desk_row_shows_the_earlier_answer_as_such_with_its_date_and_age(box: Box) -> None:
    earlier = box.visit().confirmation
    box.down = True
    stored = box.visit().confirmation
    assert earlier is not None and stored is not None
    later = stored.__class__(
        **{**stored.__dict__, "created_at": earlier.created_at + timedelta(days=3)}
    )
    row = confirmation_row(later, "ja", earlier=earlier)
    assert row["badge"]["code"] == "OFFLINE"
    assert row["badge"]["label"] == "本人確認済・オンライン未確認"
    assert row["name"] == "山田　太郎" and row["ratio"]  # the ratio to charge
    assert row["source"].startswith("前回確認 ") and "3日前" in row["source"]
    assert "前回確認の内容" in row["message"] and row["consent"] == ""
    assert row["earlier_url"] == f"/confirmations/{earlier.id}"
    assert row["can_recheck"] is True  # by the earlier answer's numbers
    english = confirmation_row(stored, "en", earlier=earlier)
    assert "previously confirmed" in english["source"] and "today" in english["source"]


def test_a_card_never_confirmed_before_is_kept_with_what_to_do_and_nothing_queued(
    box: Box,
) -> None:
    box.down = True
    outcome = box.visit()
    assert outcome.state is VisitState.OFFLINE_DONE
    stored = outcome.confirmation
    assert stored is not None and stored.earlier_id is None
    assert box.store.outbox_items() == []
    row = confirmation_row(stored, "ja")
    assert row["badge"]["code"] == "OFFLINE" and row["name"] == ""
    assert "申立書" in row["message"] and row["source"] == "前回確認なし"
    assert row["can_recheck"] is False  # no numbers to ask with: no 再照会 button
    # the 申立書 opened from that row starts empty
    assert Statements(box.store, utc_now).start(stored.id, actor="reception").name == ""


def test_a_statement_made_from_an_offline_visit_is_closed_by_the_cards_next_online_answer(
    box: Box,
) -> None:
    box.down = True
    offline = box.visit().confirmation
    assert offline is not None and offline.earlier_id is None
    statements = Statements(box.store, utc_now)
    typed = replace(
        statements.start(offline.id, actor="reception"),
        card_held="no",
        insurance_kind="national",
        ratio="30",
        name="山田　太郎",
        birthdate="19800401",
        sex="1",
    )
    made = statements.save(typed, actor="reception", confirmation_id=offline.id)
    other = statements.save(typed, actor="reception")  # not from this card: stays open
    assert statements.count_awaiting() == 2
    box.down = False
    online = box.visit().confirmation  # the same card, online again
    assert online is not None and not online.offline
    closed = box.store.statement(made.id)
    assert closed is not None and not closed.open and closed.answer_id == online.id
    assert [r.id for r in statements.awaiting(actor="reception")] == [other.id]


def test_through_the_terminals_folders_a_known_card_is_proven_here_and_asked_by_numbers(
    box: Box,
) -> None:
    earlier = box.visit().confirmation
    assert earlier is not None
    assert box.flow._offline is not None
    box.flow._offline.by_numbers = True  # central_mode = folders
    box.central.calls.clear()
    outcome = box.visit()
    assert outcome.state is VisitState.DONE  # an answer today, by numbers
    assert box.central.calls == ["confirm"]  # no challenge: the folders have no card path
    assert box.people.steps == ["pin"]  # consent cannot be registered through the folders
    stored = outcome.confirmation
    assert stored is not None and not stored.offline and stored.kind == "card"
    asked = box.central.requests[-1]
    assert asked.reference_classification == "2" and asked.card is None
    assert asked.search is not None and asked.search.number == "1234"  # the earlier numbers
    assert box.store.outbox_items() == []  # nothing left to ask later
    assert box.store.last_card_answer(_card_id(box.pki)) == stored  # found next time
    visit = box.store.visit(outcome.visit_id)
    assert visit is not None and visit.reason == "" and visit.file_id == stored.file_id
    box.central.confirm_down = True  # the terminal silent: kept offline and queued
    outcome = box.visit()
    assert outcome.state is VisitState.OFFLINE_DONE
    assert len(box.store.outbox_items()) == 1


def _card_id(pki: PkiPaths) -> str:
    return identity_of(x509.load_der_x509_certificate(pki.card_cert("P001").read_bytes()))


def test_numbers_checked_for_a_card_never_seen_become_its_earlier_answer(box: Box) -> None:
    box.down = True
    first = box.visit().confirmation
    assert first is not None and first.earlier_id is None
    assert confirmation_row(first, "ja")["numbers_for_visit"] is True
    box.down = False
    typed = NumbersInput(INSURER, "記号1", "1234", "01", "19800401")
    with pytest.raises(ConfirmationNotFound):  # only a card visit kept offline takes it
        box.checks.check(typed, actor="reception", for_visit=first.id + 100)
    checked = box.checks.check(typed, actor="reception", for_visit=first.id)
    assert checked.kind == "numbers"
    assert box.store.last_card_answer(_card_id(box.pki)) == checked  # linked to the card
    box.down = True
    again = box.visit().confirmation
    assert again is not None and again.earlier_id == checked.id  # 前回確認 next time
    assert confirmation_row(again, "ja", earlier=checked)["numbers_for_visit"] is False


def test_numbers_for_a_card_never_seen_queued_in_an_outage_link_the_card_when_answered(
    box: Box,
) -> None:
    box.down = True
    first = box.visit().confirmation
    assert first is not None
    box.central.confirm_down = True  # asked at once, and the central does not answer
    typed = NumbersInput(INSURER, "記号1", "1234", "01", "19800401")
    with pytest.raises(CheckFailed) as failed:
        box.checks.check(typed, actor="reception", for_visit=first.id)
    assert failed.value.queued
    assert box.store.last_card_answer(_card_id(box.pki)) is None
    [item] = box.store.outbox_items()
    assert item.card_from == first.id
    box.central.confirm_down = False
    assert box.outbox.drain().answered == 1
    answered = box.store.confirmation_id_for(item.file_id)
    found = box.store.last_card_answer(_card_id(box.pki))
    assert found is not None and found.id == answered  # the card's 前回確認 from now on
    box.down = True
    again = box.visit().confirmation
    assert again is not None and again.earlier_id == answered


def test_an_outage_learnt_from_the_nonce_goes_offline_without_consent(box: Box) -> None:
    box.visit()
    box.central.nonce_down = True
    outcome = box.visit()
    assert outcome.state is VisitState.OFFLINE_DONE
    assert box.central.calls[-1] == "nonce"
    # consent was asked (nobody knew yet) but nothing is registered as consent
    assert outcome.confirmation is not None
    assert box.store.consents(outcome.confirmation.id) == []


def test_an_outage_learnt_from_the_answer_keeps_the_visit_signed_for_the_central(
    box: Box,
) -> None:
    box.visit()
    box.central.confirm_down = True
    box.central.calls.clear()
    outcome = box.visit()
    assert outcome.state is VisitState.OFFLINE_DONE
    assert box.central.calls == ["nonce", "confirm"]
    assert outcome.confirmation is not None and outcome.confirmation.earlier_id is not None
    assert len(box.store.outbox_items()) == 1


def test_the_offline_row_is_rechecked_by_its_earlier_numbers(box: Box) -> None:
    earlier = box.visit().confirmation
    box.down = True
    stored = box.visit().confirmation
    assert earlier is not None and stored is not None
    box.down = False
    again = box.checks.recheck(stored.id, actor="reception")
    assert again.result.results[0].number == "1234"
    # the 申立書 opened from the offline row is pre-filled from the earlier answer
    form = Statements(box.store, utc_now).start(stored.id, actor="reception")
    assert form.name == "山田　太郎"


def test_an_expired_card_is_not_taken_as_proof_offline(tmp_path: Path, sim_pki: PkiPaths) -> None:
    root = x509.load_pem_x509_certificate(sim_pki.jpki_root_cert.read_bytes())
    card = x509.load_der_x509_certificate(sim_pki.card_cert("P001").read_bytes())
    # the card's expired and past its grace (sync/cardexpiry.py), the root not
    grace = card_expiry(card.not_valid_after_utc, card.not_valid_after_utc).grace_until
    later = datetime.combine(grace + timedelta(days=1), time(12), JST)
    assert later < root.not_valid_after_utc
    expired = Box(tmp_path, sim_pki, CardTrust([root], lambda: later))
    try:
        expired.down = True
        outcome = expired.visit()
        assert outcome.state is VisitState.FAILED and outcome.reason == "card_untrusted"
        assert expired.store.count_confirmations() == 0 and expired.store.outbox_items() == []
        failed = [e for e in expired.events.drain() if isinstance(e, VisitFailed)]
        assert [(e.reason, e.detail) for e in failed] == [("card_untrusted", "expired")]
        # the desk says which check failed and what to do; the kiosk sends the patient to it
        wire = staff_wire(failed[0], "ja")
        assert wire is not None and wire[1]["text"] == text("card_untrusted_expired", "ja")
        assert "受付" in reason_text("card_untrusted", "ja", kiosk=True)
    finally:
        expired.events.close()
        expired.store.close()


def test_a_visual_check_offline_signs_nothing_and_names_the_staff(box: Box) -> None:
    box.people.visual = "suzuki"
    online = box.visit()
    box.down = True
    outcome = box.visit()
    assert outcome.state is VisitState.OFFLINE_DONE
    stored = outcome.confirmation
    assert stored is not None and stored.method == "visual"
    visit = box.store.visit(outcome.visit_id)
    assert visit is not None and visit.staff == "suzuki"
    assert outcome.timings.apdus == online.timings.apdus  # as online: nothing signed
    assert stored.earlier_id == (online.confirmation.id if online.confirmation else None)


def test_a_card_of_another_root_is_not_taken_as_proof_offline(
    tmp_path: Path, sim_pki: PkiPaths
) -> None:
    stranger = _self_signed("Another root", utc_now())
    other = Box(tmp_path, sim_pki, CardTrust([stranger], utc_now))
    try:
        other.down = True
        outcome = other.visit()
        assert outcome.state is VisitState.FAILED and outcome.reason == "card_untrusted"
        assert other.store.count_confirmations() == 0
    finally:
        other.events.close()
        other.store.close()


def test_without_a_jpki_root_the_visit_fails_as_before(tmp_path: Path, sim_pki: PkiPaths) -> None:
    bare = Box(tmp_path, sim_pki, CardTrust([], utc_now))
    try:
        bare.down = True  # ignored: nothing can be proven on the box
        bare.central.nonce_down = True
        outcome = bare.visit()
        assert outcome.state is VisitState.FAILED and outcome.reason == "central_unavailable"
        assert "consent" in bare.people.steps  # without offline visits, consent is asked
        assert bare.store.count_confirmations() == 0
    finally:
        bare.events.close()
        bare.store.close()


def _self_signed(name: str, now: datetime) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def test_a_card_in_its_grace_is_proof_offline_and_shares_nothing(
    tmp_path: Path, sim_pki: PkiPaths
) -> None:
    """Expired, within the grace of the 2025 rules: it still confirms qualification, so in an
    outage it is proven here like a valid card (no consent is asked offline anyway)."""
    root = x509.load_pem_x509_certificate(sim_pki.jpki_root_cert.read_bytes())
    card = x509.load_der_x509_certificate(sim_pki.card_cert("P001").read_bytes())
    later = card.not_valid_after_utc + timedelta(days=1)
    grace = Box(tmp_path, sim_pki, CardTrust([root], lambda: later))
    try:
        grace.down = True
        outcome = grace.visit()
        assert outcome.state is VisitState.OFFLINE_DONE
        assert outcome.confirmation is not None
        assert grace.store.consents(outcome.confirmation.id) == []
    finally:
        grace.events.close()
        grace.store.close()
