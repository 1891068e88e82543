"""Face files for the receipt computer (レセコン): each card visit's answer, written into the
folder the clinic's receipt computer already reads (the official terminal's `face/` format,
sync/facefile.py), so it picks onshi-edge's visits up unchanged.

The file to write is queued with the answer, in its transaction (sync/store/exports.py); a
writer thread writes the queue out at start, right after each answer is stored (a wake-up from
the event bus, which may be missed) and every `export_retry_s` (which is not), so a file a
crash or an unreachable share held back is written later, once, oldest first. Each file
appears whole: it is written under a hidden temporary name in the same folder, flushed to
disk, then renamed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from device.events import BusListener, ConfirmationStored, Event, EventBus
from sync.clock import JST, utc_now
from sync.facefile import face_file_bytes, face_file_name
from sync.store import Store

log = logging.getLogger(__name__)

EXPORT_ACTOR = "export"
STOP_POLL_S = 0.5
OWN_READER_METHODS = ("pin", "visual")  # card visits made on this box's reader


@dataclass(frozen=True)
class ExportReport:
    written: int = 0
    failed: str = ""  # why the round stopped ("" when it did not)


class FaceExport:
    """`directory`: the export folder (None: exporting is off and nothing is queued).
    `retry_s`: how often the writer looks at the queue when no answer wakes it."""

    def __init__(
        self,
        store: Store,
        directory: Path | None,
        medical_institution_code: str,
        *,
        retry_s: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._directory = directory
        self._code = medical_institution_code
        self._retry_s = retry_s
        self._clock = clock
        self._lock = threading.Lock()  # one round at a time
        self._listener: BusListener | None = None
        self._next_round = 0.0  # when the writer looks at the queue again by itself

    @property
    def enabled(self) -> bool:
        return self._directory is not None

    def name_for(self, kind: str, method: str, file_id: str, process_time: str) -> str:
        """The face file to queue with an online answer: visits of this box's own reader only
        ("" for anything else — a numbers check, a visit the official terminal's reader made
        and wrote itself — or when exporting is off). A processing time that is not 14 digits
        (a central that left it out) is replaced by this box's time: the file is still
        written."""
        if self._directory is None or kind != "card" or method not in OWN_READER_METHODS:
            return ""
        if not (len(process_time) == 14 and process_time.isascii() and process_time.isdigit()):
            process_time = self._clock().astimezone(JST).strftime("%Y%m%d%H%M%S")
        return face_file_name(self._code, file_id, process_time)

    def write_pending(self, limit: int = 200) -> ExportReport:
        """Write the queued files, oldest first; the first the folder refuses ends the round
        (the share is likely gone: the next round tries again)."""
        if self._directory is None:
            return ExportReport()
        written = 0
        with self._lock:
            for item in self._store.exports_pending(limit):
                found = self._store.confirmation(item.confirmation_id)
                if found is None:  # purged meanwhile (its row goes with it)
                    continue
                try:
                    _write_whole(self._directory / item.name, face_file_bytes(found.result))
                except OSError as exc:
                    error = f"{type(exc).__name__}: {exc.strerror or exc}"
                    self._store.export_failed(item.id, error)
                    log.warning("export: %s could not be written: %s", item.name, error)
                    return ExportReport(written, error)
                self._store.export_written(item.id, actor=EXPORT_ACTOR)
                written += 1
        if written:
            log.info("export: %d face file(s) written", written)
        return ExportReport(written)

    # -- the writer thread: woken by each stored answer, and every retry_s -------------------
    def start(self, bus: EventBus) -> None:
        if self._directory is None:
            return
        self._next_round = 0.0  # the first round at once: files left by the last run
        self._listener = BusListener(bus, "face-export", self._heard, STOP_POLL_S)
        self._listener.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._listener is not None:
            self._listener.stop(timeout)
            self._listener = None

    def _heard(self, event: Event | None) -> None:
        """A round when an answer is stored, or retry_s after the last (a round that fails is
        logged; the queue keeps its files for the next)."""
        if isinstance(event, ConfirmationStored) or time.monotonic() >= self._next_round:
            self._next_round = time.monotonic() + self._retry_s
            self.write_pending()


def _write_whole(path: Path, data: bytes) -> None:
    """The file appears under its name complete or not at all."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return  # some shares cannot open a directory: the rename stands
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)
