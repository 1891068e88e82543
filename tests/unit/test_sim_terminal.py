"""The simulated 資格確認端末 (sim/terminal.py): the simulated central answering via folders."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sim.central.service import CentralService
from sim.cli import _parser
from sim.population import person
from sim.terminal import SimTerminal, TerminalFaults
from sync.xmlmsg import (
    QualificationRequest,
    SearchInfo,
    build_request,
    parse_result,
    request_file_name,
    result_file_name,
)

MIC = "1312345670"
NOW = datetime(2026, 4, 1, 1, 30, tzinfo=UTC)  # 10:30 JST on the day the requests ask about
LONG_S = 20.0


def request_for(person_id: str, file_id: str) -> QualificationRequest:
    p = person(person_id)
    return QualificationRequest(
        medical_institution_code=MIC,
        confirmation_date="20260401",
        file_id=file_id,
        reference_classification="2",
        search=SearchInfo(p.insurer_number, p.number, p.birthdate, symbol=p.symbol, branch=""),
    )


def drop(root: Path, request: QualificationRequest) -> Path:
    return place(
        root / "req" / request_file_name(request.file_id), build_request(request, "shift_jis")
    )


def place(path: Path, body: bytes) -> Path:
    """Put a request where the terminal looks the way the appliance does: written under a
    temporary name, then renamed. A plain write can be seen half-written and go unanswered."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(body)
    os.replace(temporary, path)
    return path


def wait_for(path: Path) -> bytes:
    deadline = time.monotonic() + LONG_S
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_bytes()
        time.sleep(0.01)
    raise AssertionError(f"{path.name} never appeared")


def wait_gone(path: Path) -> None:
    deadline = time.monotonic() + LONG_S
    while path.exists():
        assert time.monotonic() < deadline, f"{path.name} never went"
        time.sleep(0.01)


@pytest.fixture
def service(pki_at: Any) -> CentralService:
    # The central's PKI and clock from the day the requests ask about (20260401), not today.
    return CentralService(pki_at(NOW), encoding="shift_jis", clock=lambda: NOW)


def started(root: Path, service: CentralService, faults: TerminalFaults) -> SimTerminal:
    terminal = SimTerminal(root, service, faults, poll_s=0.01)
    terminal.start()
    return terminal


def test_answers_each_request_with_the_simulated_centrals_answer(
    tmp_path: Path, service: CentralService
) -> None:
    terminal = started(tmp_path, service, TerminalFaults(delay_s=0))
    try:
        for file_id, person_id, validity in (("t1", "P001", "1"), ("t2", "P013", "2")):
            drop(tmp_path, request_for(person_id, file_id))
            raw = wait_for(tmp_path / "res" / result_file_name(file_id))
            assert raw.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
            result = parse_result(raw)
            assert (result.file_id, result.validity) == (file_id, validity)
        wait_gone(tmp_path / "req" / request_file_name("t1"))
        wait_gone(tmp_path / "req" / request_file_name("t2"))
    finally:
        terminal.stop()
    assert sorted(os.listdir(tmp_path)) == ["face", "req", "res", "trash"]
    assert os.listdir(tmp_path / "req") == []  # handled requests went to trash/
    assert sorted(os.listdir(tmp_path / "trash")) == [
        request_file_name("t1"),
        request_file_name("t2"),
    ]
    assert terminal.answered == 2


def test_temporary_names_and_other_files_are_not_requests(
    tmp_path: Path, service: CentralService
) -> None:
    terminal = started(tmp_path, service, TerminalFaults(delay_s=0))
    try:
        body = build_request(request_for("P001", "tmp1"))
        (tmp_path / "req" / f".{request_file_name('tmp1')}.tmp").write_bytes(body)
        (tmp_path / "req" / "notes.txt").write_bytes(b"x")
        drop(tmp_path, request_for("P002", "real1"))
        wait_for(tmp_path / "res" / result_file_name("real1"))
    finally:
        terminal.stop()
    assert sorted(os.listdir(tmp_path / "res")) == [result_file_name("real1")]


def test_duplicate_writes_a_stale_answer_for_another_id_first(
    tmp_path: Path, service: CentralService
) -> None:
    terminal = started(tmp_path, service, TerminalFaults(delay_s=0, duplicate=True))
    try:
        drop(tmp_path, request_for("P001", "dup1"))
        wait_for(tmp_path / "res" / result_file_name("dup1"))
    finally:
        terminal.stop()
    names = sorted(os.listdir(tmp_path / "res"))
    assert len(names) == 2 and result_file_name("dup1") in names
    (stale,) = [n for n in names if n != result_file_name("dup1")]
    assert parse_result((tmp_path / "res" / stale).read_bytes()).file_id != "dup1"


def test_half_written_answers_are_incomplete_for_a_while(
    tmp_path: Path, service: CentralService
) -> None:
    terminal = started(tmp_path, service, TerminalFaults(delay_s=0, half_written=True))
    try:
        drop(tmp_path, request_for("P001", "half1"))
        first = wait_for(tmp_path / "res" / result_file_name("half1"))
        time.sleep(0.6)  # the pause is 0.3 s: by now the rest is written
        whole = (tmp_path / "res" / result_file_name("half1")).read_bytes()
    finally:
        terminal.stop()
    assert len(first) < len(whole)
    assert parse_result(whole).file_id == "half1"


def test_silent_answers_nothing_and_leaves_requests_alone(
    tmp_path: Path, service: CentralService
) -> None:
    terminal = started(tmp_path, service, TerminalFaults(delay_s=0, silent=True))
    try:
        path = drop(tmp_path, request_for("P001", "quiet1"))
        time.sleep(0.2)
    finally:
        terminal.stop()
    assert path.exists() and os.listdir(tmp_path / "res") == []


def test_a_refused_request_is_answered_with_segment_9(
    tmp_path: Path, service: CentralService
) -> None:
    terminal = started(tmp_path, service, TerminalFaults(delay_s=0))
    request = request_for("P001", "same1")
    try:
        drop(tmp_path, request)
        wait_for(tmp_path / "res" / result_file_name("same1"))
        wait_gone(tmp_path / "req" / request_file_name("same1"))  # handled: in trash/
        (tmp_path / "res" / result_file_name("same1")).unlink()
        # the same id with another body: the simulated central's idempotency check refuses it
        drop(tmp_path, request_for("P002", "same1"))
        terminal._seen.clear()  # a new file of the same name
        raw = wait_for(tmp_path / "res" / result_file_name("same1"))
    finally:
        terminal.stop()
    result = parse_result(raw)
    assert (result.segment_of_result, result.error_code) == ("9", "E409")


def test_the_command_takes_the_fault_switches() -> None:
    args = _parser().parse_args(
        ["terminal", "--root", "/tmp/x", "--delay", "1.5", "--half-written", "--duplicate"]
    )
    assert (args.root, args.delay, args.half_written, args.duplicate, args.silent) == (
        Path("/tmp/x"),
        1.5,
        True,
        True,
        False,
    )
