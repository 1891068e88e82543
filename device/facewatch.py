"""Card visits made on the official terminal's face-authentication reader: their results
appear in the terminal's face/ folder without any request (DOMAIN §8), and each is stored and
shown on the desk like every answer, through the one confirmation path.

`FaceInbox.ingest(path)` handles one file: it copies the bytes first (the terminal may move a
handled file to trash/ at any moment, so a file gone from face/ is read from trash/), skips a
file already handled by name or by content (a copy under another name is the same visit),
waits for a half-written file to be complete (the parse fails until it is: the file is tried
again on the next look, up to a limit), and ignores another institution's files. `scan()`
looks at the whole folder, oldest first: at start (files already there are handled once) and
as the periodic rescan a network share needs, since it delivers no file events for writes
made on the other side.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from device.confirm import Confirmations
from sync.facefile import parse_face_name
from sync.folderwatch import FolderWatch
from sync.store import Store
from sync.transport import CentralAnswer
from sync.xmldoc import MessageError
from sync.xmlmsg import parse_result

log = logging.getLogger(__name__)

FACE_ACTOR = "terminal"
# Looks at a file that does not parse before it is taken as unreadable rather than half-written.
INCOMPLETE_TRIES = 20


class FaceIngest(StrEnum):
    """What one look at a face file did."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # handled before, by name or content
    INCOMPLETE = "incomplete"  # does not parse yet: looked at again later
    UNREADABLE = "unreadable"  # never parsed: recorded, not looked at again
    IGNORED = "ignored"  # not a face file, or another institution's
    GONE = "gone"  # vanished before it could be read (neither in face/ nor in trash/)


@dataclass(frozen=True)
class ScanReport:
    stored: int = 0
    waiting: int = 0  # half-written files to look at again


class FaceInbox:
    """`folder`: the terminal's face/ folder; `trash`: where the terminal moves handled files
    (default: its sibling trash/)."""

    def __init__(
        self,
        *,
        folder: Path,
        store: Store,
        confirmations: Confirmations,
        medical_institution_code: str,
        trash: Path | None = None,
    ) -> None:
        self._folder = folder
        self._trash = trash if trash is not None else folder.parent / "trash"
        self._store = store
        self._confirmations = confirmations
        self._code = medical_institution_code
        self._lock = threading.Lock()  # a file event and a rescan may meet on the same file
        self._incomplete: dict[str, int] = {}

    @property
    def folder(self) -> Path:
        return self._folder

    def ingest(self, path: Path) -> FaceIngest:
        name = parse_face_name(path.name)
        if name is None:
            return FaceIngest.IGNORED  # a temporary name, a request, a stray file
        with self._lock:
            data = self._read(path)
            if data is None:
                return FaceIngest.GONE
            digest = hashlib.sha256(data).hexdigest()
            if self._store.face_file_seen(path.name, digest):
                return FaceIngest.DUPLICATE
            if name.institution_code != self._code:
                log.warning("face file %s is another institution's: ignored", path.name)
                self._store.record_face_file(path.name, digest, FaceIngest.IGNORED)
                return FaceIngest.IGNORED
            try:
                result = parse_result(data, face=True)
            except MessageError as exc:
                return self._not_parsed(path.name, digest, exc)
            self._incomplete.pop(path.name, None)
            stored = self._confirmations.keep(
                CentralAnswer(result, data, 0.0),
                file_id=name.file_id,
                kind="card",
                method="face",
                actor=FACE_ACTOR,
                face_file=(path.name, digest),
            )
        log.info("face file %s stored as confirmation %d", path.name, stored.id)
        return FaceIngest.STORED

    def scan(self) -> ScanReport:
        """Every face file in the folder, oldest first."""
        try:
            paths = sorted(
                (p for p in self._folder.iterdir() if p.suffix == ".xml"),
                key=lambda p: (_mtime(p), p.name),
            )
        except OSError as exc:
            log.warning("face folder %s cannot be read: %s", self._folder, exc)
            return ScanReport()
        stored = 0
        for path in paths:
            if self.ingest(path) is FaceIngest.STORED:
                stored += 1
        return ScanReport(stored, len(self._incomplete))

    def _read(self, path: Path) -> bytes | None:
        for candidate in (path, self._trash / path.name):
            try:
                return candidate.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("face file %s cannot be read: %s", candidate, exc)
                return None
        return None

    def _not_parsed(self, name: str, digest: str, exc: MessageError) -> FaceIngest:
        tries = self._incomplete.get(name, 0) + 1
        if tries < INCOMPLETE_TRIES:
            self._incomplete[name] = tries  # most likely still being written
            return FaceIngest.INCOMPLETE
        self._incomplete.pop(name, None)
        log.error("face file %s never became readable: %s", name, exc)
        self._store.record_face_file(name, digest, FaceIngest.UNREADABLE)
        return FaceIngest.UNREADABLE


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class FaceWatcher:
    """The face/ folder watched: file events ingest a file as it lands (≤ 1 s to the desk), a
    rescan every `rescan_s` finds what events miss (a share: none for the other side's writes;
    half-written files to read again), and the first scan at start handles the files already
    there."""

    def __init__(self, inbox: FaceInbox, *, rescan_s: float, events: bool = True) -> None:
        """`events`: False looks by rescans alone (what a mounted share gives; benches)."""
        self._inbox = inbox
        self._rescan_s = rescan_s
        self._events = FolderWatch(inbox.folder, self._on_file) if events else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="face-rescan", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._events is not None:
            self._events.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _on_file(self, path: Path) -> None:
        try:
            self._inbox.ingest(path)
        except Exception:  # the watcher's thread must go on; the rescan tries the file again
            log.exception("face file %s: ingest failed", path.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._events is not None:
                self._events.start()  # again each round: a share mounted after the start
            try:
                self._inbox.scan()
            except Exception:
                log.exception("face folder rescan failed")
            self._stop.wait(self._rescan_s)
