"""The bulk inquiry and 照会番号 registration through the real simulators: the simulated central
over real mutual TLS (CentralClient), and the real `onshi sim terminal` process on real folders
(FolderTransport, answers zipped). One upload of ~50 entries, polled until ready; a reference
number registered, then carried by a single answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.population import population
from sync.bulkmsg import (
    BulkAnswer,
    BulkEntry,
    BulkQuery,
    BulkUpload,
    ReferenceRegistration,
    ReferenceRequest,
)
from sync.folders import FolderTransport
from sync.transport import CentralRefused, QualificationTransport
from sync.xmlmsg import QualificationRequest, SearchInfo

from .conftest import MEDICAL_INSTITUTION_CODE, central_client
from .test_folder_transport import data, sim_terminal  # noqa: F401  (fixture and helper)

MIC = MEDICAL_INSTITUTION_CODE
ENTRIES = 50
POLL_S = 0.1
# person → QualificationValidity (the population's scenarios): a unit answers as a single one
SCENARIOS = {"P001": "1", "P013": "2", "P014": "3", "P016": "4", "P017": "5"}


def searches() -> list[tuple[str, SearchInfo]]:
    people = [p for p in population() if p.id in SCENARIOS] + list(population())
    return [
        (p.id, SearchInfo(p.insurer_number, p.number, p.birthdate, symbol=p.symbol))
        for p in people[:ENTRIES]
    ]


def run_bulk(transport: QualificationTransport, tag: str) -> tuple[BulkAnswer, int]:
    entries = tuple(BulkEntry(f"a{i}", s) for i, (_, s) in enumerate(searches()))
    upload = BulkUpload(MIC, "20260401", f"{tag}-up", entries)
    receipt = transport.bulk_upload(upload)
    assert transport.bulk_upload(upload).reception_number == receipt.reception_number  # retry
    polls = 0
    while True:
        polls += 1
        query = BulkQuery(MIC, f"{tag}-q{polls}", receipt.reception_number)
        answer = transport.bulk_result(query)
        if answer.ready:
            return answer, polls
        assert polls < 200, "never ready"
        time.sleep(POLL_S)


def check_units(answer: BulkAnswer) -> None:
    wanted = searches()
    assert answer.processed == len(wanted) == len(answer.units) and answer.dropped == 0
    for i, (unit, (person_id, search)) in enumerate(zip(answer.units, wanted, strict=True)):
        assert unit.identifier == f"a{i}"
        assert unit.result.search is not None
        assert unit.result.search.number == search.number
        if person_id in SCENARIOS and i < len(SCENARIOS):
            assert unit.result.validity == SCENARIOS[person_id], person_id


def register_then_confirm(transport: QualificationTransport, tag: str, number: str) -> None:
    p = population()[1]
    search = SearchInfo(p.insurer_number, p.number, p.birthdate, symbol=p.symbol)
    registered = transport.register_references(
        ReferenceRequest(MIC, f"{tag}-ref", (ReferenceRegistration(number, search),))
    )
    assert [o.registered for o in registered.outcomes] == [True]
    single = QualificationRequest(MIC, "20260401", f"{tag}-one", "2", search=search)
    answer = transport.confirm(single)
    assert [q.reference_number for q in answer.result.results] == [number]


@pytest.fixture
def central(central_server: Any, sim_pki: Any) -> Iterator[Any]:
    desk = central_server.service.bulk
    delay, desk.delay_s = desk.delay_s, 0.3
    yield central_client(sim_pki, central_server.url)
    desk.delay_s = delay
    desk.forget_references()  # the session's central: later tests see no 照会番号


def test_bulk_and_reference_numbers_over_mtls(central: Any) -> None:
    answer, polls = run_bulk(central, "api")
    assert polls > 1  # in progress first
    check_units(answer)
    register_then_confirm(central, "api", "PN-API-1")
    with pytest.raises(CentralRefused) as unknown:
        central.bulk_result(BulkQuery(MIC, "api-unknown", "0"))
    assert unknown.value.status == 404
    central.close()


def test_bulk_and_reference_numbers_through_the_terminal_folders(
    tmp_path: Path,
    data: Path,  # noqa: F811
) -> None:
    root = tmp_path / "terminal"
    flags = ("--delay", "0.02", "--bulk-delay", "0.3", "--zip-bulk")
    with (
        sim_terminal(root, data, *flags),
        FolderTransport(root, timeout_s=20, rescan_s=0.2) as transport,
    ):
        answer, polls = run_bulk(transport, "dir")
        assert polls > 1
        check_units(answer)
        register_then_confirm(transport, "dir", "PN-DIR-1")
    assert (root / "trash" / f"OQSmuquc02res_dir-q{polls}.zip").exists()
    assert (root / "trash" / "OQSmuquc01req_dir-up.xml").exists()
    assert (root / "trash" / "OQSsiimm01res_dir-ref.xml").exists()
