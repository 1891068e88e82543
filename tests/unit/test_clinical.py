"""device/clinical.py: consent rules, cache, central refusals and the audit of every outcome.

A real Store on a temp file, an injected clock that the tests move (never sleep), and a fake
central that answers with the simulator's history through a real build/parse round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from device.clinical import (
    HISTORY_MONTHS,
    ClinicalRecords,
    ClinicalRefused,
    history_period,
)
from sim.medical import checkup_history, drug_history
from sim.population import Person, person
from sync.breaker import CircuitBreaker
from sync.central import (
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
    MedicalInfoAnswer,
)
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.medinfo import (
    MedicalInfoRequest,
    MedicalInfoResult,
    build_medinfo_result,
    parse_medinfo_result,
)
from sync.store import Store
from sync.xmlmsg import ConsentState, Qualification, QualificationResult, build_result, parse_result
from web.clinical import RefusalText, refusal_words

MIC = "1312345670"
NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)  # 10:30 JST
CONSENT_TIME = "20260401101500"  # 10:15 JST, on the card reader
UNTIL = datetime(2026, 4, 2, 10, 15, tzinfo=JST)  # 24 h later
DOCTOR = "doctor"


# -- helpers shared with test_clinical_web.py -------------------------------------------------
class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def agreed(kind: str, time: str = CONSENT_TIME, hours: int = 24) -> ConsentState:
    until = datetime.strptime(time, "%Y%m%d%H%M%S") + timedelta(hours=hours)
    return ConsentState(kind, "1", time, until.strftime("%Y%m%d%H%M%S"))


def declined(kind: str) -> ConsentState:
    return ConsentState(kind, "0", CONSENT_TIME, "")


def qualification_of(p: Person, consents: tuple[ConsentState, ...] = ()) -> Qualification:
    return Qualification(
        card_classification=p.card_classification,
        insurer_number=p.insurer_number,
        symbol=p.symbol,
        number=p.number,
        branch=p.branch,
        personal_family=p.personal_family,
        name=p.name,
        name_kana=p.name_kana,
        sex=p.sex,
        birthdate=p.birthdate,
        contribution_ratio=p.contribution_ratio,
        insurer_name=p.insurer_name,
        consents=consents,
    )


def save_card_visit(
    store: Store,
    person_id: str,
    consents: tuple[ConsentState, ...] = (),
    *,
    file_id: str = "f1",
    kind: str = "card",
    **changes: Any,
) -> int:
    """A stored confirmation of one person as the central answered it; returns its id."""
    base: dict[str, Any] = dict(
        process_time="20260401101500",
        confirmation_date="20260401",
        medical_institution_code=MIC,
        file_id=file_id,
        reference_classification="1",
        segment_of_result="1",
        processing_status="1",
        validity="1",
        results=(qualification_of(person(person_id), consents),),
    )
    base.update(changes)
    raw = build_result(QualificationResult(**base))
    stored = store.save_confirmation(
        file_id=file_id,
        raw_result=raw,
        result=parse_result(raw),
        kind=kind,
        method="pin",
        actor="reader",
    )
    return stored.id


def simulated_answer(request: MedicalInfoRequest, now: datetime) -> MedicalInfoResult:
    """What the simulated central holds for the person the request names."""
    from sim.population import population

    (p,) = [
        x
        for x in population()
        if x.insurer_number.strip() == request.insurer_number.strip()
        and x.number == request.number
        and x.birthdate == request.birthdate
    ]
    today = now.astimezone(JST).date()
    common: dict[str, Any] = dict(
        kind=request.kind,
        process_time=now.astimezone(JST).strftime("%Y%m%d%H%M%S"),
        medical_institution_code=request.medical_institution_code,
        file_id=request.file_id,
        segment_of_result="1",
        start_month=request.start_month,
        end_month=request.end_month,
    )
    if request.kind == "drug":
        return MedicalInfoResult(**common, months=drug_history(p, today))
    return MedicalInfoResult(**common, exams=checkup_history(p, today))


@dataclass
class FakeCentral:
    """CentralClient.medical_info through a real build/parse round trip of the answer."""

    clock: Clock
    requests: list[MedicalInfoRequest] = field(default_factory=list)
    error: Exception | None = None
    answer: Callable[[MedicalInfoRequest], MedicalInfoResult] | None = None

    def medical_info(self, request: MedicalInfoRequest) -> MedicalInfoAnswer:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        result = (self.answer or (lambda r: simulated_answer(r, self.clock())))(request)
        raw = build_medinfo_result(result)
        return MedicalInfoAnswer(parse_medinfo_result(raw), raw, 0.01)


def audit_of(store: Store) -> list[tuple[str, str, str, str]]:
    return [
        (e.actor, e.action, e.subject, e.detail)
        for e in reversed(store.audit_entries())
        if e.action.startswith("clinical.")
    ]


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=clock)
    yield s
    s.close()


@pytest.fixture
def central(clock: Clock) -> FakeCentral:
    return FakeCentral(clock)


@pytest.fixture
def records(store: Store, central: FakeCentral, clock: Clock) -> ClinicalRecords:
    return ClinicalRecords(
        store, central, MIC, clock=clock, breaker=CircuitBreaker(cast(Any, central))
    )


def refusal(records: ClinicalRecords, confirmation_id: int, kind: str) -> RefusalText:
    """The refusal in the words the doctor's page shows."""
    with pytest.raises(ClinicalRefused) as caught:
        records.open(confirmation_id, kind, user=DOCTOR)
    shown = refusal_words(caught.value)
    assert shown.ja and shown.en and shown.ja != shown.en
    return shown


