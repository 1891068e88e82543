"""The synthetic population: deterministic, valid identifiers, every scenario covered."""

from __future__ import annotations

import re
from datetime import date

import pytest

from sim.grants import public_expense_scenarios
from sim.people import DEFAULT_PIN
from sim.population import REFERENCE_DATE, Person, person, population
from sync.identifiers import validate_birthdate, validate_insurer_number

KATAKANA = re.compile(r"[ァ-ヶー]+\u3000[ァ-ヶー]+")


def age(p: Person) -> int:
    born = date(int(p.birthdate[:4]), int(p.birthdate[4:6]), int(p.birthdate[6:]))
    had_birthday = (REFERENCE_DATE.month, REFERENCE_DATE.day) >= (born.month, born.day)
    return REFERENCE_DATE.year - born.year - (0 if had_birthday else 1)


def where(**fields: object) -> list[Person]:
    return [p for p in population() if all(getattr(p, k) == v for k, v in fields.items())]


def test_population_is_deterministic_and_large_enough() -> None:
    people = population()
    assert people == population()
    assert len(people) >= 40
    assert [p.id for p in people] == [f"P{i:03d}" for i in range(1, len(people) + 1)]


def test_identifiers_are_well_formed() -> None:
    for p in population():
        assert validate_insurer_number(p.insurer_number) == p.insurer_number, p.id
        assert validate_birthdate(p.birthdate) == p.birthdate, p.id
        assert KATAKANA.fullmatch(p.name_kana), p.id
        assert p.sex in ("1", "2")
        assert re.fullmatch(r"[0-9]{4}", p.pin), p.id
        assert re.fullmatch(r"[0-9]{2}", p.branch), p.id
        assert re.fullmatch(r"[0-9]{7}", p.post_number), p.id
        assert p.card_status in ("valid", "expiring", "grace", "expired", "revoked", "none")
        assert 0 <= p.pin_tries_left <= 3
        assert p.validity in ("1", "2", "3", "4", "5", "6")


def test_most_people_are_valid_30_percent_with_the_default_pin() -> None:
    ordinary = where(validity="1", contribution_ratio="030")
    assert len(ordinary) > len(population()) / 2
    assert sum(p.pin == DEFAULT_PIN for p in population()) > len(population()) * 0.9


def test_preschool_children_pay_20_percent() -> None:
    children = where(preschool=True)
    assert children
    assert all(age(p) < 6 and p.contribution_ratio == "020" for p in children)


def test_age_70_to_74_has_elderly_certificates_at_both_ratios() -> None:
    elderly = [p for p in population() if p.elderly_ratio]
    assert {p.elderly_ratio for p in elderly} == {"020", "030"}
    assert all(70 <= age(p) <= 74 for p in elderly)
    assert all(p.elderly_ratio == p.contribution_ratio for p in elderly)


def test_late_stage_elderly_are_75_and_insured_by_a_39_insurer() -> None:
    kouki = [p for p in population() if p.insurer_number.startswith("39")]
    assert any(p.contribution_ratio == "010" for p in kouki)
    assert all(age(p) >= 75 for p in kouki)


def test_kokuho_has_six_digit_insurer_numbers() -> None:
    assert any(len(p.insurer_number) == 6 for p in population())


def test_several_people_have_limit_certificate_information() -> None:
    limited = [p for p in population() if p.limit_classification]
    assert len(limited) >= 3
    assert all(re.fullmatch(r"[AB][0-9]{2}", p.limit_flag) for p in limited)


def test_lost_qualification_has_a_date_and_reason() -> None:
    lost = where(validity="2")
    assert lost
    assert all(p.disqualification_date and p.reason_of_loss for p in lost)


def test_invalid_with_newer_qualification_points_at_a_valid_record() -> None:
    (old,) = where(validity="3")
    newer = person(old.newer_id)
    assert newer.validity == "1"
    assert (newer.name, newer.birthdate) == (old.name, old.birthdate)
    assert newer.qualification_date > old.disqualification_date


def test_not_found_person_is_unregistered() -> None:
    assert all(not p.registered for p in where(validity="4"))
    assert where(validity="4", card_status="valid")


def test_multiple_matches_share_numbers() -> None:
    dupes = where(validity="5")
    assert len(dupes) >= 2
    for p in dupes:
        other = person(p.duplicate_of)
        assert (other.insurer_number, other.symbol, other.number, other.birthdate) == (
            p.insurer_number,
            p.symbol,
            p.number,
            p.birthdate,
        )


def test_card_and_pin_trouble_is_covered() -> None:
    assert where(card_status="expired")
    assert where(card_status="revoked")
    assert where(card_status="none")
    assert where(pin_tries_left=1, card_status="valid")
    assert where(pin_tries_left=0, card_status="valid")


def test_someone_has_a_name_outside_jis_x_0208() -> None:
    def in_jis_x_0208(name: str) -> bool:
        try:
            name.encode("iso2022_jp")  # ASCII + JIS X 0208 only
        except UnicodeEncodeError:
            return False
        return True

    assert not all(in_jis_x_0208(p.name) for p in population())


def test_scenarios_are_bilingual() -> None:
    assert all(" / " in p.scenario for p in population())


def test_unknown_person_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match="P999"):
        person("P999")
    assert person("P001").id == "P001"


def test_the_public_expense_people_follow_every_other_id() -> None:
    # sim/grants.py's people come last, in their order: no earlier id moved when they were added.
    people = population()
    grants = public_expense_scenarios()
    assert list(people[-len(grants) :]) == grants
    assert [p.id for p in grants] == ["P051", "P052", "P053", "P054", "P055"]
