"""Clinical records against the simulated central over real mutual TLS, with a real Store file.

A card visit gives consent for drugs only (signed with the sim card key, as the appliance
does); the doctor then sees months of drug history, is refused checkups, and is refused
everything once the clock passes the 24-hour window.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from device.clinical import ClinicalRecords, ClinicalRefused
from sync.breaker import CircuitBreaker
from sync.central import CentralClient, tls_context
from sync.clock import JST
from sync.codes import is_insured
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import (
    CardAuthentication,
    ConsentAnswer,
    QualificationRequest,
    build_result,
    parse_result,
)
from web.clinical import refusal_words

MIC = "1312345670"
PERSON = "P010"  # drug history and yearly checkups in the simulator


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def central(central_server: Any, sim_pki: Any) -> Iterator[CentralClient]:
    client = CentralClient(
        central_server.url,
        verify=tls_context(sim_pki.central_ca_cert, sim_pki.device_cert, sim_pki.device_key),
    )
    yield client
    client.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield s
    s.close()


def card_visit(
    central: CentralClient, pki: Any, person_id: str, consents: tuple[ConsentAnswer, ...]
) -> tuple[str, bytes]:
    """A PIN-verified card request signed with the person's card key; (file id, raw answer)."""
    file_id = secrets.token_hex(10)
    nonce = central.nonce()
    signature = pki.card_signature(person_id, nonce, MIC, file_id)
    card = CardAuthentication(pki.card_cert(person_id).read_bytes(), nonce, signature, "pin")
    today = datetime.now(JST).strftime("%Y%m%d")
    answer = central.confirm(
        QualificationRequest(MIC, today, file_id, "1", card=card, consents=consents)
    )
    assert is_insured(answer.result)
    return file_id, answer.raw


def test_drug_consent_only(central: CentralClient, sim_pki: Any, store: Store) -> None:
    clock = Clock()
    consented = clock.now.astimezone(JST).strftime("%Y%m%d%H%M%S")
    file_id, raw = card_visit(
        central,
        sim_pki,
        PERSON,
        (ConsentAnswer("drug", True, consented), ConsentAnswer("checkup", False, consented)),
    )
    cid = store.save_confirmation(
        file_id=file_id,
        raw_result=raw,
        result=parse_result(raw),
        kind="card",
        method="pin",
        actor="reader",
    ).id
    records = ClinicalRecords(store, central, MIC, clock=clock, breaker=CircuitBreaker(central))
    statuses = records.consent_statuses(cid)
    assert (statuses["drug"].state, statuses["checkup"].state) == ("valid", "refused")

    drug = records.open(cid, "drug", user="doctor")
    assert not drug.from_cache
    assert drug.result.segment_of_result == "1"
    assert len(drug.result.months) >= 12
    assert sum(len(d.drugs) for m in drug.result.months for d in m.dispensings) >= 12
    assert drug.available_until == statuses["drug"].until
    assert records.open(cid, "drug", user="doctor").from_cache

    with pytest.raises(ClinicalRefused) as refused:
        records.open(cid, "checkup", user="doctor")
    assert refused.value.reason == "no_consent"

    clock.now += timedelta(hours=24, minutes=1)
    with pytest.raises(ClinicalRefused) as expired:
        records.open(cid, "drug", user="doctor")
    assert expired.value.reason == "expired"
    assert records.purge_expired() == 1
    details = [
        (e.action, e.detail)
        for e in reversed(store.audit_entries())
        if e.action.startswith("clinical.") and e.subject == f"confirmation:{cid}"
    ]
    assert details == [
        ("clinical.view", "drug online"),
        ("clinical.view", "drug cache"),
        ("clinical.refused", "checkup:no_consent"),
        ("clinical.refused", "drug:expired"),
    ]


def test_central_refusal_reaches_the_doctor_verbatim(
    central: CentralClient, sim_pki: Any, store: Store
) -> None:
    """A consent flag the central never received (here: altered locally) is refused there."""
    clock = Clock()
    consented = clock.now.astimezone(JST).strftime("%Y%m%d%H%M%S")
    file_id, raw = card_visit(
        central, sim_pki, PERSON, (ConsentAnswer("checkup", False, consented),)
    )
    result = parse_result(raw)
    (q,) = result.results
    (checkup,) = q.consents
    until = (clock.now + timedelta(hours=24)).astimezone(JST).strftime("%Y%m%d%H%M%S")
    altered = replace(checkup, flag="1", available_time=until)
    local = replace(result, results=(replace(q, consents=(altered,)),))
    cid = store.save_confirmation(
        file_id=file_id,
        raw_result=build_result(local),
        result=parse_result(build_result(local)),
        kind="card",
        method="pin",
        actor="reader",
    ).id
    records = ClinicalRecords(store, central, MIC, clock=clock, breaker=CircuitBreaker(central))
    with pytest.raises(ClinicalRefused) as refused:
        records.open(cid, "checkup", user="doctor")
    assert refused.value.reason == "central"
    shown = refusal_words(refused.value)
    assert "EK01" in shown.ja and "同意がありません" in shown.ja
    assert store.clinical_cache(cid, "checkup", clock.now) is None
