"""Every person of the population, answered by the simulator, survives an XML round trip."""

from __future__ import annotations

from typing import Any

import pytest

from sim.central.service import CentralService
from sim.population import population
from sync.codes import Verdict as Badge
from sync.codes import badge
from sync.xmlmsg import (
    QualificationRequest,
    SearchInfo,
    build_request,
    build_result,
    parse_result,
)


@pytest.mark.parametrize("person", population(), ids=lambda p: p.id)
@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_answer_for_every_person_round_trips(sim_pki: Any, person: Any, encoding: str) -> None:
    service = CentralService(sim_pki, encoding=encoding)
    request = QualificationRequest(
        medical_institution_code="1312345670",
        confirmation_date="20260401",
        file_id=f"rt{person.id}",
        reference_classification="2",
        search=SearchInfo(
            person.insurer_number,
            person.number,
            person.birthdate,
            symbol=person.symbol,
            limit_consent=True,
        ),
    )
    answer = service.qualify(build_request(request), "1312345670")
    result = parse_result(answer.body)
    assert parse_result(build_result(result, encoding)) == result
    assert parse_result(build_result(result, "utf-8")) == result
    if person.validity == "1" and not person.duplicate_of:
        assert badge(result) is Badge.VALID
        assert result.results[0].name == person.name
