"""`onshi sim terminal --root DIR`: a simulated 資格確認端末 and its shared folders (DOMAIN.md §8).

It watches `DIR/req/` for `OQSsiquc01req_<id>.xml` (and drug / checkup requests
`YZK…`/`TKK…`, sim/terminal_medinfo.py), answers each one through the simulated
central's own logic (sim.central.service.CentralService.qualify: the same population and the
same answers as `onshi sim central`) into `DIR/res/OQSsiquc01res_<id>.xml` after `delay_s`,
then moves the handled request to `DIR/trash/`. Files whose names start with a dot or that end
otherwise than `.xml` (temporary names of a writer) are ignored, as the terminal does.

Like the real terminal's linking application it polls its own folder (it is local to it); the
appliance on the other side of the share is the one that must not rely on file events.

Fault switches: `half_written` writes each answer in two parts with a pause between them
(a reader must retry its parse), `duplicate` first writes a stale answer for another id (from
"an earlier run": a reader must ignore it), `silent` answers nothing and leaves requests where
they are (a hung terminal: the reader must time out and take its request back).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sim.central.answers import RequestRejected, process_time
from sim.central.service import CentralService
from sim.terminal_medinfo import answer_medinfo, is_medinfo_request
from sync.xmlmsg import (
    MessageError,
    QualificationResult,
    build_result,
    parse_request,
    parse_result,
)

log = logging.getLogger(__name__)

FOLDERS = ("req", "res", "face", "trash")
REQUEST_NAME = re.compile(r"OQSsiquc01req_(?P<suffix>[0-9A-Za-z][0-9A-Za-z_.-]*)\.xml")
DEFAULT_POLL_S = 0.02
HALF_WRITTEN_PAUSE_S = 0.3


@dataclass(frozen=True)
class TerminalFaults:
    delay_s: float = 0.2  # between seeing a request and writing its answer
    half_written: bool = False
    duplicate: bool = False
    silent: bool = False


def make_folders(root: Path) -> None:
    for name in FOLDERS:
        (root / name).mkdir(parents=True, exist_ok=True)


class SimTerminal:
    """The terminal's request loop on a thread (`start`/`stop`), or `serve_forever`."""

    def __init__(
        self,
        root: Path,
        service: CentralService,
        faults: TerminalFaults = TerminalFaults(),
        *,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self.root = root
        self.service = service
        self.faults = faults
        self.poll_s = poll_s
        self.answered = 0
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
        self._run()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.scan()
            except Exception:
                log.exception("terminal scan failed")

    def scan(self) -> None:
        """Start answering every request not seen before (each on its own thread: a slow
        answer does not hold the others)."""
        if self.faults.silent:
            return
        try:
            names = sorted(os.listdir(self.root / "req"))
        except FileNotFoundError:
            return
        for name in names:
            if REQUEST_NAME.fullmatch(name) is None and not is_medinfo_request(name):
                continue
            with self._lock:
                if name in self._seen:
                    continue
                self._seen.add(name)
            threading.Thread(target=self._handle, args=(name,), daemon=True).start()

    def _handle(self, name: str) -> None:
        path = self.root / "req" / name
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return  # taken back before we read it
        if self.faults.delay_s > 0:
            time.sleep(self.faults.delay_s)
        medinfo = is_medinfo_request(name)  # YZK/TKK: sim/terminal_medinfo.py
        if medinfo:
            result_name, answer = answer_medinfo(self.service, name, body) or (name, None)
        else:
            result_name, answer = name.replace("req_", "res_", 1), self._answer(body)
        if answer is not None:
            if self.faults.duplicate and not medinfo:
                self._write_stale(answer, result_name)
            self._write(self.root / "res" / result_name, answer)
            self.answered += 1
        try:
            os.replace(path, self.root / "trash" / name)
        except FileNotFoundError:
            pass  # the reader gave up and took it back meanwhile

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
                process_time=process_time(self.service.clock()),
                confirmation_date=request.confirmation_date,
                medical_institution_code=request.medical_institution_code,
                file_id=request.file_id,
                reference_classification=request.reference_classification,
                segment_of_result="9",
                error_code=f"E{exc.status}",
                error_message=exc.message,
            )
            return build_result(failure, encoding=self.service.encoding)

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

    def _write_stale(self, answer: bytes, result_name: str) -> None:
        """An answer to some earlier request, with its own id and name."""
        result = parse_result(answer)
        stale_id = f"stale{self.answered}x{result.file_id}"[:100]
        stale = build_result(replace(result, file_id=stale_id), encoding=self.service.encoding)
        path = self.root / "res" / result_name.replace(result.file_id, stale_id)
        path.write_bytes(stale)
