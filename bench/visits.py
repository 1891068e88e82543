"""End-to-end card visits through the real stack, timed and broken down.

pcscd + vpcd, an emulated JPKI card in its own process, the simulated central service in its
own process over mutual TLS, and the appliance's visit flow in this process. For each visit:
total time from the card being seen to the answer stored and published, split into card I/O
(time inside transmit), central round trips, the patient (PIN wait: the PIN is handed in as soon
as it is asked for) and the appliance's own overhead; plus APDUs per visit and the time from the
central answer to the reception event.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from device.confirm import Confirmations
from device.demo import ensure_pcscd, wait_for_central
from device.events import ConfirmationStored, EventBus, PinRequested, VisitAborted, VisitFailed
from device.flow import VisitFlow, VisitState, VisitTimings
from device.inputs import VisitInputs
from reader.pcsc import PcscReaders, ReaderMonitor
from sync.central import CentralClient, tls_context
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

READER = "Virtual PCD 00 00"
CENTRAL_PORT = 18443
PERSON = "P001"
PIN = "1234"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms_summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:8.1f} ms   "
        f"p95 {percentile(values, 95) * 1000:8.1f} ms"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.visits")
    parser.add_argument("--visits", type=int, default=30)
    parser.add_argument(
        "--central-latency-ms",
        type=int,
        nargs="+",
        default=[0, 100],
        help="latency the simulated central adds: 0 = loopback, the worst case for the "
        "overhead share; 100 = roughly a round trip over a clinic's closed network",
    )
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="onshi-bench-"))
    subprocess.run(
        [sys.executable, "-m", "sim", "pki", "--data", str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    pcscd = ensure_pcscd()
    try:
        for latency_ms in args.central_latency_ms:
            run_series(data, args.visits, latency_ms)
    finally:
        if pcscd is not None:
            pcscd.terminate()
            pcscd.wait(10)


def run_series(data: Path, visits: int, latency_ms: int) -> None:
    pki = data / "pki"
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "sim", "central", "--data", str(data)]
            + ["--port", str(CENTRAL_PORT), "--latency-ms", str(latency_ms)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    context = tls_context(pki / "central-ca.pem", pki / "device.pem", pki / "device.key")
    central = CentralClient(f"https://127.0.0.1:{CENTRAL_PORT}", verify=context, timeout_s=10)
    wait_for_central(central)
    key = data / "bench.key"  # a fresh directory: the key is made with the database
    keys = FieldKeys.load(key) if key.exists() else FieldKeys.create(key)
    store = Store(data / "bench.db", FieldCipher(keys))
    bus = EventBus()
    events = bus.subscribe()
    pins = VisitInputs()
    readers = PcscReaders()
    flow = VisitFlow(
        medical_institution_code="1312345670",
        connect=readers.connect,
        confirmations=Confirmations(transport=central, store=store, bus=bus),
        store=store,
        bus=bus,
        inputs=pins,
    )
    monitor = ReaderMonitor(flow.handle, reader_filter=READER)
    monitor.start()
    timings: list[VisitTimings] = []
    failures = 0
    try:
        for _ in range(visits):
            card = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sim",
                    "card",
                    "--person",
                    PERSON,
                    "--reader",
                    "0",
                    "--data",
                    str(data),
                ],
                stdout=subprocess.DEVNULL,
            )
            while True:
                event = events.get(30)
                if event is None:
                    raise SystemExit("no PIN request within 30 s: is pcscd seeing the card?")
                if isinstance(event, PinRequested):
                    pins.submit(event.visit_id, PIN)
                if isinstance(event, (ConfirmationStored, VisitAborted, VisitFailed)):
                    break
            flow.wait_idle(10)
            outcome = flow.last_outcome
            if outcome is not None and outcome.state is VisitState.DONE:
                timings.append(outcome.timings)
            else:
                failures += 1
            card.terminate()
            card.wait(5)
            readers.wait_until_empty(READER)
    finally:
        monitor.stop()
        readers.close()
        central.close()
        store.close()
        for child in reversed(children):
            child.terminate()
            child.wait(10)
    if not timings:
        raise SystemExit("no visit completed")
    total = [t.total_s - t.pin_wait_s for t in timings]
    card_io = [t.card_io_s for t in timings]
    central_rt = [t.central_s for t in timings]
    overhead = [t.overhead_s for t in timings]
    share = [o / t for o, t in zip(overhead, total, strict=True)]
    print(
        f"card visits through pcscd + vpcd + simulated central (mTLS), central latency "
        f"+{latency_ms} ms: {len(timings)} ok, {failures} failed"
    )
    print(f"  end to end (PIN wait excluded) {ms_summary(total)}")
    print(f"  card I/O                       {ms_summary(card_io)}")
    print(f"  central round trips            {ms_summary(central_rt)}")
    print(f"  appliance overhead             {ms_summary(overhead)}")
    print(
        f"  overhead share of end to end   median {statistics.median(share) * 100:5.1f} %   "
        f"p95 {percentile(share, 95) * 100:5.1f} %   (target <= 10 %)"
    )
    print(
        f"  answer -> reception event      {ms_summary([t.answer_to_event_s for t in timings])}"
        "   (target <= 1 s)"
    )
    print(f"  APDUs per visit                {statistics.median([t.apdus for t in timings]):.0f}")
    print()
