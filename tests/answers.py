"""Answers of the simulated central for its whole population, to fill a store as a morning at
the desk would (cards and numbers, 限度額 and 高齢受給者, 公費 and 医療扶助, expired periods,
not-found answers): the row-summary tests and the desk bench (bench/desk.py) both read them.
"""

from __future__ import annotations

from sim.central.service import _qualification
from sim.population import population
from sync.xmlmsg import ConsentState, QualificationResult, SearchInfo, build_result

MIC = "1312345670"


def answer(
    n: int, when: str, *, found: bool, consents: tuple[ConsentState, ...]
) -> tuple[bytes, QualificationResult, str]:
    """The n-th answer (raw XML, parsed, kind), given at `when` (YYYYMMDDHHMMSS in Japan):
    every third one a numbers check, the others card visits; `found` False: nobody found."""
    people = population()
    p = people[n % len(people)]
    day = when[:8]
    kind = "card" if n % 3 else "numbers"
    result = QualificationResult(
        process_time=when,
        confirmation_date=day,
        medical_institution_code=MIC,
        file_id=f"f{n:06d}",
        reference_classification="1" if kind == "card" else "2",
        segment_of_result="1",
        processing_status="1" if found else "2",
        processing_code="" if found else "EQ0001",
        processing_message="" if found else "該当する資格情報がありません。",
        validity="1" if found else "",
        character_code="1",
        search=None
        if kind == "card"
        else SearchInfo(p.insurer_number, p.number, p.birthdate, p.symbol, p.branch),
        results=(_qualification(p, consents, n % 2 == 0, on=day, institution=MIC),)
        if found
        else (),
    )
    return build_result(result), result, kind
