"""A receipt computer's appointments list (CSV) made from the synthetic population, for the demo
and for trying the 「明日の予約」 page: `onshi sim appointments --day 2026-12-01 > list.csv`.

One appointment per scenario of the population (the many plain "valid" people only thrice), ten
minutes apart from 09:00, so a bulk pre-check of the list meets every class the simulator can
answer; one of them is written without its symbol, which the national system still matches, so
記号番号の相違 appears too. Shift_JIS with CRLF and Japanese column names, as exports are.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from sim.population import Person, population

HEADER = "患者番号,カナ氏名,生年月日,保険者番号,記号,番号,枝番,予約日時"
PLAIN_KEPT = 3  # how many of the people sharing one scenario are listed
FIRST_AT = (9, 0)
EVERY_MIN = 10


def sample_people(people: list[Person] | None = None) -> list[Person]:
    """The people listed: each scenario once, the most common scenario PLAIN_KEPT times."""
    people = population() if people is None else people
    seen: Counter[str] = Counter()
    chosen = []
    for person in people:
        seen[person.scenario] += 1
        if seen[person.scenario] <= PLAIN_KEPT if _plain(person, people) else True:
            chosen.append(person)
    return chosen


def _plain(person: Person, people: list[Person]) -> bool:
    return sum(1 for p in people if p.scenario == person.scenario) > PLAIN_KEPT


def sample_csv(day: date, *, encoding: str = "cp932") -> bytes:
    """The list of `day` (see the module's doc), in `encoding` ("cp932" or "utf-8")."""
    start = datetime(day.year, day.month, day.day, *FIRST_AT)
    lines = [HEADER]
    symbol_left_out = False
    for i, person in enumerate(sample_people()):
        symbol = person.symbol
        # the first plain person with a symbol is listed without it: 記号番号の相違
        if not symbol_left_out and symbol and person.scenario.startswith("有効・3割 /"):
            symbol, symbol_left_out = "", True
        at = start + timedelta(minutes=EVERY_MIN * i)
        lines.append(
            f"K{i + 1:05d},{person.name_kana},{person.birthdate},{person.insurer_number},"
            f"{symbol},{person.number},{person.branch},{at:%Y-%m-%d %H:%M}"
        )
    return ("\r\n".join(lines) + "\r\n").encode(encoding)
