"""The official terminal's shared folders as a QualificationTransport (DOMAIN.md §8).

A clinic reaches the national system only through its 資格確認端末: the terminal's linking
application watches a shared root holding `req/`, `res/`, `face/` and `trash/`. A request is a
file `req/OQSsiquc01req_<id>.xml`; its answer appears as `res/OQSsiquc01res_<id>.xml`.

Writing: the document goes to a temporary name in `req/` that the terminal ignores (a leading
dot and a `.tmp` suffix: it picks up `OQS…req_….xml` only), is flushed to the disk, then renamed
to its official name, so the terminal never reads half a request. The encoding is Shift_JIS as
in the official files, named in the XML declaration (characters it cannot carry are written as
character references by sync/xmldoc.py).

Waiting: one file-system watch per transport (a thread; events under the root,
`res/` and `trash/` among them) wakes the request waiting for that file name; every waiter
also looks for itself each `rescan_s`, because a mounted SMB share delivers no inotify events
for writes made by the other side. A file that does not parse yet is read again shortly (the
terminal may still be writing it). A file that vanishes into `trash/` between being seen and
being read is read there. Files for other ids (stale answers of an earlier run, duplicates,
other programs' requests) wake nobody and are never touched.

Failures keep the transport's meanings (sync/transport.py): no answer before `timeout_s`, or
folders that cannot be written → CentralUnavailable (the breaker, the outbox and the outage
path work as with the HTTPS API), and the request file is taken back if the terminal has not
picked it up; an answer that never parses → CentralUnreadable; a card's challenge or a card
request → CentralUnsupported (the folders have no card-signature path: card visits at the
official reader come back as `face/` files instead).

What happens to the answer file: the answer named after our own request is ours alone (no other
reader asked for that id), so once read it is moved to `trash/` like every handled file, which
keeps `res/` from growing and leaves it for diagnosis; a file already moved there by the
terminal stays where it is. Nothing else in the folders is moved or deleted: the receipt
computer and other readers share them.

An answer already waiting for the id (the terminal answered after an earlier attempt gave up,
and the re-check queue asks again with the same ArbitraryFileIdentifier) is taken without
sending the request again.

Drug and checkup history (`medical_info`, the doctor's view) goes the same way with
`YZKsiquc01req_<id>.xml` / `TKKsiquc01req_<id>.xml`: the answer is `…res_<id>.xml`, or with
FileCategory 1 (PDF) `…res_<id>.pdf`, or an XML refusal under the same base name. A PDF is
read again like a half-written XML until it is whole (`%PDF-` … `%%EOF`); one that does not
begin with `%PDF-`, or is larger than sync.medinfo.MAX_DOCUMENT_BYTES, is unreadable at once
(no more writing makes it a PDF).

The bulk inquiry and 照会番号 registration (sync/bulkmsg.py) go the same way, with the same
waits, rescans, half-written retries, trash/ and take-back: `OQSmuquc01req_<id>.xml` →
`OQSmuquc01res_<id>.xml` (the reception number), `OQSmuquc02req_<id>.xml` →
`OQSmuquc02res_<id>.xml` or `OQSmuquc02res_<id>.zip` (a bulk download may come zipped: one XML
member, at most sync.bulkmsg.MAX_BULK_BYTES as stored and once inflated, read again while it is
not a whole zip yet), `OQSsiimm01req_<id>.xml` (one registration) or `OQSmuimm01req_<id>.xml`
(more) → `…res_<id>.xml`. Each poll of a bulk answer needs its own file id: an answer already
in res/ or trash/ for an id is taken as that id's answer (an "in progress" one too).

The events come from sync/folderwatch.py (the only module that imports watchdog).
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import threading
import time
import weakref
import zipfile
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sync import bulkmsg as bulk
from sync.clock import JST, utc_now
from sync.folderwatch import NameWatch
from sync.medinfo import (
    MAX_DOCUMENT_BYTES,
    PDF_MAGIC,
    MedicalInfoAnswer,
    MedicalInfoRequest,
    build_medinfo_request,
    document_answer,
    parse_medinfo_result,
    result_document_name,
)
from sync.medinfo import request_file_name as medinfo_request_name
from sync.medinfo import result_file_name as medinfo_result_name
from sync.transport import (
    AID_RESULT,
    AID_UPLOAD,
    BULK_RESULT,
    BULK_UPLOAD,
    REFERENCES,
    BulkAnswerT,
    BulkExchange,
    BulkRequestT,
    CentralAnswer,
    CentralUnavailable,
    CentralUnreadable,
    CentralUnsupported,
    same_request,
)
from sync.xmlmsg import (
    MAX_MESSAGE_BYTES,
    MessageError,
    QualificationRequest,
    SearchInfo,
    build_request,
    parse_result,
    request_file_name,
    result_file_name,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

REQUEST_FOLDER, RESULT_FOLDER, TRASH_FOLDER = "req", "res", "trash"
DEFAULT_ENCODING = "shift_jis"  # the official terminal's files are Shift_JIS in practice
DEFAULT_RESCAN_S = 2.0
DEFAULT_TIMEOUT_S = 30.0
PARSE_RETRY_S = 0.05  # a file that does not parse yet is read again this soon

# The numbers of nobody (an insurer number no 法別番号 has, a birth date before the system): a
# request for them is answered 該当資格なし and says only that the terminal answers.
HARMLESS_SEARCH = SearchInfo(insurer_number="99999999", number="0", birthdate="19000101")
HEALTH_ID_PREFIX = "health"

NO_CARD_PATH = (
    "資格確認端末のフォルダ連携ではマイナンバーカードの照会はできません（カードは端末の顔認証"
    "付きカードリーダーで読み取ってください）/ the terminal's folder interface carries no card "
    "requests or challenges: read the card on the terminal's own face-authentication reader"
)


class _Waiters:
    """File name → the event that wakes the request waiting for it. Shared by the transport and
    its watch (and not the transport itself, so a transport nobody holds any more is
    collected and its watch stopped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def add(self, *names: str) -> threading.Event:
        """One event, set by any of `names` (the answers a request may get)."""
        event = threading.Event()
        with self._lock:
            taken = [name for name in names if name in self._events]
            if taken:
                raise RuntimeError(f"already waiting for {taken[0]}")
            for name in names:
                self._events[name] = event
        return event

    def remove(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._events.pop(name, None)

    def wake(self, name: str) -> None:
        with self._lock:
            event = self._events.get(name)
        if event is not None:
            event.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


class FolderTransport:
    """Implements sync.transport.QualificationTransport over the terminal's folders under
    `root`; thread-safe (one observer, any number of requests waiting at once).

    `watch` False: rescans only (the events of a share may never come; tests and the bench use
    it to prove the rescan alone answers). `clock` is monotonic seconds (deadlines, round
    trips); `wall` the date of `health`'s request, for `medical_institution_code`."""

    def __init__(
        self,
        root: Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        rescan_s: float = DEFAULT_RESCAN_S,
        watch: bool = True,
        encoding: str = DEFAULT_ENCODING,
        parse_retry_s: float = PARSE_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        medical_institution_code: str = "",
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        self.root = root
        self.medical_institution_code = medical_institution_code
        self._wall = wall
        self.requests = root / REQUEST_FOLDER
        self.results = root / RESULT_FOLDER
        self.trash = root / TRASH_FOLDER
        self.timeout_s = timeout_s
        self.rescan_s = rescan_s
        self._watch = watch
        self._encoding = encoding
        self._parse_retry_s = parse_retry_s
        self._clock = clock
        self._waiters = _Waiters()
        self._lock = threading.Lock()  # the watch's start and stop
        self._events: NameWatch | None = None
        self._closed = False
        self._stopper: weakref.finalize[..., FolderTransport] | None = None

    # -- QualificationTransport --

    def nonce(self) -> bytes:
        """There is none: the folders have no card-signature path (CentralUnsupported, a
        refusal that does not open the circuit breaker)."""
        raise CentralUnsupported(NO_CARD_PATH)

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        """Write the request, wait for its answer, read it once."""
        if request.reference_classification != "2":
            raise CentralUnsupported(NO_CARD_PATH)
        file_id = request.file_id

        def read(name: str, raw: bytes) -> CentralAnswer:
            result = parse_result(raw)  # MessageError: not whole yet, read again
            same_request(result.file_id, file_id)
            return CentralAnswer(result=result, raw=raw, round_trip_s=0.0)

        # Both names come from the file id, checked to be safe in a file name (MessageError).
        answer, round_trip = self._exchange(
            request_file_name(file_id),
            lambda: build_request(request, self._encoding),
            {result_file_name(file_id): (MAX_MESSAGE_BYTES, read)},
        )
        return CentralAnswer(result=answer.result, raw=answer.raw, round_trip_s=round_trip)

    def medical_info(self, request: MedicalInfoRequest) -> MedicalInfoAnswer:
        """Drug information (YZK) or specific health checkups (TKK) for one patient, as
        sync.central.CentralClient.medical_info answers them: a refusal (no consent) is an
        answer with SegmentOfResult 9; with FileCategory 1 the answer may be the PDF."""

        def read_xml(name: str, raw: bytes) -> MedicalInfoAnswer:
            result = parse_medinfo_result(raw)  # MessageError: not whole yet, read again
            same_request(result.file_id, request.file_id)
            if result.kind != request.kind:
                raise CentralUnreadable(
                    "応答の種類が要求と違います / answer is of another kind "
                    f"({result.kind} ≠ {request.kind})"
                )
            return MedicalInfoAnswer(result, raw, 0.0)

        def read_pdf(name: str, raw: bytes) -> MedicalInfoAnswer:
            if len(raw) > MAX_DOCUMENT_BYTES:  # it will not shrink: no use waiting
                raise CentralUnreadable(
                    f"資格確認端末の応答 {name} が大きすぎます (上限 {MAX_DOCUMENT_BYTES} バイト)"
                    f" / the terminal's answer {name} is too large "
                    f"(limit {MAX_DOCUMENT_BYTES} bytes)"
                )
            if len(raw) >= len(PDF_MAGIC) and not raw.startswith(PDF_MAGIC):
                raise CentralUnreadable(  # no PDF begins otherwise: no use waiting either
                    f"資格確認端末の応答 {name} は PDF ではありません / the terminal's answer "
                    f"{name} is not a PDF"
                )
            return document_answer(request, raw, 0.0)  # MessageError: not whole yet

        answers: dict[str, tuple[int, Callable[[str, bytes], MedicalInfoAnswer]]] = {
            medinfo_result_name(request.kind, request.file_id): (MAX_MESSAGE_BYTES, read_xml)
        }
        if request.file_category == "1":
            pdf = result_document_name(request.kind, request.file_id)
            answers[pdf] = (MAX_DOCUMENT_BYTES, read_pdf)
        answer, round_trip = self._exchange(
            medinfo_request_name(request),
            lambda: build_medinfo_request(request, self._encoding),
            answers,
        )
        return MedicalInfoAnswer(answer.result, answer.raw, round_trip, answer.media_type)

    def bulk_upload(self, request: bulk.BulkUpload) -> bulk.BulkReceipt:
        """One bulk inquiry (OQSmuquc01req): its reception number (OQSmuquc01res)."""
        names = (bulk.BULK_UPLOAD_REQUEST, bulk.BULK_UPLOAD_RESULT)
        return self._bulk(request, BULK_UPLOAD, names, cap=MAX_MESSAGE_BYTES)

    def aid_upload(self, request: bulk.AidUpload) -> bulk.BulkReceipt:
        """The month's 医療扶助 recipients (OQSmutic01req): a reception number (OQSmutic01res)."""
        names = (bulk.AID_UPLOAD_REQUEST, bulk.AID_UPLOAD_RESULT)
        return self._bulk(request, AID_UPLOAD, names, cap=MAX_MESSAGE_BYTES)

    def aid_result(self, request: bulk.BulkQuery) -> bulk.BulkAnswer:
        """The 医療券 of a reception number (OQSmutic02req): the answer as XML or zipped."""
        names = (bulk.AID_QUERY_REQUEST, bulk.AID_QUERY_RESULT)
        return self._bulk(request, AID_RESULT, names, zipped=True)

    def bulk_result(self, request: bulk.BulkQuery) -> bulk.BulkAnswer:
        """The results of a reception number (OQSmuquc02req): the answer as XML or zipped."""
        names = (bulk.BULK_QUERY_REQUEST, bulk.BULK_QUERY_RESULT)
        return self._bulk(request, BULK_RESULT, names, zipped=True)

    def register_references(self, request: bulk.ReferenceRequest) -> bulk.ReferenceAnswer:
        """Register 照会番号: OQSsiimm01req for one, OQSmuimm01req for more."""
        return self._bulk(request, REFERENCES, bulk.reference_prefixes(request))

    def _bulk(
        self,
        request: BulkRequestT,
        exchange: BulkExchange[BulkRequestT, BulkAnswerT],
        names: tuple[str, str],
        *,
        cap: int = bulk.MAX_BULK_BYTES,
        zipped: bool = False,
    ) -> BulkAnswerT:
        """One bulk or registration call: `names` the request's and the answer's prefixes,
        the answer up to `cap` (a receipt is a header only), or zipped when `zipped`."""

        def read_xml(name: str, raw: bytes) -> BulkAnswerT:
            answer = exchange.parse(raw)  # MessageError: not whole yet, read again
            same_request(answer.file_id, request.file_id)
            return answer

        def read_zip(name: str, raw: bytes) -> BulkAnswerT:
            return read_xml(name, _unzipped(name, raw, bulk.MAX_BULK_BYTES))

        readers = {bulk.file_name(names[1], request.file_id): (cap, read_xml)}
        if zipped:
            readers[bulk.file_name(names[1], request.file_id, "zip")] = (cap, read_zip)
        answer, _ = self._exchange(
            bulk.file_name(names[0], request.file_id),
            lambda: exchange.build(request, self._encoding),
            readers,
        )
        return exchange.check(answer, request)

    def health(self) -> float:
        """Round trip in seconds of a harmless request (the numbers of nobody, answered
        該当資格なし) through the terminal: whether it answers at all, for a probe while the
        circuit is open or a technician's check. Raises as `confirm` does."""
        return self.harmless().round_trip_s

    def harmless(self) -> CentralAnswer:
        """The answer to a harmless request (see `health`); its stamp tells the time."""
        request = QualificationRequest(
            medical_institution_code=self.medical_institution_code,
            confirmation_date=self._wall().astimezone(JST).strftime("%Y%m%d"),
            file_id=f"{HEALTH_ID_PREFIX}{secrets.token_hex(8)}",
            reference_classification="2",
            search=HARMLESS_SEARCH,
        )
        return self.confirm(request)

    # -- lifecycle --

    @property
    def watching(self) -> bool:
        """Whether file-system events are being received (else rescans alone find answers)."""
        with self._lock:
            return self._events is not None and self._events.alive

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stopper, self._stopper, self._events = self._stopper, None, None
        if stopper is not None:
            stopper()

    def __enter__(self) -> FolderTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the parts --

    def _exchange(
        self,
        request_name: str,
        build: Callable[[], bytes],
        answers: Mapping[str, tuple[int, Callable[[str, bytes], T]]],
    ) -> tuple[T, float]:
        """Write the request (unless one of its answers is already waiting), wait for the first
        of `answers` (file name → (size cap, reader)) that reads, move it to trash/; the
        value read and the round trip in seconds. A reader raises MessageError for a file not
        whole yet (read again until the deadline), CentralUnreadable for one that never will
        be. No answer before the deadline, or folders that cannot be written: the request is
        taken back and CentralUnavailable raised."""
        body = build()
        started = self._clock()
        deadline = started + self.timeout_s
        names = tuple(answers)
        wake = self._waiters.add(*names)
        try:
            self._ensure_watching()
            if all(self._find(name, answers[name][0]) is None for name in names):
                self._write_request(request_name, body)
            value, where = self._wait(answers, wake, deadline)
        except CentralUnavailable:
            self._take_back(request_name)
            raise
        finally:
            self._waiters.remove(*names)
        round_trip = self._clock() - started
        self._consumed(where)
        return value, round_trip

    def _ensure_watching(self) -> None:
        """Start the one watch, once `res/` is there (a share mounted late is watched from
        the first request after it appears). Without events the rescans still find answers."""
        if not self._watch:
            return
        with self._lock:
            if self._events is not None or self._closed or not self.results.is_dir():
                return
            events = NameWatch(self.root, self._waiters.wake, name="terminal-folders")
            try:
                events.start()
            except OSError as exc:  # e.g. the inotify watch limit
                log.warning(
                    "no file-system events for %s (%s): finding answers by rescanning every %g s",
                    self.root,
                    exc,
                    self.rescan_s,
                )
                self._watch = False
                return
            self._events = events
            # The watch holds the waiters, never the transport: a transport nobody holds
            # any more is collected, and this stops its watch.
            self._stopper = weakref.finalize(self, events.stop)

    def _write_request(self, name: str, body: bytes) -> None:
        final = self.requests / name
        temporary = self.requests / f".{name}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, final)
        except OSError as exc:
            _remove_quietly(temporary)
            raise CentralUnavailable(
                f"資格確認端末のフォルダ {self.requests} に書き込めません（共有フォルダの接続を"
                f"確認してください）/ cannot write to the terminal's folder {self.requests} "
                f"(is the share mounted?): {exc.strerror or exc}"
            ) from exc
        _sync_folder(self.requests)

    def _find(self, name: str, cap: int) -> tuple[bytes, Path] | None:
        """The file's bytes (at most `cap` + 1 of them) and where they were read, from `res/`,
        else from `trash/` (the terminal may have moved it in between); None when it is in
        neither."""
        for folder in (self.results, self.trash):
            path = folder / name
            try:
                with open(path, "rb") as file:  # read whole: a copy, whatever happens next
                    return file.read(cap + 1), path
            except FileNotFoundError:
                continue
            except OSError as exc:  # a share that hiccups: look again at the next rescan
                log.debug("cannot read %s yet: %s", path, exc)
                continue
        return None

    def _wait(
        self,
        answers: Mapping[str, tuple[int, Callable[[str, bytes], T]]],
        wake: threading.Event,
        deadline: float,
    ) -> tuple[T, Path]:
        unparsed: tuple[str, MessageError] | None = None
        while True:
            found_any = False
            for name, (cap, read) in answers.items():
                found = self._find(name, cap)
                if found is None:
                    continue
                found_any = True
                raw, where = found
                try:
                    return read(name, raw), where
                except MessageError as exc:
                    unparsed = (name, exc)  # half-written (or never whole): read again soon
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            pause = self._parse_retry_s if found_any else self.rescan_s
            wake.wait(min(pause, remaining))
            wake.clear()  # before the next read: a write after it wakes the next wait
        if unparsed is not None:
            name, error = unparsed
            raise CentralUnreadable(
                f"資格確認端末の応答 {name} を読めません / the terminal's answer {name} "
                f"cannot be read: {error}"
            )
        expected = " / ".join(answers)
        raise CentralUnavailable(
            f"資格確認端末が {self.timeout_s:g} 秒以内に応答しませんでした / the terminal did not "
            f"answer within {self.timeout_s:g} s ({expected} did not appear in {self.results})"
        )

    def _take_back(self, name: str) -> None:
        """A request nobody will wait for is removed, unless the terminal has taken it."""
        try:
            (self.requests / name).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the unanswered request %s: %s", name, exc)

    def _consumed(self, where: Path) -> None:
        """Our own answer, read: moved to trash/ as the terminal does with handled files."""
        if where.parent != self.results or not self.trash.is_dir():
            return
        try:
            os.replace(where, self.trash / where.name)
        except FileNotFoundError:
            pass  # the terminal moved it first
        except OSError as exc:
            log.warning("could not move the answer %s to trash/: %s", where.name, exc)


def _unzipped(name: str, raw: bytes, cap: int) -> bytes:
    """The one XML member of a zipped answer, never inflated past `cap` (a small zip can hold
    gigabytes). MessageError while it is not a whole zip yet (read again); CentralUnreadable
    for a zip that will never do (no single XML member, too large, encrypted)."""
    if len(raw) > cap:
        raise _unreadable_zip(name, f"larger than {cap} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise MessageError(f"{name} is not a whole zip yet") from None
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) != 1 or not members[0].filename.lower().endswith(".xml"):
        raise _unreadable_zip(name, "it does not hold exactly one XML file")
    member = members[0]
    if member.file_size > cap:
        raise _unreadable_zip(name, f"its XML is larger than {cap} bytes")
    try:
        with archive.open(member) as file:
            data = file.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise MessageError(f"{name} is not a whole zip yet") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, unknown compression
        raise _unreadable_zip(name, str(exc)[:100]) from None
    if len(data) > cap:
        raise _unreadable_zip(name, f"its XML is larger than {cap} bytes once inflated")
    return data


def _unreadable_zip(name: str, why: str) -> CentralUnreadable:
    return CentralUnreadable(
        f"資格確認端末の応答 {name} を読めません / the terminal's answer {name} cannot be "
        f"read: {why}"
    )


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    """The rename itself on the disk (best effort: a share may not allow a folder fsync)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
