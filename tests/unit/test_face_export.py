"""Face files for the receipt computer: the name and content as the official terminal's face/
folder has them, read back by an independent reader for every person of the synthetic
population, queued with the answer and written whole, kept until the folder takes them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus
from device.export import FaceExport
from sim.central.service import CentralService
from sim.pki import PkiPaths
from sim.population import population
from sync.facefile import face_file_bytes, face_file_name
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import CentralAnswer, QualificationTransport
from sync.xmldoc import MessageError
from sync.xmlmsg import QualificationRequest, SearchInfo, build_request, parse_result
from tests.face_reader import read_face_file

CODE = "1312345670"
NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)  # 10:30 JST


def answer_for(service: CentralService, person_id: str, file_id: str) -> bytes:
    person = next(p for p in population() if p.id == person_id)
    request = QualificationRequest(
        medical_institution_code=CODE,
        confirmation_date="20260401",
        file_id=file_id,
        reference_classification="2",
        search=SearchInfo(
            insurer_number=person.insurer_number.zfill(8),
            number=person.number,
            birthdate=person.birthdate,
            symbol=person.symbol,
            branch=person.branch,
        ),
    )
    return service.qualify(build_request(request), CODE).body


def test_the_name_follows_the_terminals_face_files() -> None:
    name = face_file_name(CODE, "0a1b2c", "20260401103000")
    assert name == "OQSsiquc01res_face_13123456700a1b2c_20260401103000.xml"
    for bad in (("131234567", "0a", "20260401103000"), (CODE, "a/b", "20260401103000")):
        with pytest.raises(MessageError):
            face_file_name(*bad)
    with pytest.raises(MessageError):
        face_file_name(CODE, "0a", "2026040110")


def test_every_person_of_the_population_reads_back_with_an_independent_reader(
    tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]
) -> None:
    service = CentralService(pki_at(NOW), clock=lambda: NOW)
    people = population()
    for n, person in enumerate(people):
        raw = answer_for(service, person.id, f"f{n:04d}")
        result = parse_result(raw)
        path = tmp_path / face_file_name(CODE, result.file_id, result.process_time)
        path.write_bytes(face_file_bytes(result))
        read = read_face_file(path)
        assert (read.institution_code, read.name_id) == (CODE, f"f{n:04d}")
        assert read.name_time == result.process_time == read.header["ProcessExecutionTime"]
        assert read.header["ReferenceClassification"] == "1"  # a card visit's result
        assert read.header["ArbitraryFileIdentifier"] == result.file_id
        assert read.body["QualificationValidity"] == result.validity, person.id
        assert len(read.people) == len(result.results), person.id
        for shown, q in zip(read.people, result.results, strict=True):
            assert shown["Name"] == q.name, person.id  # 外字 (𠮷) too, as a reference
            assert shown["NameKana"] == q.name_kana
            assert shown["Birthdate"] == q.birthdate
            assert shown["InsurerNumber"] == q.insurer_number
            assert shown["InsuredIdentificationNumber"] == q.number
            assert shown["InsuredBranchNumber"] == q.branch
            assert shown["InsuredPartialContributionRatio"] == q.contribution_ratio
    assert any("𠮷" in p.name for p in people)  # the population holds a character not in JIS


class _Central:
    def __init__(self, service: CentralService) -> None:
        self.service = service

    def nonce(self) -> bytes:
        return b"n" * 32

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        raw = self.service.qualify(build_request(request), CODE).body
        return CentralAnswer(parse_result(raw), raw, 0.0)


@pytest.fixture
def rig(
    tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]
) -> Iterator[tuple[Store, Confirmations, Path]]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    folder = tmp_path / "face"
    folder.mkdir()
    export = FaceExport(store, folder, CODE, clock=lambda: NOW)
    central = _Central(CentralService(pki_at(NOW), clock=lambda: NOW))
    confirmations = Confirmations(
        transport=cast(QualificationTransport, central), store=store, bus=EventBus(), export=export
    )
    yield store, confirmations, folder
    store.close()


def keep(confirmations: Confirmations, person_id: str, file_id: str, kind: str) -> int:
    service = cast(_Central, confirmations._transport).service
    raw = answer_for(service, person_id, file_id)
    stored = confirmations.keep(
        CentralAnswer(parse_result(raw), raw, 0.0),
        file_id=file_id,
        kind=kind,
        method="pin" if kind == "card" else "numbers",
        actor="reader",
    )
    return stored.id


def test_a_card_visits_answer_is_queued_with_it_and_written_whole(
    rig: tuple[Store, Confirmations, Path],
) -> None:
    store, confirmations, folder = rig
    keep(confirmations, "P001", "aa01", "card")
    keep(confirmations, "P025", "aa02", "numbers")  # a numbers check: not a face file
    assert [i.name for i in store.exports_pending()] == [
        face_file_name(CODE, "aa01", "20260401103000")
    ]
    export = FaceExport(store, folder, CODE)
    report = export.write_pending()
    assert report.written == 1 and not report.failed
    (written,) = folder.iterdir()  # no temporary file left beside it
    assert read_face_file(written).people[0]["Name"] == "佐藤　翔太"
    assert store.exports_pending() == [] and store.export_counts().written == 1
    assert export.write_pending().written == 0  # nothing written twice
    assert "export.written" in [e.action for e in store.audit_entries()]


def test_a_folder_that_refuses_keeps_the_files_until_it_takes_them(
    rig: tuple[Store, Confirmations, Path], tmp_path: Path
) -> None:
    store, confirmations, folder = rig
    keep(confirmations, "P001", "bb01", "card")
    keep(confirmations, "P004", "bb02", "card")
    gone = tmp_path / "share-not-mounted"
    refused = FaceExport(store, gone, CODE).write_pending()
    assert refused.written == 0 and "FileNotFoundError" in refused.failed
    counts = store.export_counts()
    assert counts.pending == 2 and "FileNotFoundError" in counts.last_error
    assert store.exports_pending()[0].attempts == 1
    gone.mkdir()
    assert FaceExport(store, gone, CODE).write_pending().written == 2
    assert sorted(p.name for p in gone.iterdir()) == sorted(
        face_file_name(CODE, f, "20260401103000") for f in ("bb01", "bb02")
    )
    assert store.export_counts().last_error == ""


def test_exporting_off_queues_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    try:
        off = FaceExport(store, None, CODE)
        assert not off.enabled and off.name_for("card", "pin", "f1", "20260401103000") == ""
        assert off.write_pending().written == 0
    finally:
        store.close()


def test_a_missing_processing_time_takes_this_boxs_time_in_japan() -> None:
    export = FaceExport(cast(Store, None), Path("/x"), CODE, clock=lambda: NOW)
    assert export.name_for("card", "pin", "f1", "") == face_file_name(CODE, "f1", "20260401103000")
    assert export.name_for("card", "face", "f1", "20260401103000") == ""  # the terminal's own


def test_the_writer_thread_writes_what_waits_at_start_and_after_each_answer(
    rig: tuple[Store, Confirmations, Path],
) -> None:
    store, confirmations, folder = rig
    keep(confirmations, "P001", "cc01", "card")  # left by "the last run"
    bus = EventBus()
    writer = FaceExport(store, folder, CODE, retry_s=3600)  # no retry within the test

    def files(n: int) -> int:
        deadline = time.monotonic() + 10
        while len(list(folder.iterdir())) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(list(folder.iterdir()))

    writer.start(bus)
    try:
        assert files(1) == 1
        stored = keep(confirmations, "P004", "cc02", "card")
        bus.publish(ConfirmationStored(stored, None))  # the wake-up an answer brings
        assert files(2) == 2
    finally:
        writer.stop()
