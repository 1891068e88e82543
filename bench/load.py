"""Throughput and memory of the staff server: the desk page and a confirmation's detail page
under 1, 8 and 32 concurrent HTTPS keep-alive clients, and the appliance's RSS over 10,000
requests.

The appliance runs in a child process of its own (as `onshi run` would: the staff TLS
listener, the kiosk listener, the jobs), with a store holding `--rows` confirmations of today
(350 by default: a busy morning) saved through the store's API, a signed-in reception user and
a signed-in clinical user. This process drives it with httpx clients, one thread and one
keep-alive connection (and one sign-in) each: they stand where the staff's browsers stand,
outside the appliance (whose only network clients are the central transports, DESIGN
"Layout"). The clients share the machine's cores with the server: on a 2-core machine the
numbers are a floor; run with `--pinned` to put the appliance alone on CPU 0 under
bench/pinned.py's limits (the clients then have the other core).

Printed:
- RSS of the appliance when ready, after 1,000 and after 10,000 requests (a mix of desk page,
  detail page, the doctor's list and the kiosk page from 8 clients); with `--trace` the
  appliance runs tracemalloc and prints what grew between request 1,000 and 10,000 (slow:
  use it to name growth, not to time anything);
- desk pages/s and detail views/s (and the median and p99 time of one request) at 1, 8 and 32
  clients, each for `--seconds`.
Nothing is asserted: the numbers are printed, with the load average beside them.

    python -m bench.load [--rows 350] [--requests 10000] [--seconds 8] [--pinned] [--trace]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The bench's client, not the appliance's: the import-linter contract "httpx only in the
# central transports" covers the appliance's packages, which bench/ is not one of.
import httpx

from bench import pinned as pinning

ROWS = 350
REQUESTS = 10_000
FIRST = 1_000
SECONDS = 8.0
CLIENTS = (1, 8, 32)
MEMORY_CLIENTS = 8
RECEPTION = ("uketsuke", "受付 花子", "reception-pass-123")
DOCTOR = ("isha", "医師 一郎", "doctor-pass-1234")

# The appliance: users, `rows` answers of today, started; then it prints where it listens and
# serves until told "quit" on stdin. "snap NAME" takes a tracemalloc snapshot (with --trace),
# "diff A B" prints what grew between two.
CHILD = r"""
import json, os, sys, tracemalloc
trace = sys.argv[3] == "1"
if trace:
    tracemalloc.start(6)
from datetime import UTC, datetime, timedelta
from bench.backup import _answer
from device.appliance import build_appliance
from device.config import load_config
from sync.store import VisitRecord
from sync.xmlmsg import parse_result
if sys.argv[4] == "1":
    from device.memory import tune_malloc, tune_switching, tune_threads
    tune_malloc()
    tune_threads()  # as `onshi run` does (device/appliance.py start_appliance)
    tune_switching()
data, rows = sys.argv[1], int(sys.argv[2])
config = load_config(environ={}, overrides={
    "data_dir": data + "/appliance", "staff_port": 0, "kiosk_port": 0,
    "central_ca": data + "/pki/central-ca.pem", "device_cert": data + "/pki/device.pem",
    "device_key": data + "/pki/device.key", "jpki_root_file": data + "/pki/jpki-root.pem",
    # No card reader and no central: the bench is about the staff server, and must not take
    # the reader or the central of tests running beside it.
    "reader": "onshi-bench-no-such-reader", "central_url": "https://127.0.0.1:9",
})
app = build_appliance(config)
accounts = app.services.accounts
accounts.create_user("uketsuke", "受付 花子", ("reception",), "reception-pass-123", actor="bench")
accounts.create_user("isha", "医師 一郎", ("clinical", "reception"), "doctor-pass-1234",
                     actor="bench")
store = app.services.store
ids = []
now = store.now()
with store._database.write():  # a bench helper's batch: one commit for the fill
    for n in range(rows):
        raw = _answer(n)
        at = now - timedelta(seconds=rows - n)
        ids.append(store.save_confirmation(
            file_id=f"b{n}", raw_result=raw, result=parse_result(raw), kind="card",
            method="pin", actor="reader",
            visit=VisitRecord(f"v{n}", at, at, "r", "pin", "done", file_id=f"b{n}"),
            card=f"card-{n}").id)
import statistics, threading, time
audit_ms = []
for n in range(50):  # what each desk load and detail view adds: one fsync'd audit commit
    t0 = time.perf_counter()
    store.audit("bench", "bench.audit", f"bench:{n}")
    audit_ms.append(1000 * (time.perf_counter() - t0))
