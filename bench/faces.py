"""Face files from the official terminal arriving at once: how long the inbox takes to store a
burst of them (each read, hashed, parsed, stored encrypted with its audit entry and published,
through the one confirmation path), and what that costs in memory.

The files are written by the simulated central's own logic, as the terminal writes them
(Shift_JIS, CRLF); the store is a real SQLite file. Printed: files per second, the time for
the whole burst, the time per file, and the process's resident memory before and after.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from device.confirm import Confirmations
from device.events import EventBus, Subscription
from device.facewatch import FaceInbox, FaceWatcher
from device.settings import SETTINGS
from sim.central.service import CentralService
from sim.pki import build_pki
from sim.population import population
from sync.facefile import face_file_bytes, face_file_name
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.transport import QualificationTransport
from sync.xmlmsg import QualificationRequest, SearchInfo, build_request, parse_result

MIC = "1312345670"
START = datetime(2026, 4, 1, 9, 0)  # Japan time, as ProcessExecutionTime is written


def rss_mb() -> float:
    """The current resident set (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_burst(folder: Path, pki_root: Path, count: int, *, first: int = 0) -> None:
    service = CentralService(build_pki(pki_root, population()))
    people = [p for p in population() if p.card_status != "none"]
    for n in range(first, first + count):
        p = people[n % len(people)]
        request = QualificationRequest(
            MIC,
            "20260401",
            f"b{n:06d}",
            "2",
            search=SearchInfo(p.insurer_number.zfill(8), p.number, p.birthdate, p.symbol, p.branch),
        )
        result = parse_result(service.qualify(build_request(request), MIC).body)
        # As on face files: no request to echo; each visit at its own second (the same person's
        # answer twice in the same second would be one visit: the inbox keeps one).
        at = (START + timedelta(seconds=n)).strftime("%Y%m%d%H%M%S")
        result = replace(result, file_id="", process_time=at)
        (folder / face_file_name(MIC, f"{n:06d}", result.process_time)).write_bytes(
            face_file_bytes(result)
        )


def landing_to_event(
    inbox: FaceInbox, desk: Subscription, face: Path, staging: Path, *, events: bool, count: int
) -> list[float]:
    """Seconds from a face file landing (moved in whole, as a terminal does) to the desk's
    event, one file at a time: with file-system events (and the rescan), or rescans only at
    the default `terminal_rescan_s`."""
    rescan_s = float(next(s.default for s in SETTINGS if s.name == "terminal_rescan_s"))
    watcher = FaceWatcher(inbox, rescan_s=rescan_s, events=events)
    watcher.start()
    times: list[float] = []
    try:
        time.sleep(0.2)  # the first scan and the watch are in place
        list(desk.drain())
        for path in sorted(staging.iterdir())[:count]:
            landed = time.perf_counter()
            path.rename(face / path.name)
            if desk.get(rescan_s * 3) is None:
                raise SystemExit(f"no desk event for {path.name}")
            times.append(time.perf_counter() - landed)
    finally:
        watcher.stop()
    return times


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.faces")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--landings", type=int, default=50)
    parser.add_argument("--rescan-landings", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="onshi-bench-faces-") as tmp:
        root = Path(tmp)
        face = root / "terminal" / "face"
        face.mkdir(parents=True)
        write_burst(face, root / "pki", args.files)
        store = Store(root / "bench.db", FieldCipher(FieldKeys.create(root / "bench.key")))
        bus = EventBus()
        desk = bus.subscribe()  # a desk listening, as on the appliance
        confirmations = Confirmations(
            transport=cast(QualificationTransport, object()), store=store, bus=bus
        )
        inbox = FaceInbox(
            folder=face, store=store, confirmations=confirmations, medical_institution_code=MIC
        )
        before = rss_mb()
        t0 = time.perf_counter()
        report = inbox.scan()
        seconds = time.perf_counter() - t0
        after = rss_mb()
        heard = sum(1 for _ in desk.drain())
        staging = root / "staging"
        staging.mkdir()
        total = args.landings + args.rescan_landings
        write_burst(staging, root / "pki", total, first=args.files)
        with_events = landing_to_event(inbox, desk, face, staging, events=True, count=args.landings)
        rescans = landing_to_event(
            inbox, desk, face, staging, events=False, count=args.rescan_landings
        )
        store.close()
    for label, times in (("file events", with_events), ("rescans only", rescans)):
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        print(
            f"face file landing → desk event, {label} ({len(times)} files): "
            f"{statistics.median(times) * 1000:.1f} / {p95 * 1000:.1f} ms (median / p95)"
        )
    print(f"face files arriving at once ({args.files}, Shift_JIS, one folder):")
    print(
        f"  stored {report.stored} in {seconds:.2f} s: {report.stored / seconds:.0f} files/s, "
        f"{seconds / max(1, report.stored) * 1000:.1f} ms each; desk events {heard}"
    )
    print(f"  RSS {before:.0f} MB before, {after:.0f} MB after")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
