"""Insurance-number checks typed at the desk, against the simulated central over mutual TLS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from device.checks import ManualChecks, NumbersInput
from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus, Subscription
from sim.population import person
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Confirmation, Store
from web.labels import Badge

from .conftest import MEDICAL_INSTITUTION_CODE, central_client


@dataclass
class Desk:
    checks: ManualChecks
    store: Store
    events: Subscription

    def check(self, typed: NumbersInput) -> Confirmation:
        return self.checks.check(typed, actor="reception")


@pytest.fixture
def desk(sim_pki: Any, central_server: Any, tmp_path: Path) -> Iterator[Desk]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    client = central_client(sim_pki, central_server.url)
    bus = EventBus()
    events = bus.subscribe()
    checks = ManualChecks(
        medical_institution_code=MEDICAL_INSTITUTION_CODE,
        confirmations=Confirmations(transport=client, store=store, bus=bus),
        store=store,
    )
    yield Desk(checks, store, events)
    events.close()
    client.close()
    store.close()


def as_typed(person_id: str, **changes: Any) -> NumbersInput:
    """What staff copy from the person's 資格確認書, half-width and western."""
    p = person(person_id)
    birthdate = f"{p.birthdate[:4]}-{p.birthdate[4:6]}-{p.birthdate[6:]}"
    typed = NumbersInput(p.insurer_number, p.symbol, p.number, p.branch, birthdate)
    return replace(typed, **changes)


def test_qualification_certificate_holder_is_valid(desk: Desk) -> None:
    p = person("P025")
    assert p.card_status == "none"  # a 資格確認書 holder: this is the only way to check them
    stored = desk.check(as_typed("P025"))
    assert stored.badge == Badge.VALID.name
    assert (stored.kind, stored.method, stored.source) == ("numbers", "numbers", "online")
    result = stored.result
    assert result.reference_classification == "2"
    (qualification,) = result.results
    assert (qualification.name, qualification.birthdate) == (p.name, p.birthdate)
    assert list(desk.events.drain()) == [ConfirmationStored(stored.id, None)]
    again = desk.store.confirmation(stored.id)
    assert again is not None and again.result == result


def test_six_digit_kokuho_number(desk: Desk) -> None:
    p = person("P008")
    assert len(p.insurer_number) == 6
    stored = desk.check(as_typed("P008", branch=""))  # no branch: the answer supplies it
    assert stored.badge == Badge.VALID.name
    (qualification,) = stored.result.results
    assert qualification.insurer_number.strip().lstrip("0") == p.insurer_number
    assert qualification.branch == p.branch
    found = desk.store.find_by_numbers(p.insurer_number, p.symbol, p.number)
    assert [c.id for c in found] == [stored.id]


def test_not_found_person(desk: Desk) -> None:
    stored = desk.check(as_typed("P016"))
    assert stored.badge == Badge.NOT_FOUND.name
    assert Badge.NOT_FOUND.ja == "該当資格なし"
    assert stored.result.validity == "4" and stored.result.results == ()
    assert list(desk.events.drain()) == [ConfirmationStored(stored.id, None)]


def test_full_width_and_wareki_give_the_same_answer(desk: Desk) -> None:
    p = person("P025")
    half = desk.check(as_typed("P025"))
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    full = desk.check(
        NumbersInput(
            insurer_number=p.insurer_number.translate(full_width),
            symbol=p.symbol.translate(full_width),
            number=p.number.translate(full_width),
            branch=p.branch.translate(full_width),
            birthdate="Ｓ５８．８．７",  # 1983-08-07 in 和暦, full width
        )
    )
    wareki = desk.check(as_typed("P025", birthdate="昭和58年8月7日"))
    assert p.birthdate == "19830807"
    for other in (full, wareki):
        assert other.badge == half.badge == Badge.VALID.name
        assert other.result.results == half.result.results
        assert other.result.search == half.result.search
    assert len({half.file_id, full.file_id, wareki.file_id}) == 3


def test_recheck_asks_again_with_the_stored_numbers(desk: Desk) -> None:
    first = desk.check(as_typed("P008", branch=""))
    again = desk.checks.recheck(first.id, actor="reception")
    assert again.id != first.id
    assert again.badge == Badge.VALID.name
    assert again.result.results == first.result.results