if sys.argv[4] == "1":
    from device.memory import tune_gc
    tune_gc()  # as start_appliance does once the appliance is assembled
app.start()
print(json.dumps({"staff": app.staff.base_url, "kiosk": app.kiosk.base_url, "ids": ids,
                  "pid": os.getpid(), "audit_ms": statistics.median(audit_ms)}), flush=True)
snaps = {}
for line in sys.stdin:
    words = line.split()
    if not words or words[0] == "quit":
        break
    if words[0] == "snap" and trace:
        import gc
        gc.collect()
        snaps[words[1]] = tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ))
        print(json.dumps({"traced_mb": tracemalloc.get_traced_memory()[0] / 2**20}), flush=True)
    elif words[0] == "stats":
        readers = getattr(store._database, "readers", None)
        print(json.dumps({"threads": threading.active_count(),
                          "readers": readers.count() if readers is not None else -1}), flush=True)
    elif words[0] == "diff" and trace:
        out = []
        for key in ("lineno", "traceback"):
            stats = snaps[words[2]].compare_to(snaps[words[1]], key)
            for stat in stats[: 12 if key == "lineno" else 4]:
                if stat.size_diff <= 0:
                    continue
                where = stat.traceback.format(limit=1 if key == "lineno" else 8)
                out.append({"key": key, "kib": stat.size_diff / 1024,
                            "count": stat.count_diff, "where": where})
        print(json.dumps(out), flush=True)
    else:
        print("{}", flush=True)
