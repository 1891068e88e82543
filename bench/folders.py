"""The terminal's folder transport: request → answer overhead, the terminal's own time excluded.

A terminal in this process watches req/ with file-system events (so it sees each request as it
lands), notes when it saw it, writes the answer (temporary name, then rename) after its delay
and notes when the answer landed. The transport's round trip minus the terminal's part (seen →
landed) is the transport's overhead: writing the request (fsync and rename), the terminal
noticing it, the transport noticing the answer, reading and parsing it, moving it to trash/.

Two series: with file-system events (a local folder), and with rescans only at the default
`terminal_rescan_s` (a mounted SMB share, whose remote writes make no events): there the answer
is found at the next rescan after it lands, so the overhead depends on when in the interval the
terminal answers; the terminal's delays are spread over several intervals (fixed seed).

The doctor's drug history goes the same way (`medical_info`, YZK requests): the overhead of a
3-year drug XML answer and of the same history as a PDF (FileCategory 1), with file-system
events, the answer being the simulated central's for a patient with a long history.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from device.settings import SETTINGS_BY_NAME
from sim.central.medpdf import medinfo_pdf
from sim.medical import drug_history
from sim.population import person
from sync.folders import FolderTransport
from sync.medinfo import (
    MedicalInfoRequest,
    MedicalInfoResult,
    build_medinfo_result,
    parse_medinfo_request,
    result_document_name,
    result_file_name,
)
from sync.xmlmsg import (
    Qualification,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_result,
    parse_request,
)

MIC = "1312345670"


class BenchTerminal(FileSystemEventHandler):
    """Answers each request in req/ after `delay()` seconds; times what it did."""

    prefixes: tuple[str, ...] = ("OQSsiquc01req_",)

    def __init__(self, root: Path, delay: list[float]) -> None:
        self.root = root
        self.delays = delay
        self.spent: dict[str, float] = {}  # file id → seconds from seeing it to the answer landing
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = os.fsdecode(event.dest_path or event.src_path)
        name = os.path.basename(path)
        if event.event_type != "moved" or not name.startswith(self.prefixes):
            return
        with self._lock:
            if name in self._seen:
                return
            self._seen.add(name)
            delay = self.delays.pop(0) if self.delays else 0.0
        seen = time.perf_counter()
        threading.Thread(target=self._answer, args=(name, seen, delay)).start()

    def _answer(self, name: str, seen: float, delay: float) -> None:
        body = (self.root / "req" / name).read_bytes()
        file_id, answer_name, answer = self._render(name, body)
        if delay:
            time.sleep(delay)
        final = self.root / "res" / answer_name
        temporary = final.with_name(f".{final.name}.tmp")
        temporary.write_bytes(answer)
        os.replace(temporary, final)
        landed = time.perf_counter()
        with self._lock:
            self.spent[file_id] = landed - seen
        os.replace(self.root / "req" / name, self.root / "trash" / name)

    def _render(self, name: str, body: bytes) -> tuple[str, str, bytes]:
        """(file id, the answer's file name, the answer)."""
        request = parse_request(body)
        p = person("P001")
        result = QualificationResult(
            process_time="20260401093000",
            confirmation_date=request.confirmation_date,
            medical_institution_code=MIC,
            file_id=request.file_id,
            reference_classification="2",
            segment_of_result="1",
            processing_status="1",
            validity="1",
            search=request.search,
            results=(
                Qualification(
                    insurer_number=p.insurer_number,
                    number=p.number,
                    name=p.name,
                    name_kana=p.name_kana,
                    birthdate=p.birthdate,
                    address="東京都千代田区霞が関1-2-2",
                    contribution_ratio="030",
                ),
            ),
        )
        answer = build_result(result, encoding="shift_jis")
        return request.file_id, name.replace("req_", "res_"), answer


HISTORY = tuple(drug_history(person("P010"), date(2026, 4, 1)))


class MedinfoBenchTerminal(BenchTerminal):
    """Answers drug requests with P010's three years of drugs, as XML or as the PDF."""

    prefixes = ("YZKsiquc01req_",)

    def _render(self, name: str, body: bytes) -> tuple[str, str, bytes]:
        request = parse_medinfo_request(body)
        result = MedicalInfoResult(
            kind="drug",
            process_time="20260401093000",
            medical_institution_code=MIC,
            file_id=request.file_id,
            segment_of_result="1",
            start_month=request.start_month,
            end_month=request.end_month,
            months=HISTORY,
        )
        if request.file_category == "1":
            pdf = medinfo_pdf(result)
            return request.file_id, result_document_name("drug", request.file_id), pdf
        answer = build_medinfo_result(result, encoding="shift_jis")
        return request.file_id, result_file_name("drug", request.file_id), answer


Ask = Callable[[FolderTransport, str], float]  # the transport, a file id → the round trip


def _confirm(transport: FolderTransport, file_id: str) -> float:
    p = person("P001")
    search = SearchInfo(p.insurer_number, p.number, p.birthdate, p.symbol)
    request = QualificationRequest(MIC, "20260401", file_id, "2", search=search)
    return transport.confirm(request).round_trip_s


P010 = person("P010")
DRUGS = MedicalInfoRequest(
    "drug", MIC, "", P010.insurer_number, P010.number, P010.birthdate, "202305", "202604"
)


def _drugs(file_category: str) -> Ask:
    def ask(transport: FolderTransport, file_id: str) -> float:
        request = replace(DRUGS, file_id=file_id, file_category=file_category)
        return transport.medical_info(request).round_trip_s

    return ask


def series(
    count: int,
    *,
    watch: bool,
    rescan_s: float,
    delays: list[float],
    terminal_type: type[BenchTerminal] = BenchTerminal,
    ask: Ask = _confirm,
) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-folders-") as where:
        root = Path(where)
        for folder in ("req", "res", "face", "trash"):
            (root / folder).mkdir()
        terminal = terminal_type(root, list(delays))
        observer = Observer()
        observer.schedule(terminal, str(root), recursive=True)  # moves pair within one watch
        observer.start()
        overheads: list[float] = []
        try:
            with FolderTransport(root, timeout_s=60, rescan_s=rescan_s, watch=watch) as transport:
                for n in range(count):
                    file_id = f"bench{n:05d}"
                    round_trip = ask(transport, file_id)
                    while file_id not in terminal.spent:  # its note may come just after
                        time.sleep(0.0001)
                    overheads.append(round_trip - terminal.spent[file_id])
        finally:
            observer.stop()
            observer.join()
        return overheads


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"{statistics.median(ordered) * 1000:8.1f} / {p95 * 1000:8.1f} ms"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.folders")
    parser.add_argument("--requests", type=int, default=200, help="with file-system events")
    parser.add_argument("--rescan-requests", type=int, default=12, help="with rescans only")
    parser.add_argument("--medinfo-requests", type=int, default=50, help="drug XML and PDF")
    args = parser.parse_args(argv)
    rescan_s = float(SETTINGS_BY_NAME["terminal_rescan_s"].default)

    events = series(args.requests, watch=True, rescan_s=rescan_s, delays=[])
    late = series(args.requests, watch=True, rescan_s=rescan_s, delays=[0.05] * args.requests)
    spread = random.Random(11)
    delays = [spread.uniform(0.1, 3 * rescan_s) for _ in range(args.rescan_requests)]
    rescans = series(args.rescan_requests, watch=False, rescan_s=rescan_s, delays=delays)
    medinfo = args.medinfo_requests
    drug_xml, drug_pdf = (
        series(
            medinfo,
            watch=True,
            rescan_s=rescan_s,
            delays=[],
            terminal_type=MedinfoBenchTerminal,
            ask=_drugs(category),
        )
        for category in ("2", "1")
    )
    xml_size = len(build_medinfo_result(replace(_sample(), months=HISTORY), encoding="shift_jis"))
    pdf_size = len(medinfo_pdf(replace(_sample(), months=HISTORY)))

    print("\nterminal folder transport: request → answer overhead, terminal's own time excluded")
    print("(median / p95; write + fsync + rename, noticing, reading, parsing, moving to trash/)")
    print(f"  file-system events, terminal answers at once ({args.requests}): {_ms(events)}")
    print(f"  file-system events, terminal takes 50 ms ({args.requests}):   {_ms(late)}")
    print(
        f"  rescans only, every {rescan_s:g} s (default), terminal takes 0.1–{3 * rescan_s:g} s "
        f"({args.rescan_requests}): {_ms(rescans)}"
    )
    print("  drug history (YZK, 36 months of P010), file-system events, terminal answers at once:")
    print(f"    XML answer, {xml_size / 1024:.0f} KiB ({medinfo}): {_ms(drug_xml)}")
    print(f"    PDF answer, {pdf_size / 1024:.0f} KiB ({medinfo}): {_ms(drug_pdf)}")


def _sample() -> MedicalInfoResult:
    return MedicalInfoResult(
        "drug", "20260401093000", MIC, "sample", "1", "", "", "202305", "202604"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
