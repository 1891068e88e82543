"""`onshi sim terminal --root DIR`: a simulated 資格確認端末 and its shared folders (DOMAIN.md §8).

It watches `DIR/req/` and answers each request whose name's prefix it has a handler for
(`SimTerminal.handlers`, keyed by the part before the first `_`): a qualification request
`OQSsiquc01req_<id>.xml` through the simulated central's own logic
(sim.central.service.CentralService.qualify: the same population and the same answers as
`onshi sim central`) into `DIR/res/OQSsiquc01res_<id>.xml` after `delay_s`, drug and checkup
requests `YZKsiquc01req_…`/`TKKsiquc01req_…` through sim/terminal_medinfo.py, bulk inquiries
`OQSmuquc01req_…`/`OQSmuquc02req_…` and 照会番号 registrations `OQSsiimm01req_…`/`OQSmuimm01req_…`
through sim/terminal_bulk.py (with `zip_bulk`, ready bulk answers as `.zip`), then moves the
handled request to `DIR/trash/`. Another kind of request is one more entry in `handlers`.
Files whose names start with a dot or that end otherwise than `.xml` (temporary names of a
writer) are ignored, as the terminal does.

Card visits on the terminal's own (face-authentication) reader: `place_on_reader(DIR, person)`
(`onshi sim face`, the demo's sandbox page) drops a small request into `DIR/.sim-reader/`, a
folder of the simulator's own that the real terminal does not have. The terminal takes it at
its next look, makes the visit as the official reader does (the card's certificate and its
signature over a nonce of the central, the face matched, every consent agreed) and after
`delay_s` writes the central's answer into `DIR/face/` under the official face-file name,
`OQSsiquc01res_face_<institution code><id>_<YYYYMMDDhhmmss>.xml`: Shift_JIS with CRLF line
ends, ReferenceClassification 1, no ArbitraryFileIdentifier (sync/facefile.py). A request file
rather than a socket: the sandbox runs in the appliance, which never imports the simulators, so
it runs the simulator's own command like an operator would, and a file in a folder the
terminal already polls needs no port, no server and nothing more to start or stop; a request
left there while the terminal is down is answered when it starts.

Like the real terminal's linking application it polls its own folders (they are local to it);
the appliance on the other side of the share is the one that must not rely on file events.
Times (file names, ProcessExecutionTime, certificate validity) come from one clock, the
service's unless another is given.

Fault switches, for answers and face files alike: `delay_s` before each one, `half_written`
writes each in two parts with a pause between them (a reader must retry its parse),
`duplicate` first writes a stale answer for another id (from "an earlier run": a reader must
ignore it), and writes each face file twice more (the same name again, and the same content
under a second name: one visit, stored once); `silent` answers nothing and leaves requests
where they are (a hung terminal: the reader must time out and take its request back).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sim.central.answers import RequestRejected, process_time
from sim.central.service import CentralService
from sim.pki import PkiPaths
from sim.stopsignal import stop_on_sigterm
from sim.terminal_bulk import BULK_PREFIXES, answer_bulk
from sim.terminal_medinfo import answer_medinfo
from sync.facefile import face_file_bytes, face_file_name
from sync.xmlmsg import (
    CardAuthentication,
    ConsentAnswer,
    MessageError,
    QualificationRequest,
    QualificationResult,
    build_request,
    build_result,
    parse_request,
    parse_result,
)

log = logging.getLogger(__name__)

FOLDERS = ("req", "res", "face", "trash")
READER_FOLDER = ".sim-reader"  # the simulator's own: card visits asked for (place_on_reader)
REQUEST_NAME = re.compile(
    r"(?P<prefix>[A-Z]{3}[a-z]{5}[0-9]{2}req)_(?P<suffix>[0-9A-Za-z][0-9A-Za-z_.-]*)\.xml"
)
QUALIFICATION = "OQSsiquc01req"
DRUG, CHECKUP = "YZKsiquc01req", "TKKsiquc01req"
DEFAULT_POLL_S = 0.02
HALF_WRITTEN_PAUSE_S = 0.3
DEFAULT_INSTITUTION = "1312345670"  # the appliance's default medical_institution_code
CONSENT_KINDS = ("drug", "checkup", "diagnosis", "surgery")
FACE_ID_BYTES = 8  # the "hash-like" id part of a face file's name: 16 hex digits


@dataclass(frozen=True)
class TerminalFaults:
    delay_s: float = 0.2  # between seeing a request (or a card) and writing its answer
    half_written: bool = False
    duplicate: bool = False
    silent: bool = False


@dataclass(frozen=True)
class Reply:
    """One file a request is answered with, written into res/."""

    name: str
    data: bytes


# (request file name, its bytes) → the files to write into res/ (none: not answered)
RequestHandler = Callable[[str, bytes], Sequence[Reply]]


class TerminalCardError(Exception):
    """The card could not be placed on the terminal's reader (unknown person, no card, or the
    terminal did not take it)."""


def make_folders(root: Path) -> None:
    for name in FOLDERS:
        (root / name).mkdir(parents=True, exist_ok=True)


def place_on_reader(root: Path, person_id: str, consents: Sequence[str] = CONSENT_KINDS) -> Path:
    """Ask the terminal at `root` for a card visit of `person_id` on its own reader, agreeing
    to `consents`: the request file, written whole (temporary name, then rename)."""
    if not re.fullmatch(r"P[0-9]{3}", person_id):
        raise TerminalCardError(f"unknown person {person_id!r}")
    unknown = [k for k in consents if k not in CONSENT_KINDS]
    if unknown:
        raise TerminalCardError(f"unknown consent kinds {unknown}")
    folder = root / READER_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{person_id}-{secrets.token_hex(4)}.json"
    temporary = folder / f".{name}.tmp"
    temporary.write_text(json.dumps({"person": person_id, "consents": list(consents)}))
    os.replace(temporary, folder / name)
    return folder / name


def wait_taken(path: Path, timeout_s: float, poll_s: float = 0.02) -> bool:
    """Whether the terminal took the card request within `timeout_s`; if not, it is taken
    back (a card is not left lying on a reader nobody reads)."""
    deadline = time.monotonic() + timeout_s
    while path.exists():
        if time.monotonic() >= deadline:
            path.unlink(missing_ok=True)
            return False
        time.sleep(poll_s)
    return True


class SimTerminal:
    """The terminal's request loop on a thread (`start`/`stop`), or `serve_forever`.

    `pki` (the simulators' test PKI) lets it make card visits on its own reader: without it
    only requests are answered. `institution`: the medical institution code of its face files.
    """

    def __init__(
        self,
        root: Path,
        service: CentralService,
        faults: TerminalFaults = TerminalFaults(),
        *,
        poll_s: float = DEFAULT_POLL_S,
        pki: PkiPaths | None = None,
        institution: str = DEFAULT_INSTITUTION,
        clock: Callable[[], datetime] | None = None,
        zip_bulk: bool = False,
    ) -> None:
        self.root = root
        self.zip_bulk = zip_bulk  # ready bulk answers written as .zip (DOMAIN §8)
        self.service = service
        self.faults = faults
        self.poll_s = poll_s
        self.pki = pki
        self.institution = institution
        self.clock: Callable[[], datetime] = clock if clock is not None else service.clock
        self.answered = 0
        self.faces = 0  # face files written (not counting duplicates)
        # by the request name's prefix: one entry per kind of request this terminal answers
        self.handlers: dict[str, RequestHandler] = {
            QUALIFICATION: self._qualification,
            DRUG: self._medinfo,  # sim/terminal_medinfo.py
            CHECKUP: self._medinfo,
            **{prefix: self._bulk for prefix in BULK_PREFIXES},  # sim/terminal_bulk.py
        }
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        make_folders(root)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-terminal", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def serve_forever(self) -> None:
        """Answer until Ctrl-C or SIGTERM (the CLI)."""
        with stop_on_sigterm(self._stop):
            try:
                self._run()
            except KeyboardInterrupt:
                pass

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.scan()
            except Exception:
                log.exception("terminal scan failed")

    def scan(self) -> None:
        """Start answering every request and card not seen before (each on its own thread: a
        slow answer does not hold the others)."""
        if self.faults.silent:
            return
        for name in _listed(self.root / "req"):
            found = REQUEST_NAME.fullmatch(name)
            if found is None or found["prefix"] not in self.handlers:
                continue
            with self._lock:
                if name in self._seen:
                    continue
                self._seen.add(name)
            threading.Thread(target=self._handle, args=(name,), daemon=True).start()
        for name in _listed(self.root / READER_FOLDER):
            if name.startswith(".") or not name.endswith(".json"):
                continue
            path = self.root / READER_FOLDER / name
            try:
                request = json.loads(path.read_text())
                path.unlink()  # taken off the request folder: the card is on the reader
            except FileNotFoundError:
                continue
            except ValueError:
                log.warning("card request %s not readable: removed", name)
                path.unlink(missing_ok=True)
                continue
            threading.Thread(target=self._face_visit, args=(request,), daemon=True).start()

    # -- requests in req/ --

    def _handle(self, name: str) -> None:
        path = self.root / "req" / name
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return  # taken back before we read it
        self._pause()
        found = REQUEST_NAME.fullmatch(name)
        assert found is not None
        replies = self.handlers[found["prefix"]](name, body)
        if replies:
            for reply in replies:
                # a stale answer from "an earlier run": qualification answers only
                if self.faults.duplicate and found["prefix"] == QUALIFICATION:
                    self._write_stale(reply)
                self._write(self.root / "res" / reply.name, reply.data)
            self.answered += 1
        try:
            os.replace(path, self.root / "trash" / name)
        except FileNotFoundError:
            pass  # the reader gave up and took it back meanwhile

    def _qualification(self, name: str, body: bytes) -> Sequence[Reply]:
        answer = self._answer(body)
        if answer is None:
            return ()
        return (Reply(name.replace("req_", "res_", 1), answer),)

    def _medinfo(self, name: str, body: bytes) -> Sequence[Reply]:
        answered = answer_medinfo(self.service, name, body)
        return () if answered is None else (Reply(*answered),)

    def _bulk(self, name: str, body: bytes) -> Sequence[Reply]:
        answered = answer_bulk(self.service, name, body, zip_bulk=self.zip_bulk)
        return () if answered is None else (Reply(*answered),)

    def _answer(self, body: bytes) -> bytes | None:
        try:
            request = parse_request(body)
        except MessageError as exc:
            log.warning("request not answered: %s", exc)
            return None
        try:
            return self.service.qualify(body, request.medical_institution_code).body
        except RequestRejected as exc:
            failure = QualificationResult(
                process_time=process_time(self.clock()),
                confirmation_date=request.confirmation_date,
                medical_institution_code=request.medical_institution_code,
                file_id=request.file_id,
                reference_classification=request.reference_classification,
                segment_of_result="9",
                error_code=f"E{exc.status}",
                error_message=exc.message,
            )
            return build_result(failure, encoding=self.service.encoding)

    # -- card visits on the terminal's own reader → face/ --

    def _face_visit(self, request: object) -> None:
        try:
            person_id, consents = _card_request(request)
            self._pause()
            name, data = self.face_file(person_id, consents)
        except (TerminalCardError, MessageError, RequestRejected, OSError) as exc:
            log.warning("card visit on the terminal's reader not made: %s", exc)
            return
        path = self.root / "face" / name
        self._write(path, data)
        self.faces += 1
        if self.faults.duplicate:
            self._write(path, data)  # the same file again
            again = name.replace(f"{self.institution}", f"{self.institution}d", 1)
            self._write(self.root / "face" / again, data)  # the same visit under a second name

    def face_file(
        self, person_id: str, consents: Sequence[str] = CONSENT_KINDS
    ) -> tuple[str, bytes]:
        """The face file of one card visit of `person_id` on this terminal's reader: its name
        and its bytes (the central's answer to the card, as the official reader asks it)."""
        if self.pki is None:
            raise TerminalCardError("this terminal has no test PKI: it cannot read cards")
        person = next((p for p in self.service.people if p.id == person_id), None)
        if person is None or person.card_status == "none":
            raise TerminalCardError(f"{person_id} has no My Number card")
        face_id = secrets.token_hex(FACE_ID_BYTES)
        now = self.clock()
        stamp = process_time(now)
        nonce = self.service.issue_nonce(self.institution).value
        request = QualificationRequest(
            medical_institution_code=self.institution,
            confirmation_date=stamp[:8],
            file_id=face_id,
            reference_classification="1",
            card=CardAuthentication(
                certificate=self.pki.card_cert(person_id).read_bytes(),
                nonce=nonce,
                signature=self.pki.card_signature(person_id, nonce, self.institution, face_id),
                method="face",
            ),
            consents=tuple(ConsentAnswer(kind, True, stamp) for kind in consents),
        )
        body = self.service.qualify(build_request(request), self.institution).body
        # A face file answers no request: no ArbitraryFileIdentifier.
        result = replace(parse_result(body), file_id="")
        name = face_file_name(self.institution, face_id, stamp)
        return name, face_file_bytes(result)

    # -- writing --

    def _pause(self) -> None:
        if self.faults.delay_s > 0:
            time.sleep(self.faults.delay_s)

    def _write(self, path: Path, data: bytes) -> None:
        if self.faults.half_written:
            half = len(data) // 2
            with open(path, "wb") as file:
                file.write(data[:half])
                file.flush()
                time.sleep(HALF_WRITTEN_PAUSE_S)
                file.write(data[half:])
            return
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    def _write_stale(self, reply: Reply) -> None:
        """An answer to some earlier request, with its own id and name."""
        try:
            result = parse_result(reply.data)
        except MessageError:
            return  # not a qualification answer: no stale copy of it
        stale_id = f"stale{self.answered}x{result.file_id}"[:100]
        stale = build_result(replace(result, file_id=stale_id), encoding=self.service.encoding)
        path = self.root / "res" / reply.name.replace(result.file_id, stale_id)
        path.write_bytes(stale)


def _listed(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def _card_request(raw: object) -> tuple[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise TerminalCardError("a card request is a JSON object")
    person_id, consents = raw.get("person"), raw.get("consents", [])
    if not isinstance(person_id, str) or not isinstance(consents, list):
        raise TerminalCardError("a card request names a person and its consents")
    return person_id, tuple(str(k) for k in consents if k in CONSENT_KINDS)