app.stop()
"""


class Appliance:
    """The appliance's child process and the control pipe to it."""

    def __init__(
        self, data: Path, rows: int, *, pin: bool, trace: bool, untuned: bool = False
    ) -> None:
        argv = [
            sys.executable,
            "-c",
            CHILD,
            str(data),
            str(rows),
            "1" if trace else "0",
            "0" if untuned else "1",
        ]
        self.process = subprocess.Popen(
            pinning.pinned(argv) if pin else argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        hello = self._answer()
        self.staff: str = hello["staff"]
        self.kiosk: str = hello["kiosk"]
        self.ids: list[int] = hello["ids"]
        self.pid: int = hello["pid"]
        self.audit_ms: float = hello["audit_ms"]

    def _answer(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the appliance ended ({self.process.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def signed_in(base: str, user: tuple[str, str, str]) -> httpx.Client:
    """A client with one keep-alive connection, signed in through the login page."""
    client = httpx.Client(
        base_url=base, verify=False, timeout=60, limits=httpx.Limits(max_connections=1)
    )
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        raise SystemExit("no login form")
    answer = client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": user[0], "password": user[2], "next": "/"},
    )
    if answer.status_code != 303 or "onshi_staff_session" not in client.cookies:
        raise SystemExit(f"sign-in failed: {answer.status_code}")
    return client


Request = Callable[[httpx.Client, int], httpx.Response]


def desk(client: httpx.Client, _: int) -> httpx.Response:
    return client.get("/")


def detail_of(ids: list[int]) -> Request:
    def detail(client: httpx.Client, n: int) -> httpx.Response:
        return client.get(f"/confirmations/{ids[n % len(ids)]}")

    return detail


def drive(
    clients: list[httpx.Client],
    request: Callable[[int, int], httpx.Response],
    *,
    seconds: float | None = None,
    total: int | None = None,
) -> tuple[int, float, list[float]]:
    """Each client in a thread of its own sends `request(client index, n)` one after another
    until `seconds` have passed or `total` requests were sent in all; (count, elapsed,
    per-request times)."""
    lock = threading.Lock()
    sent = [0]
    times: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    deadline = start + seconds if seconds is not None else float("inf")

    def work(index: int) -> None:
        mine: list[float] = []
        while True:
            with lock:
                n = sent[0]
                if (total is not None and n >= total) or time.perf_counter() >= deadline:
                    break
                sent[0] += 1
            t0 = time.perf_counter()
            answer = request(index, n)
            mine.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                failures.append(f"{answer.status_code} {answer.request.url}")
                break
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"a request failed: {failures[0]}")
    return len(times), time.perf_counter() - start, times


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} cores"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.load")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--pinned", action="store_true", help="the appliance as bench.pinned")
    parser.add_argument("--trace", action="store_true", help="tracemalloc growth, no timings")
    parser.add_argument(
        "--untuned", action="store_true", help="glibc's malloc defaults (device/memory.py)"
    )
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="onshi-bench-load-"))
    subprocess.run(
        [sys.executable, "-m", "sim", "pki", "--data", str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    where = "pinned (" + " ".join(pinning.pinned([])[:-1]) + ")" if args.pinned else "unpinned"
    print(f"staff server load: {args.rows} confirmations today, appliance {where}, {load_note()}")
    appliance = Appliance(data, args.rows, pin=args.pinned, trace=args.trace, untuned=args.untuned)
    clients: list[httpx.Client] = []
    try:
        most = max([*args.clients, MEMORY_CLIENTS])
        clients = [signed_in(appliance.staff, RECEPTION) for _ in range(most)]
        doctor = signed_in(appliance.staff, DOCTOR)
        kiosk = httpx.Client(base_url=appliance.kiosk, timeout=60)
        detail = detail_of(appliance.ids)
        print(
            f"  one audit entry alone (its own fsync'd commit, as each desk load and detail"
            f" view makes): median {appliance.audit_ms:.1f} ms"
        )
        if not args.skip_memory:
            memory(appliance, clients[:MEMORY_CLIENTS], doctor, kiosk, detail, args)
        if not args.skip_throughput and not args.trace:
            throughput(clients, detail, args)
    finally:
        for client in clients:
            client.close()
        appliance.stop()
        shutil.rmtree(data, ignore_errors=True)
    print()


def memory(
    appliance: Appliance,
    clients: list[httpx.Client],
    doctor: httpx.Client,
    kiosk: httpx.Client,
    detail: Request,
    args: argparse.Namespace,
) -> None:
    doctor_lock = threading.Lock()
    kiosk_lock = threading.Lock()

    def mixed(index: int, n: int) -> httpx.Response:
        step = n % 10
        if step == 9:
            with doctor_lock:
                return doctor.get("/clinical/")
        if step == 8:
            with kiosk_lock:
                return kiosk.get("/")
        if step % 2 == 0:
            return desk(clients[index], n)
        return detail(clients[index], n)

    rss = {"ready": appliance.rss_mb()}
    first = min(FIRST, args.requests)
    done, elapsed, _ = drive(clients, mixed, total=first)
    rss["first"] = appliance.rss_mb()
    if args.trace:
        appliance.ask("snap first")
    rest = args.requests - first
    if rest > 0:
        more, more_s, _ = drive(clients, lambda i, n: mixed(i, n + first), total=rest)
        done, elapsed = done + more, elapsed + more_s
    rss["last"] = appliance.rss_mb()
    stats = appliance.ask("stats")
    later = f" → after {done:,} {rss['last']:.0f} MiB" if done > first else ""
    print(
        f"  RSS of the appliance ({len(clients)} clients; desk, detail, doctor's list, kiosk):"
        f" ready {rss['ready']:.0f} MiB → after {first:,} requests {rss['first']:.0f} MiB"
        f"{later}   (target ≤ 120 MB, flat;"
        f" {done / elapsed:.0f} requests/s, {load_note()})"
    )
    print(
        f"  threads {stats['threads']}, store read connections {stats['readers']}"
        " (one per thread that has read; -1: none, all reads under the writer's lock)"
    )
    if args.trace:
        appliance.ask("snap last")
        grown = appliance.ask("diff first last")
        print(f"  tracemalloc, grown between request {first:,} and {done:,}:")
        for stat in grown:
            where = " ← ".join(line.strip() for line in stat["where"] if line.strip())
            print(f"    {stat['key']:>9} {stat['kib']:+9.1f} KiB {stat['count']:+7d}  {where}")


def throughput(clients: list[httpx.Client], detail: Request, args: argparse.Namespace) -> None:
    print(
        f"  {'clients':>7}  {'desk pages/s':>12} {'p50 ms':>7} {'p99 ms':>7}"
        f"   {'detail views/s':>14} {'p50 ms':>7} {'p99 ms':>7}   load"
    )
    for k in args.clients:
        some = clients[:k]
        cells = []
        for request in (desk, detail):
            drive(some, lambda i, n, r=request, c=some: r(c[i], n), total=2 * k)  # warm
            count, elapsed, times = drive(
                some, lambda i, n, r=request, c=some: r(c[i], n), seconds=args.seconds
            )
            cells.append((count / elapsed, _ms(times, 0.5), _ms(times, 0.99)))
        (dr, d50, d99), (vr, v50, v99) = cells
        print(
            f"  {k:>7}  {dr:>12.1f} {d50:>7.1f} {d99:>7.1f}   {vr:>14.1f} {v50:>7.1f}"
            f" {v99:>7.1f}   {os.getloadavg()[0]:.1f}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
