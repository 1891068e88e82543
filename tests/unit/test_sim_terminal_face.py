"""The simulated terminal's own reader (sim/terminal.py): a card placed on it becomes a face
file in face/ as the official terminal writes them — named, encoded and shaped as DOMAIN.md §8
says (checked with the independent reader of tests/face_reader.py), holding the simulated
central's answer for that person — and the faults apply to face files as to answers."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from sim.central.service import CentralService
from sim.cli import holds_certificate, main
from sim.pki import PkiPaths
from sim.population import population
from sim.terminal import (
    READER_FOLDER,
    Reply,
    SimTerminal,
    TerminalFaults,
    place_on_reader,
    wait_taken,
)
from sync.facefile import parse_face_name
from sync.xmlmsg import build_request, parse_result, request_file_name
from tests.face_reader import read_face_file

from .test_face_export import CODE, NOW
from .test_sim_terminal import place, request_for, wait_for, wait_gone

LONG_S = 20.0
STAMP = "20260401103000"  # NOW in Japan time


def expected_answer(person_id: str) -> tuple[str, str, str]:
    """(SegmentOfResult, ErrorCode, QualificationValidity) the central gives this card."""
    p = next(q for q in population() if q.id == person_id)
    if p.card_status == "expired":
        return ("9", "EC03", "")
    if p.card_status == "revoked":
        return ("9", "EC05", "")
    if not p.registered:
        return ("1", "", "4")
    return (
        "1",
        "",
        "5" if p.duplicate_of or any(q.duplicate_of == p.id for q in population()) else p.validity,
    )


@pytest.fixture
def terminal(tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]) -> SimTerminal:
    pki = pki_at(NOW)
    service = CentralService(pki, encoding="shift_jis", clock=lambda: NOW)
    return SimTerminal(tmp_path, service, TerminalFaults(delay_s=0), pki=pki, poll_s=0.01)


def faces(root: Path) -> list[str]:
    return sorted(n for n in os.listdir(root / "face") if not n.startswith("."))


def wait_faces(root: Path, count: int) -> list[str]:
    deadline = time.monotonic() + LONG_S
    while len(found := faces(root)) < count:
        assert time.monotonic() < deadline, f"{count} face files never appeared: {found}"
        time.sleep(0.01)
    return found


def test_every_card_of_the_population_makes_the_official_face_file(
    tmp_path: Path, terminal: SimTerminal
) -> None:
    holders = [p for p in population() if p.card_status != "none"]
    assert len(holders) > 40
    for p in holders:
        name, data = terminal.face_file(p.id)
        path = tmp_path / "face" / name
        path.write_bytes(data)
        record = read_face_file(path)  # Shift_JIS, CRLF, the name's parts
        assert (record.institution_code, record.name_time) == (CODE, STAMP), p.id
        assert parse_face_name(name) is not None
        header = record.header
        assert header["ReferenceClassification"] == "1"
        assert header.get("ArbitraryFileIdentifier", "") == ""  # a face file answers no request
        assert header["ProcessExecutionTime"] == STAMP
        segment, error, validity = expected_answer(p.id)
        assert (header["SegmentOfResult"], header.get("ErrorCode", "")) == (segment, error), p.id
        assert record.body.get("QualificationValidity", "") == validity, p.id
        if validity in ("1", "2", "6"):
            (shown,) = record.people
            assert (shown["Name"], shown["Birthdate"]) == (p.name, p.birthdate), p.id
    # face files of different visits never share a name (the id part is the terminal's own)
    assert len(set(faces(tmp_path))) == len(holders)


def test_a_card_with_a_blocked_pin_passes_by_face(terminal: SimTerminal) -> None:
    # P022's PIN is blocked: the official reader matches the face instead.
    _, data = terminal.face_file("P022")
    assert parse_result(data, face=True).validity == "1"


def test_nobody_without_a_card_can_be_placed(terminal: SimTerminal) -> None:
    from sim.terminal import TerminalCardError

    for person_id in ("P025", "P999"):
        with pytest.raises(TerminalCardError):
            terminal.face_file(person_id)


def test_a_card_placed_on_the_reader_is_taken_and_lands_in_face(
    tmp_path: Path, terminal: SimTerminal
) -> None:
    terminal.start()
    try:
        request = place_on_reader(tmp_path, "P010")
        assert wait_taken(request, LONG_S)
        (name,) = wait_faces(tmp_path, 1)
    finally:
        terminal.stop()
    result = parse_result((tmp_path / "face" / name).read_bytes(), face=True)
    assert result.results[0].name == "田中　誠"
    # every consent agreed at the reader is echoed, and registered for drug/checkup requests
    assert {c.kind for c in result.results[0].consents} >= {"drug", "checkup"}
    assert os.listdir(tmp_path / READER_FOLDER) == []
    assert terminal.faces == 1


def test_a_request_nobody_takes_is_taken_back(tmp_path: Path) -> None:
    request = place_on_reader(tmp_path, "P001")
    assert not wait_taken(request, 0.05)
    assert not request.exists()


def test_half_written_face_files_are_incomplete_for_a_while(
    tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]
) -> None:
    pki = pki_at(NOW)
    service = CentralService(pki, encoding="shift_jis", clock=lambda: NOW)
    faults = TerminalFaults(delay_s=0, half_written=True)
    terminal = SimTerminal(tmp_path, service, faults, pki=pki, poll_s=0.01)
    terminal.start()
    try:
        place_on_reader(tmp_path, "P001")
        (name,) = wait_faces(tmp_path, 1)
        first = (tmp_path / "face" / name).read_bytes()
        deadline = time.monotonic() + LONG_S
        while terminal.faces < 1:  # counted once the whole file is written
            assert time.monotonic() < deadline
            time.sleep(0.01)
        whole = (tmp_path / "face" / name).read_bytes()
    finally:
        terminal.stop()
    assert len(first) < len(whole)
    assert parse_result(whole, face=True).results[0].name == "佐藤　翔太"


def test_duplicate_writes_the_same_visit_twice_more(
    tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]
) -> None:
    pki = pki_at(NOW)
    service = CentralService(pki, encoding="shift_jis", clock=lambda: NOW)
    faults = TerminalFaults(delay_s=0, duplicate=True)
    terminal = SimTerminal(tmp_path, service, faults, pki=pki, poll_s=0.01)
    terminal.start()
    try:
        place_on_reader(tmp_path, "P001")
        names = wait_faces(tmp_path, 2)
    finally:
        terminal.stop()
    assert len(names) == 2  # the first name written twice, and a second name
    first, second = ((tmp_path / "face" / n).read_bytes() for n in names)
    assert first == second
    assert all(parse_face_name(n) is not None for n in names)


def test_a_silent_terminal_leaves_the_card_where_it_is(
    tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]
) -> None:
    pki = pki_at(NOW)
    service = CentralService(pki, clock=lambda: NOW)
    terminal = SimTerminal(tmp_path, service, TerminalFaults(silent=True), pki=pki)
    request = place_on_reader(tmp_path, "P001")
    terminal.scan()
    assert request.exists() and faces(tmp_path) == []


def test_another_kind_of_request_is_one_more_handler(
    tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]
) -> None:
    service = CentralService(pki_at(NOW), clock=lambda: NOW)
    terminal = SimTerminal(tmp_path, service, TerminalFaults(delay_s=0), poll_s=0.01)
    seen: list[str] = []

    def checkups(name: str, body: bytes) -> list[Reply]:
        seen.append(name)
        base = name.replace("req_", "res_", 1).removesuffix(".xml")
        return [Reply(base + ".xml", b"<x/>"), Reply(base + ".pdf", b"%PDF-1.4")]

    terminal.handlers["TKKsiquc01req"] = checkups
    (tmp_path / "req" / "TKKsiquc01req_k1.xml").write_bytes(b"<x/>")
    (tmp_path / "req" / "ABCsiquc01req_k2.xml").write_bytes(b"<x/>")  # nobody's: left alone
    terminal.start()
    try:
        wait_for(tmp_path / "res" / "TKKsiquc01res_k1.pdf")
        wait_gone(tmp_path / "req" / "TKKsiquc01req_k1.xml")
        # the qualification handler is still there
        body = build_request(request_for("P001", "q1"), "shift_jis")
        place(tmp_path / "req" / request_file_name("q1"), body)
        wait_for(tmp_path / "res" / "OQSsiquc01res_q1.xml")
    finally:
        terminal.stop()
    assert seen == ["TKKsiquc01req_k1.xml"]
    assert (tmp_path / "res" / "TKKsiquc01res_k1.xml").read_bytes() == b"<x/>"
    assert os.listdir(tmp_path / "req") == ["ABCsiquc01req_k2.xml"]


def test_the_face_command_refuses_what_no_reader_would_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("req", "res", "face", "trash"):
        (tmp_path / folder).mkdir()
    assert main(["face", "--root", str(tmp_path), "--person", "P025"]) == 1
    assert "P025" in capsys.readouterr().err  # no My Number card
    assert main(["face", "--root", str(tmp_path / "nowhere"), "--person", "P001"]) == 1
    assert "onshi sim terminal" in capsys.readouterr().err
    # nobody takes it: said so, and the card is taken back
    assert main(["face", "--root", str(tmp_path), "--person", "P001", "--timeout", "0.05"]) == 1
    assert "--silent" in capsys.readouterr().err
    assert os.listdir(tmp_path / READER_FOLDER) == []


def test_people_lists_the_numbers_and_who_holds_a_certificate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["people", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert [i for i, r in rows.items() if r["certificate"]] == ["P025"]
    people = population()
    assert [p.id for p in people if holds_certificate(p, people)] == ["P025"]
    p025 = next(p for p in people if p.id == "P025")
    assert (rows["P025"]["insurer_number"], rows["P025"]["number"]) == (
        p025.insurer_number,
        p025.number,
    )


def test_the_terminals_institution_is_the_appliances_by_default() -> None:
    from device.settings import SETTINGS
    from sim import cli, terminal

    (code,) = [s.default for s in SETTINGS if s.name == "medical_institution_code"]
    assert cli.DEFAULT_INSTITUTION == terminal.DEFAULT_INSTITUTION == code
    args = cli._parser().parse_args(["terminal", "--root", "/tmp/x"])
    assert args.institution == code


@pytest.mark.parametrize("consents", [("drug", "checkup"), ()], ids=["agreed", "none"])
def test_consent_given_at_the_reader_opens_the_drug_history_through_the_folders(
    terminal: SimTerminal, consents: tuple[str, ...]
) -> None:
    from sim.terminal import DRUG
    from sync.medinfo import (
        MedicalInfoRequest,
        build_medinfo_request,
        parse_medinfo_result,
        request_file_name,
    )

    p = next(q for q in population() if q.id == "P010")
    terminal.face_file(p.id, consents)  # the visit on the official reader
    request = MedicalInfoRequest(
        kind="drug",
        medical_institution_code=CODE,
        file_id="yzk1",
        insurer_number=p.insurer_number,
        number=p.number,
        birthdate=p.birthdate,
        start_month="202304",
        end_month="202603",
        symbol=p.symbol,
        branch=p.branch,
    )
    name = request_file_name(request)
    (reply,) = terminal.handlers[DRUG](name, build_medinfo_request(request))
    answer = parse_medinfo_result(reply.data)
    assert answer.segment_of_result == ("1" if consents else "9")