# -- consent rules ----------------------------------------------------------------------------
def test_valid_consent_fetches_the_history_online(
    records: ClinicalRecords, store: Store, central: FakeCentral
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"), declined("checkup")))
    record = records.open(cid, "drug", user=DOCTOR)
    assert (record.confirmation_id, record.kind, record.from_cache) == (cid, "drug", False)
    assert record.fetched_at == NOW
    assert record.available_until == UNTIL
    assert len(record.result.months) >= 12
    assert all(d.drugs for m in record.result.months for d in m.dispensings)
    (request,) = central.requests
    p = person("P010")
    assert (request.kind, request.medical_institution_code) == ("drug", MIC)
    assert (request.insurer_number, request.symbol, request.number, request.branch) == (
        p.insurer_number,
        p.symbol,
        p.number,
        p.branch,
    )
    assert request.birthdate == p.birthdate
    assert (request.start_month, request.end_month) == ("202305", "202604")  # 36 months
    assert request.file_id and request.file_id.isalnum()
    assert audit_of(store) == [(DOCTOR, "clinical.view", f"confirmation:{cid}", "drug online")]


def test_each_request_has_a_fresh_file_id(
    records: ClinicalRecords, store: Store, central: FakeCentral
) -> None:
    first = save_card_visit(store, "P010", (agreed("drug"),), file_id="a1")
    second = save_card_visit(store, "P004", (agreed("drug"),), file_id="a2")
    records.open(first, "drug", user=DOCTOR)
    records.open(second, "drug", user=DOCTOR)
    assert len({r.file_id for r in central.requests}) == 2


def test_history_period_is_counted_in_japan_time() -> None:
    assert HISTORY_MONTHS == {"drug": 36, "checkup": 60}
    # 16:00 UTC on 31 March is already 1 April in Japan
    late = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert history_period("drug", late) == ("202305", "202604")
    assert history_period("checkup", late) == ("202105", "202604")
    assert history_period("drug", datetime(2026, 1, 15, tzinfo=JST)) == ("202302", "202601")


def test_refused_kind(records: ClinicalRecords, store: Store, central: FakeCentral) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"), declined("checkup")))
    refused = refusal(records, cid, "checkup")
    assert refused.reason == "no_consent"
    assert "特定健診情報" in refused.ja and "specific health checkups" in refused.en
    assert central.requests == []
    assert audit_of(store) == [
        (DOCTOR, "clinical.refused", f"confirmation:{cid}", "checkup:no_consent")
    ]


def test_consent_to_another_kind_only(
    records: ClinicalRecords, store: Store, central: FakeCentral
) -> None:
    cid = save_card_visit(store, "P010", (agreed("checkup"), agreed("diagnosis")))
    assert refusal(records, cid, "drug").reason == "not_asked"
    assert central.requests == []
    assert records.open(cid, "checkup", user=DOCTOR).kind == "checkup"


def test_not_asked(records: ClinicalRecords, store: Store, central: FakeCentral) -> None:
    cid = save_card_visit(store, "P010")
    shown = refusal(records, cid, "drug")
    assert shown.reason == "not_asked"  # never asked is not "did not agree"
    assert "同意していません" not in shown.ja and "not agreed" not in shown.en
    assert "確認していません" in shown.ja
    assert central.requests == []
    statuses = records.consent_statuses(cid)
    assert {k: s.state for k, s in statuses.items()} == {
        "drug": "not_asked",
        "checkup": "not_asked",
    }


def test_checked_by_the_numbers_cannot_consent(
    records: ClinicalRecords, store: Store, central: FakeCentral
) -> None:
    """A 資格確認書 (insurance numbers typed at the desk) carries no consent: the refusal says
    it could not be given, not that the patient said no."""
    cid = save_card_visit(store, "P010", kind="numbers")
    shown = refusal(records, cid, "checkup")
    assert shown.reason == "cannot_consent"
    assert "資格確認書" in shown.ja and "同意していません" not in shown.ja
    assert "no consent to view specific health checkups can exist" in shown.en
    assert central.requests == []
    assert audit_of(store)[-1][3] == "checkup:cannot_consent"


def test_expired_by_the_clock(
    records: ClinicalRecords, store: Store, central: FakeCentral, clock: Clock
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    clock.now = UNTIL - timedelta(seconds=1)
    assert records.open(cid, "drug", user=DOCTOR).available_until == UNTIL
    assert len(central.requests) == 1
    clock.now = UNTIL  # the window is [consent, consent + 24 h)
    refused = refusal(records, cid, "drug")
    assert refused.reason == "expired"
    assert "2026/04/02 10:15" in refused.ja and "2026/04/02 10:15" in refused.en
    clock.now = UNTIL + timedelta(hours=3)
    assert refusal(records, cid, "drug").reason == "expired"
    assert len(central.requests) == 1  # checked before any central call, cache not used
    assert [a[3] for a in audit_of(store)] == ["drug online", "drug:expired", "drug:expired"]
    assert records.consent_statuses(cid)["drug"].state == "expired"


def test_consent_window_is_never_longer_than_24_hours(
    records: ClinicalRecords, store: Store, clock: Clock
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug", hours=72),))
    status = records.consent_statuses(cid)["drug"]
    assert (status.state, status.until) == ("valid", UNTIL)
    clock.now = UNTIL + timedelta(minutes=1)
    assert refusal(records, cid, "drug").reason == "expired"


@pytest.mark.parametrize("cons_time", ["", "20261399999999", "20260230101500"])
def test_consent_window_without_a_readable_consent_time_is_counted_from_the_confirmation(
    records: ClinicalRecords, store: Store, central: FakeCentral, clock: Clock, cons_time: str
) -> None:
    far = ConsentState("drug", "1", cons_time, "20991231235959")
    cid = save_card_visit(store, "P010", (far,))  # stored at NOW
    status = records.consent_statuses(cid)["drug"]
    assert (status.state, status.until) == ("valid", NOW + timedelta(hours=24))
    given = records.consent_statuses(cid, confirmed_at=NOW - timedelta(hours=1))["drug"]
    assert given.until == NOW + timedelta(hours=23)  # the caller's created_at is used
    assert records.open(cid, "drug", user=DOCTOR).available_until == NOW + timedelta(hours=24)
    clock.now = NOW + timedelta(hours=24)
    assert records.consent_statuses(cid)["drug"].state == "expired"
    assert refusal(records, cid, "drug").reason == "expired"
    assert len(central.requests) == 1


def test_consent_statuses(records: ClinicalRecords, store: Store) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"), declined("checkup"), agreed("surgery")))
    statuses = records.consent_statuses(cid)
    assert list(statuses) == ["drug", "checkup"]  # only the kinds served here
    assert (statuses["drug"].state, statuses["drug"].until) == ("valid", UNTIL)
    assert statuses["drug"].valid
    assert (statuses["checkup"].state, statuses["checkup"].valid) == ("refused", False)
    # "2" means expired in other interfaces
    other = save_card_visit(
        store, "P004", (ConsentState("drug", "2", CONSENT_TIME, ""),), file_id="f2"
    )
    assert records.consent_statuses(other)["drug"].state == "expired"
    assert refusal(records, other, "drug").reason == "expired"


def test_not_insured(records: ClinicalRecords, store: Store, central: FakeCentral) -> None:
    not_found = save_card_visit(store, "P010", file_id="n1", validity="4", results=())
    assert refusal(records, not_found, "drug").reason == "not_insured"
    several = save_card_visit(
        store,
        "P017",
        file_id="n2",
        validity="5",
        results=(
            qualification_of(person("P017"), (agreed("drug"),)),
            qualification_of(person("P018"), (agreed("drug"),)),
        ),
    )
    refused = refusal(records, several, "drug")
    assert refused.reason == "not_insured"
    lost = save_card_visit(store, "P013", (agreed("drug"),), file_id="n3", validity="2")
    assert refusal(records, lost, "drug").reason == "not_insured"
    assert central.requests == []
    assert [a[3] for a in audit_of(store)] == ["drug:not_insured"] * 3


def test_unknown_confirmation(records: ClinicalRecords, store: Store) -> None:
    assert {s.state for s in records.consent_statuses(999).values()} == {"not_asked"}
    assert refusal(records, 999, "drug").reason == "no_confirmation"
    assert audit_of(store) == [
        (DOCTOR, "clinical.refused", "confirmation:999", "drug:no_confirmation")
    ]


def test_unknown_kind_is_a_programming_error(records: ClinicalRecords, store: Store) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    with pytest.raises(ValueError):
        records.open(cid, "surgery", user=DOCTOR)


# -- cache ------------------------------------------------------------------------------------
def test_cache_hit_skips_the_central(
    records: ClinicalRecords, store: Store, central: FakeCentral, clock: Clock
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"), agreed("checkup")))
    first = records.open(cid, "drug", user=DOCTOR)
    clock.now = NOW + timedelta(hours=2)
    again = records.open(cid, "drug", user="doctor2")
    assert again.from_cache and not first.from_cache
    assert again.fetched_at == NOW  # when it was fetched, not when it was shown
    assert again.result == first.result
    assert len(central.requests) == 1
    checkup = records.open(cid, "checkup", user=DOCTOR)  # cached per kind
    assert not checkup.from_cache and checkup.result.exams
    assert len(central.requests) == 2
    assert audit_of(store) == [
        (DOCTOR, "clinical.view", f"confirmation:{cid}", "drug online"),
        ("doctor2", "clinical.view", f"confirmation:{cid}", "drug cache"),
        (DOCTOR, "clinical.view", f"confirmation:{cid}", "checkup online"),
    ]


def test_cache_lives_as_long_as_the_consent_and_is_purged(
    records: ClinicalRecords, store: Store, clock: Clock
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    records.open(cid, "drug", user=DOCTOR)
    cached = store.clinical_cache(cid, "drug", UNTIL - timedelta(seconds=1))
    assert cached is not None and cached.expires_at == UNTIL and cached.fetched_at == NOW
    assert store.clinical_cache(cid, "drug", UNTIL) is None
    assert records.purge_expired() == 0  # still within the consent
    clock.now = UNTIL
    assert records.purge_expired() == 1
    assert records.purge_expired() == 0
    clock.now = UNTIL - timedelta(seconds=1)  # even back inside the window, it is gone
    assert store.clinical_cache(cid, "drug", clock.now) is None


def test_unreadable_cached_copy_is_fetched_again(
    records: ClinicalRecords, store: Store, central: FakeCentral
) -> None:
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    store.put_clinical_cache(cid, "drug", b"<not-xml", NOW, UNTIL)
    record = records.open(cid, "drug", user=DOCTOR)
    assert not record.from_cache and len(central.requests) == 1
    assert records.open(cid, "drug", user=DOCTOR).from_cache  # replaced by the good copy


# -- central answers --------------------------------------------------------------------------
def test_central_refusal_carries_its_message(
    records: ClinicalRecords, store: Store, central: FakeCentral
) -> None:
    message = "薬剤情報の閲覧に同意がありません / no consent for drug information"

    def refuse(request: MedicalInfoRequest) -> MedicalInfoResult:
        return MedicalInfoResult(
            request.kind,
            "20260401103000",
            MIC,
            request.file_id,
            "9",
            error_code="EK01",
            error_message=message,
        )

    central.answer = refuse
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    refused = refusal(records, cid, "drug")
    assert refused.reason == "central"
    assert message in refused.ja and message in refused.en
    assert "EK01" in refused.ja
    assert store.clinical_cache(cid, "drug", NOW) is None  # a refusal is never cached
    assert audit_of(store)[-1] == (
        DOCTOR,
        "clinical.refused",
        f"confirmation:{cid}",
        "drug:central",
    )


def test_central_http_refusal(records: ClinicalRecords, store: Store, central: FakeCentral) -> None:
    central.error = CentralRefused(403, "institution code does not match the certificate")
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    refused = refusal(records, cid, "drug")
    assert refused.reason == "central" and "403" in refused.en


def test_unavailable_caches_nothing(
    records: ClinicalRecords, store: Store, central: FakeCentral
) -> None:
    central.error = CentralUnavailable("中央サービスに接続できません / central service unreachable")
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    refused = refusal(records, cid, "drug")
    assert refused.reason == "unavailable"
    assert store.clinical_cache(cid, "drug", NOW) is None
    central.error = None  # back again: fetched online, not from any leftover
    assert not records.open(cid, "drug", user=DOCTOR).from_cache
    assert [a[3] for a in audit_of(store)] == ["drug:unavailable", "drug online"]


@pytest.mark.parametrize(
    ("error", "reason", "words"),
    [
        (CentralUnreadable("answer too large"), "unreadable", "unreadable"),
        (CentralUntrusted("certificate verify failed"), "untrusted", "administrator"),
    ],
)
def test_an_unreadable_answer_or_a_certificate_problem_is_neither_try_later_nor_refused(
    records: ClinicalRecords,
    store: Store,
    central: FakeCentral,
    error: Exception,
    reason: str,
    words: str,
) -> None:
    central.error = error
    cid = save_card_visit(store, "P010", (agreed("drug"),))
    refused = refusal(records, cid, "drug")
    assert refused.reason == reason and words in refused.en
    assert "shortly" not in refused.en and "refused" not in refused.en
    assert store.clinical_cache(cid, "drug", NOW) is None
