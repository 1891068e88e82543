"""Face files from the official terminal's reader: each stored once (by name and content), read
from trash/ when the terminal moved it, waited for while half-written, another institution's
ignored, and stored through the one confirmation path (the desk hears of it)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus, Subscription
from device.export import FaceExport
from device.facewatch import INCOMPLETE_TRIES, FaceInbox, FaceIngest, FaceWatcher
from sim.central.service import CentralService
from sim.pki import PkiPaths
from sync.facefile import face_file_bytes, face_file_name
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import QualificationTransport
from sync.xmlmsg import parse_result

from .test_face_export import CODE, NOW, answer_for


@dataclass
class Terminal:
    """The official terminal's folders, and the answers it would write for people."""

    root: Path
    service: CentralService

    @property
    def face(self) -> Path:
        return self.root / "face"

    def face_file(self, person_id: str, id_part: str, *, code: str = CODE) -> tuple[str, bytes]:
        result = parse_result(answer_for(self.service, person_id, f"x{id_part}"))
        result = replace(result, file_id="", medical_institution_code=code)  # none on face files
        return face_file_name(code, id_part, result.process_time), face_file_bytes(result)

    def drop(self, person_id: str, id_part: str, **kwargs: str) -> Path:
        name, data = self.face_file(person_id, id_part, **kwargs)
        path = self.face / name
        path.write_bytes(data)
        return path


@dataclass
class Rig:
    terminal: Terminal
    store: Store
    inbox: FaceInbox
    events: Subscription
    export_dir: Path


@pytest.fixture
def rig(tmp_path: Path, pki_at: Callable[[datetime], PkiPaths]) -> Iterator[Rig]:
    terminal = Terminal(tmp_path / "terminal", CentralService(pki_at(NOW), clock=lambda: NOW))
    for sub in ("face", "trash"):
        (terminal.root / sub).mkdir(parents=True)
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()), clock=lambda: NOW)
    bus = EventBus()
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    confirmations = Confirmations(
        transport=cast(QualificationTransport, object()),  # face files need no request
        store=store,
        bus=bus,
        export=FaceExport(store, export_dir, CODE),
    )
    inbox = FaceInbox(
        folder=terminal.face,
        store=store,
        confirmations=confirmations,
        medical_institution_code=CODE,
    )
    yield Rig(terminal, store, inbox, bus.subscribe(), export_dir)
    store.close()


def test_a_face_file_is_stored_once_and_the_desk_hears_of_it(rig: Rig) -> None:
    path = rig.terminal.drop("P001", "a1b2c3")
    assert rig.inbox.ingest(path) is FaceIngest.STORED
    (stored,) = rig.store.recent_confirmations(datetime(2000, 1, 1, tzinfo=UTC))
    assert (stored.kind, stored.method, stored.source) == ("card", "face", "online")
    assert stored.file_id == f"face-{CODE}a1b2c3"
    assert stored.result.results[0].name == "佐藤　翔太"
    assert [e for e in rig.events.drain() if isinstance(e, ConfirmationStored)]
    assert rig.inbox.ingest(path) is FaceIngest.DUPLICATE  # a file event and a rescan
    copy = path.with_name(path.name.replace("a1b2c3", "ffff"))
    shutil.copy(path, copy)
    assert rig.inbox.ingest(copy) is FaceIngest.DUPLICATE  # the same visit under another name
    assert rig.store.count_confirmations() == 1
    assert rig.store.exports_pending() == []  # the terminal's own: not exported back


def test_a_file_moved_to_trash_is_read_from_there(rig: Rig) -> None:
    path = rig.terminal.drop("P004", "b1")
    moved = rig.terminal.root / "trash" / path.name
    path.rename(moved)
    assert rig.inbox.ingest(path) is FaceIngest.STORED
    moved.unlink()
    assert (
        rig.inbox.ingest(rig.terminal.face / "OQSsiquc01res_face_1312345670zz_20260401103000.xml")
        is FaceIngest.GONE
    )


def test_a_half_written_file_waits_until_it_is_whole(rig: Rig) -> None:
    name, data = rig.terminal.face_file("P008", "c1")
    path = rig.terminal.face / name
    path.write_bytes(data[: len(data) // 2])
    assert rig.inbox.ingest(path) is FaceIngest.INCOMPLETE
    assert rig.inbox.scan().waiting == 1
    path.write_bytes(data)
    assert rig.inbox.ingest(path) is FaceIngest.STORED
    assert rig.inbox.scan().waiting == 0


def test_a_file_that_never_parses_is_given_up_once(rig: Rig) -> None:
    path = rig.terminal.face / face_file_name(CODE, "d1", "20260401103000")
    path.write_bytes(b"<XmlMsg><MessageHeader>")
    outcomes = [rig.inbox.ingest(path) for _ in range(INCOMPLETE_TRIES)]
    assert outcomes[-1] is FaceIngest.UNREADABLE
    assert set(outcomes[:-1]) == {FaceIngest.INCOMPLETE}
    assert rig.inbox.ingest(path) is FaceIngest.DUPLICATE  # recorded: not looked at again
    assert rig.store.count_confirmations() == 0


def test_another_institutions_file_and_stray_files_are_ignored(rig: Rig) -> None:
    other = rig.terminal.drop("P001", "e1", code="9999999999")
    assert rig.inbox.ingest(other) is FaceIngest.IGNORED
    stray = rig.terminal.face / "notes.xml"
    stray.write_text("hello")
    assert rig.inbox.ingest(stray) is FaceIngest.IGNORED
    assert rig.store.count_confirmations() == 0


def test_files_already_there_at_start_are_handled_once_oldest_first(rig: Rig) -> None:
    for n, person in enumerate(("P001", "P004", "P008")):
        rig.terminal.drop(person, f"f{n}")
    assert rig.inbox.scan().stored == 3
    assert rig.inbox.scan().stored == 0  # a second look stores nothing
    names = [
        c.result.results[0].name for c in rig.store.recent_confirmations(NOW.replace(year=2000))
    ]
    assert len(names) == 3


def test_the_watcher_stores_a_landing_file_by_its_event_and_what_was_there_by_a_scan(
    rig: Rig,
) -> None:
    rig.terminal.drop("P001", "w0")  # there before the start
    watcher = FaceWatcher(rig.inbox, rescan_s=3600)  # one scan at start, then events only

    def stored(n: int) -> int:
        deadline = time.monotonic() + 10
        while rig.store.count_confirmations() < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return rig.store.count_confirmations()

    watcher.start()
    try:
        assert stored(1) == 1
        name, data = rig.terminal.face_file("P004", "w1")
        temporary = rig.terminal.root / "trash" / ("." + name)
        temporary.write_bytes(data)
        landed = time.monotonic()
        temporary.rename(rig.terminal.face / name)  # lands whole, as a terminal moves it in
        assert stored(2) == 2
        assert time.monotonic() - landed < 5  # by its event: the next scan is an hour away
    finally:
        watcher.stop()
