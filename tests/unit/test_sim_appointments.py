"""`onshi sim appointments`: the sample list the demo imports is one the appliance takes whole,
lists every scenario of the population once (the plain "valid" people only thrice), and leaves
one symbol out so the bulk pre-check meets 記号番号の相違."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sim.appointments import PLAIN_KEPT, sample_csv, sample_people
from sim.cli import main
from sim.population import population
from sync.appointments import parse_appointments

DAY = date(2026, 12, 1)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_the_sample_list_is_taken_whole(encoding: str) -> None:
    rows = parse_appointments(sample_csv(DAY, encoding=encoding), today=date(2026, 11, 30))
    people = sample_people()
    assert len(rows) == len(people)
    assert {row.at.date() for row in rows} == {DAY}
    assert [row.kana.split() for row in rows] == [p.name_kana.split() for p in people]
    assert len({row.patient_number for row in rows}) == len(rows)


def test_every_scenario_once_and_the_common_one_thrice() -> None:
    people = population()
    chosen = sample_people(people)
    scenarios = {p.scenario for p in people}
    assert {p.scenario for p in chosen} == scenarios
    counts = {s: sum(1 for p in chosen if p.scenario == s) for s in scenarios}
    assert max(counts.values()) == PLAIN_KEPT
    assert len(chosen) == len(scenarios) + PLAIN_KEPT - 1


def test_one_symbol_is_left_out() -> None:
    rows = parse_appointments(sample_csv(DAY), today=date(2026, 11, 30))
    by_number = {(p.insurer_number, p.number): p for p in population()}
    left_out = [r for r in rows if not r.symbol and by_number[(r.insurer_number, r.number)].symbol]
    assert len(left_out) == 1


def test_the_command_writes_a_file_and_refuses_a_bad_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "list.csv"
    assert main(["appointments", "--day", "2026-12-01", "--out", str(out)]) == 0
    assert out.read_bytes() == sample_csv(DAY)
    assert main(["appointments", "--day", "12/01"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
