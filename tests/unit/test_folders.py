"""The terminal's folder transport (sync/folders.py) against a small terminal thread on tmp dirs.

Where an answer is expected the deadline is long (it is never reached when the transport works);
only the tests that expect a timeout use a short one.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.config import ConfigError, load_config
from device.confirm import ConfirmationFailed, Confirmations
from device.events import EventBus
from device.parts import qualification_transport
from device.reasons import EndReason
from sync.breaker import BreakerState, CircuitBreaker
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.folders import FolderTransport
from sync.store import Store
from sync.transport import (
    CentralFault,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUnsupported,
)
from sync.xmlmsg import (
    CardAuthentication,
    MessageError,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_request,
    build_result,
    parse_request,
)

MIC = "1312345670"
LONG_S = 20.0  # a deadline never reached when the answer comes


def numbers_request(file_id: str, symbol: str = "記号") -> QualificationRequest:
    return QualificationRequest(
        medical_institution_code=MIC,
        confirmation_date="20260401",
        file_id=file_id,
        reference_classification="2",
        search=SearchInfo("06130012", "1234", "19800101", symbol=symbol, branch="01"),
    )


def answer_to(body: bytes, file_id: str | None = None) -> bytes:
    request = parse_request(body)
    return build_result(
        QualificationResult(
            process_time="20260401093000",
            confirmation_date=request.confirmation_date,
            medical_institution_code=request.medical_institution_code,
            file_id=request.file_id if file_id is None else file_id,
            reference_classification="2",
            segment_of_result="1",
            processing_status="1",
            validity="1",
            search=request.search,
        ),
        encoding="shift_jis",
    )


def result_name(file_id: str) -> str:
    return f"OQSsiquc01res_{file_id}.xml"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("req", "res", "face", "trash"):
        (tmp_path / name).mkdir()
    return tmp_path


def land(path: Path, data: bytes) -> None:
    """A whole file at once, as a careful writer does (temporary name, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


Handler = Callable[[Path, str, bytes], None]  # root, request file name, request body


class Terminal:
    """Answers each request in req/ with `handler` (on its own thread), and records what it saw."""

    def __init__(self, root: Path, handler: Handler | None = None) -> None:
        self.root = root
        self.handler = handler or self.answer
        self.seen: list[str] = []
        self.unreadable: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._handlers: list[threading.Thread] = []

    @staticmethod
    def answer(root: Path, name: str, body: bytes) -> None:
        land(root / "res" / name.replace("req_", "res_"), answer_to(body))
        os.replace(root / "req" / name, root / "trash" / name)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            for name in sorted(os.listdir(self.root / "req")):
                if name.startswith(".") or name in self.seen:
                    continue
                self.seen.append(name)
                try:
                    body = (self.root / "req" / name).read_bytes()
                    parse_request(body)
                except (OSError, MessageError):
                    self.unreadable.append(name)
                    continue
                handler = threading.Thread(target=self.handler, args=(self.root, name, body))
                handler.start()
                self._handlers.append(handler)

    def __enter__(self) -> Terminal:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for handler in self._handlers:  # a handler's exception belongs to this test
            handler.join(5)


@pytest.fixture
def transport(root: Path) -> Iterator[FolderTransport]:
    with FolderTransport(root, timeout_s=LONG_S, rescan_s=LONG_S) as transport:
        yield transport


# -- answers ---------------------------------------------------------------------------------


def test_a_request_is_written_whole_under_its_official_name_and_answered(
    root: Path, transport: FolderTransport
) -> None:
    # rescan_s is 20 s: an answer within the deadline came by a file-system event
    with Terminal(root) as terminal:
        answer = transport.confirm(numbers_request("20260401A001"))
    assert transport.watching
    assert answer.result.file_id == "20260401A001" and answer.result.validity == "1"
    assert answer.result.search is not None and answer.result.search.symbol == "記号"
    assert answer.raw.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    assert 0 < answer.round_trip_s < LONG_S
    assert terminal.seen == ["OQSsiquc01req_20260401A001.xml"] and not terminal.unreadable
    sent = (root / "trash" / "OQSsiquc01req_20260401A001.xml").read_bytes()
    assert sent.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    assert "記号".encode("cp932") in sent
    assert parse_request(sent) == numbers_request("20260401A001")
    # our own answer, read, is moved to trash/ like every handled file; nothing is left behind
    assert os.listdir(root / "res") == [] and os.listdir(root / "req") == []
    assert (root / "trash" / result_name("20260401A001")).read_bytes() == answer.raw


def test_the_request_file_appears_only_when_whole(root: Path) -> None:
    # A terminal that reads the moment a name appears never sees half a request.
    with (
        FolderTransport(root, timeout_s=LONG_S, rescan_s=LONG_S) as transport,
        Terminal(root) as terminal,
    ):
        for n in range(20):
            transport.confirm(numbers_request(f"whole{n:03d}", symbol="記号" * 8))
    assert len(terminal.seen) == 20 and terminal.unreadable == []


def test_requests_waiting_at_once_each_get_their_own_answer(
    root: Path, transport: FolderTransport
) -> None:
    def slow_in_reverse(root: Path, name: str, body: bytes) -> None:
        time.sleep(0.3 - 0.05 * int(name[-5]))
        Terminal.answer(root, name, body)

    answers: dict[str, str] = {}

    def ask(n: int) -> None:
        answers[f"many{n}"] = transport.confirm(numbers_request(f"many{n}")).result.file_id

    with Terminal(root, slow_in_reverse):
        threads = [threading.Thread(target=ask, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LONG_S)
    assert answers == {f"many{n}": f"many{n}" for n in range(5)}


@pytest.mark.parametrize("watch", [True, False])
def test_a_half_written_answer_is_read_again_until_whole(root: Path, watch: bool) -> None:
    def half_then_rest(root: Path, name: str, body: bytes) -> None:
        data = answer_to(body)
        with open(root / "res" / name.replace("req_", "res_"), "wb") as file:
            file.write(data[: len(data) // 2])
            file.flush()
            time.sleep(0.4)
            file.write(data[len(data) // 2 :])

    with (
        FolderTransport(root, timeout_s=LONG_S, rescan_s=0.2, watch=watch) as transport,
        Terminal(root, half_then_rest),
    ):
        answer = transport.confirm(numbers_request("half1"))
    assert answer.result.file_id == "half1" and answer.result.validity == "1"


def test_an_answer_moved_to_trash_before_it_is_read_is_read_there(
    root: Path, transport: FolderTransport
) -> None:
    def answer_into_trash(root: Path, name: str, body: bytes) -> None:
        # as if the terminal's housekeeping moved it from res/ before the reader got to it
        land(root / "trash" / name.replace("req_", "res_"), answer_to(body))

    with Terminal(root, answer_into_trash):
        answer = transport.confirm(numbers_request("moved1"))
    assert answer.result.file_id == "moved1"
    assert (root / "trash" / result_name("moved1")).exists()


def test_stale_answers_for_other_ids_are_ignored_and_left_alone(
    root: Path, transport: FolderTransport
) -> None:
    def stale_first(root: Path, name: str, body: bytes) -> None:
        land(root / "res" / result_name("earlier7"), answer_to(body, file_id="earlier7"))
        time.sleep(0.2)
        Terminal.answer(root, name, body)

    stale_before = root / "res" / result_name("earlier1")
    stale_before.write_bytes(b"<XmlMsg>not ours")  # from an earlier run, before we started
    with Terminal(root, stale_first):
        answer = transport.confirm(numbers_request("fresh1"))
    assert answer.result.file_id == "fresh1"
    assert sorted(os.listdir(root / "res")) == [result_name("earlier1"), result_name("earlier7")]
    assert stale_before.read_bytes() == b"<XmlMsg>not ours"


def test_an_answer_already_waiting_for_the_id_is_taken_without_asking_again(
    root: Path, transport: FolderTransport
) -> None:
    # The terminal answered after an earlier attempt gave up; the re-check asks with the same id.
    request = numbers_request("late1")
    land(root / "res" / result_name("late1"), answer_to(build_request(request)))
    answer = transport.confirm(request)
    assert answer.result.file_id == "late1"
    assert os.listdir(root / "req") == []  # nothing sent


# -- rescans without events --------------------------------------------------------------------


def test_without_file_events_the_rescan_finds_the_answer(root: Path) -> None:
    with (
        FolderTransport(root, timeout_s=LONG_S, rescan_s=0.1, watch=False) as transport,
        Terminal(root),
    ):
        answer = transport.confirm(numbers_request("rescan1"))
    assert not transport.watching
    assert answer.result.file_id == "rescan1"


def test_when_the_events_never_come_the_rescan_still_finds_the_answer(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A share mounted over SMB: the observer runs, but the other side's writes make no event.
    monkeypatch.setattr("sync.folderwatch._NAMING_EVENTS", frozenset())
    with (
        FolderTransport(root, timeout_s=LONG_S, rescan_s=0.1) as transport,
        Terminal(root),
    ):
        answer = transport.confirm(numbers_request("missed1"))
        assert transport.watching
    assert answer.result.file_id == "missed1"


def test_a_share_mounted_late_is_watched_from_the_next_request(tmp_path: Path) -> None:
    with FolderTransport(tmp_path, timeout_s=LONG_S, rescan_s=LONG_S) as transport:
        with pytest.raises(CentralUnavailable, match="share mounted"):
            transport.confirm(numbers_request("early1"))
        assert not transport.watching
        for name in ("req", "res", "trash"):
            (tmp_path / name).mkdir()
        with Terminal(tmp_path):
            assert transport.confirm(numbers_request("early2")).result.file_id == "early2"
        assert transport.watching


# -- no answer ---------------------------------------------------------------------------------


def test_a_silent_terminal_is_unavailable_and_the_request_is_taken_back(root: Path) -> None:
    with FolderTransport(root, timeout_s=0.3, rescan_s=0.1) as transport:
        started = time.monotonic()
        with pytest.raises(CentralUnavailable, match="did not answer within 0.3 s") as failed:
            transport.confirm(numbers_request("silent1"))
        assert time.monotonic() - started >= 0.3
    assert failed.value.fault is CentralFault.UNAVAILABLE
    assert os.listdir(root / "req") == []  # taken back, no temporary left either


def test_a_silent_terminal_opens_the_breaker_like_an_unreachable_central(root: Path) -> None:
    with FolderTransport(root, timeout_s=0.2, rescan_s=0.1) as transport:
        breaker = CircuitBreaker(transport, failures=2, open_s=30)
        for n in range(2):
            with pytest.raises(CentralUnavailable):
                breaker.confirm(numbers_request(f"down{n}"))
    assert breaker.state is BreakerState.OPEN


def test_an_answer_that_never_parses_is_unreadable(root: Path) -> None:
    def garbage(root: Path, name: str, body: bytes) -> None:
        land(root / "res" / name.replace("req_", "res_"), b"<XmlMsg><MessageHeader>")

    with (
        FolderTransport(root, timeout_s=0.5, rescan_s=0.1) as transport,
        Terminal(root, garbage),
        pytest.raises(CentralUnreadable, match="cannot be read"),
    ):
        transport.confirm(numbers_request("broken1"))


def test_an_answer_naming_another_id_inside_is_unreadable(root: Path) -> None:
    def wrong_inside(root: Path, name: str, body: bytes) -> None:
        land(root / "res" / name.replace("req_", "res_"), answer_to(body, file_id="other9"))

    with (
        FolderTransport(root, timeout_s=LONG_S, rescan_s=0.1) as transport,
        Terminal(root, wrong_inside),
        pytest.raises(CentralUnreadable, match="another request"),
    ):
        transport.confirm(numbers_request("mine1"))


def test_folders_that_cannot_be_written_are_unavailable(root: Path) -> None:
    (root / "req").rmdir()
    with (
        FolderTransport(root, timeout_s=LONG_S, rescan_s=LONG_S) as transport,
        pytest.raises(CentralUnavailable, match="cannot write"),
    ):
        transport.confirm(numbers_request("nowhere1"))


def test_an_id_unsafe_in_a_file_name_is_refused_before_anything_is_written(
    root: Path, transport: FolderTransport
) -> None:
    with pytest.raises(MessageError, match="file identifier"):
        transport.confirm(numbers_request("../../etc/x"))
    assert os.listdir(root / "req") == [] and os.listdir(root.parent) != []


# -- what the folders cannot carry -------------------------------------------------------------


def test_no_challenge_and_no_card_request_through_the_folders(
    root: Path, transport: FolderTransport
) -> None:
    with pytest.raises(CentralUnsupported, match="face-authentication reader") as failed:
        transport.nonce()
    assert isinstance(failed.value, CentralRefused) and failed.value.status == 501
    assert failed.value.fault is CentralFault.REFUSED  # a refusal, never "try later"
    card = QualificationRequest(
        medical_institution_code=MIC,
        confirmation_date="20260401",
        file_id="card1",
        reference_classification="1",
        card=CardAuthentication(b"cert", b"", b"", "visual"),
    )
    with pytest.raises(CentralUnsupported):
        transport.confirm(card)
    assert os.listdir(root / "req") == []


def test_asking_for_a_challenge_never_opens_the_breaker(transport: FolderTransport) -> None:
    breaker = CircuitBreaker(transport, failures=1, open_s=30)
    for _ in range(3):
        with pytest.raises(CentralUnsupported):
            breaker.nonce()
    assert breaker.state is BreakerState.CLOSED


def test_close_stops_the_one_observer(root: Path) -> None:
    transport = FolderTransport(root, timeout_s=LONG_S, rescan_s=LONG_S)
    with Terminal(root):
        transport.confirm(numbers_request("obs1"))
        transport.confirm(numbers_request("obs2"))
    watchers = [t for t in threading.enumerate() if t.name == "terminal-folders"]
    assert len(watchers) == 1 and transport.watching
    transport.close()
    assert not transport.watching
    assert [t for t in threading.enumerate() if t.name == "terminal-folders"] == []


def test_health_is_the_round_trip_of_a_harmless_request(root: Path) -> None:
    asked: list[QualificationRequest] = []

    def not_found(root: Path, name: str, body: bytes) -> None:
        asked.append(parse_request(body))
        Terminal.answer(root, name, body)

    with (
        FolderTransport(
            root, timeout_s=LONG_S, rescan_s=LONG_S, medical_institution_code=MIC
        ) as transport,
        Terminal(root, not_found),
    ):
        assert 0 < transport.health() < LONG_S
    (request,) = asked
    assert request.medical_institution_code == MIC and request.file_id.startswith("health")
    assert request.search is not None and request.search.insurer_number == "99999999"
    with FolderTransport(root, timeout_s=0.2, rescan_s=0.1) as silent:
        with pytest.raises(CentralUnavailable):
            silent.health()


# -- the setting -----------------------------------------------------------------------------


def test_central_mode_chooses_the_transport(tmp_path: Path) -> None:
    central: Any = object()  # the HTTPS client, untouched in folders mode
    api = load_config(environ={})
    assert api.central_mode == "api" and qualification_transport(api, central) is central
    folders = load_config(
        environ={},
        overrides={
            "central_mode": "folders",
            "terminal_root": str(tmp_path),
            "terminal_rescan_s": 0.5,
            "terminal_timeout_s": 12,
        },
    )
    transport = qualification_transport(folders, central)
    assert isinstance(transport, FolderTransport)
    assert (transport.root, transport.rescan_s, transport.timeout_s) == (tmp_path, 0.5, 12.0)
    with pytest.raises(ConfigError, match="terminal_root"):
        load_config(environ={}, overrides={"central_mode": "folders"})
    with pytest.raises(ConfigError, match="central_mode"):
        load_config(environ={}, overrides={"central_mode": "smb"})
    with pytest.raises(ConfigError, match="terminal_rescan_s"):
        load_config(environ={}, overrides={"terminal_rescan_s": 0})


def test_a_card_visit_asking_for_a_challenge_ends_as_refused_not_as_an_outage(
    root: Path, transport: FolderTransport, tmp_path: Path
) -> None:

    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    try:
        breaker = CircuitBreaker(transport, failures=1, open_s=30)
        confirmations = Confirmations(transport=breaker, store=store, bus=EventBus())
        with pytest.raises(ConfirmationFailed) as failed:
            confirmations.nonce(label="visit 1")
    finally:
        store.close()
    assert failed.value.reason is EndReason.CENTRAL_REFUSED
    assert breaker.state is BreakerState.CLOSED


def test_a_transport_nobody_holds_stops_its_observer(root: Path) -> None:
    transport = FolderTransport(root, timeout_s=LONG_S, rescan_s=LONG_S)
    with Terminal(root):
        transport.confirm(numbers_request("gone1"))
    assert [t for t in threading.enumerate() if t.name == "terminal-folders"]
    del transport
    gc.collect()
    assert [t for t in threading.enumerate() if t.name == "terminal-folders"] == []
