"""The appliance on one core with 512 MiB: a stand-in for a Raspberry Pi, not a Pi.

Each measurement runs in a child process started as
`MALLOC_ARENA_MAX=2 taskset -c 0 prlimit --as=536870912 -- python ...`: scheduled on CPU 0
only, and with an address-space limit (RLIMIT_AS) of 512 MiB. systemd is not running here,
so a cgroup limit (MemoryMax=) is not available. RLIMIT_AS is stricter than a limit on
resident memory: it counts every mapping the process reserves (thread stacks, malloc arenas,
shared libraries) whether or not it is ever touched, so a process that fits here fits under
MemoryMax=512M with room left.
Processes the child starts (the simulated central, the emulated card) inherit the same core and
each its own 512 MiB limit; pcscd is pinned only when this bench starts it.

MALLOC_ARENA_MAX=2: with glibc's default (up to 8 malloc arenas per core, each reserving 64 MiB
of address space) the appliance cannot start its web server threads under a 512 MiB RLIMIT_AS
("can't start new thread"), although it uses about 70 MiB. Two arenas is what a unit with an
address-space limit should set too; under a cgroup MemoryMax= it does not matter.

Printed:
- cold start: imports → appliance built on a fresh data directory (migrations, keys, staff TLS
  certificate) → both listeners answer; median and max of RUNS fresh processes (bench/startup.py);
- RSS after 1,000 requests: a signed-in reception client cycling the desk page, a confirmation's
  detail page and the kiosk page, in the appliance's own process;
- card visit overhead through pcscd + vpcd + the simulated central over mutual TLS
  (bench/visits.py, central latency 0: the worst case for the overhead's share).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import startup

CORE = "0"
LIMIT_BYTES = 512 * 2**20
RUNS = 5
REQUESTS = 1000

# A reception user, one stored confirmation, the appliance started, a signed-in client; then
# REQUESTS requests cycling desk page / detail page / kiosk page, and the RSS before and after.
SERVE = r"""
import http.cookiejar, json, re, resource, ssl, sys, urllib.parse, urllib.request
from datetime import UTC, datetime
from bench.backup import _answer
from device.appliance import build_appliance
from device.config import load_config
from sync.store import VisitRecord
from sync.xmlmsg import parse_result
data, requests = sys.argv[1], int(sys.argv[2])
config = load_config(environ={}, overrides={
    "data_dir": data + "/appliance", "staff_port": 0, "kiosk_port": 0,
    "central_ca": data + "/pki/central-ca.pem", "device_cert": data + "/pki/device.pem",
    "device_key": data + "/pki/device.key", "jpki_root_file": data + "/pki/jpki-root.pem",
})
app = build_appliance(config)
app.services.accounts.create_user(
    "uketsuke", "受付 花子", ("reception",), "reception-pass-123", actor="bench")
raw = _answer(1)
at = datetime.now(UTC)
stored = app.services.store.save_confirmation(
    file_id="b1", raw_result=raw, result=parse_result(raw), kind="card", method="pin",
    actor="reader", visit=VisitRecord("v1", at, at, "r", "pin", "done", file_id="b1"),
    card="card-1")
app.start()
insecure = ssl.create_default_context()
insecure.check_hostname = False
insecure.verify_mode = ssl.CERT_NONE  # the self-signed staff certificate made a moment ago
staff = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
    urllib.request.HTTPSHandler(context=insecure))
base = app.staff.base_url
form = staff.open(base + "/login", timeout=10).read().decode()
token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
staff.open(base + "/login", timeout=10, data=urllib.parse.urlencode({
    "csrf_token": token, "username": "uketsuke", "password": "reception-pass-123",
    "next": "/"}).encode()).read()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def vsz():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) / 1024
rss_ready = rss()
pages = [
    lambda: staff.open(base + "/", timeout=10),
    lambda: staff.open(base + f"/confirmations/{stored.id}", timeout=10),
    lambda: urllib.request.urlopen(app.kiosk.base_url + "/", timeout=10),
]
desk = staff.open(base + "/", timeout=10).read().decode()
assert "uketsuke" in desk or "受付" in desk, "not signed in"
for n in range(requests):
    with pages[n % 3]() as response:
        response.read()
result = {"rss_ready_mb": rss_ready, "rss_served_mb": rss(), "vsz_mb": vsz(),
          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
app.stop()
print(json.dumps(result))
"""


def pinned(argv: list[str]) -> list[str]:
    """`argv` on CPU 0 with a 512 MiB address-space limit."""
    return [
        "env",
        "MALLOC_ARENA_MAX=2",
        "taskset",
        "-c",
        CORE,
        "prlimit",
        f"--as={LIMIT_BYTES}",
        "--",
        *argv,
    ]


def _fresh_pki() -> Path:
    data = Path(tempfile.mkdtemp(prefix="onshi-bench-pinned-"))
    subprocess.run(
        [sys.executable, "-m", "sim", "pki", "--data", str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return data


def _child(argv: list[str]) -> dict[str, float]:
    out = subprocess.run(
        pinned([sys.executable, *argv]), capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        raise SystemExit(f"pinned child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    parsed: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.pinned")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--visits", type=int, default=20)
    args = parser.parse_args(argv)
    print(
        f"pinned: MALLOC_ARENA_MAX=2 taskset -c {CORE} prlimit --as={LIMIT_BYTES} (RLIMIT_AS "
        "512 MiB of address space, stricter than RSS) — a stand-in for a Raspberry Pi, not a Pi"
    )

    starts = []
    for _ in range(args.runs):
        data = _fresh_pki()
        try:
            starts.append(_child(["-c", startup.CHILD, str(data)]))
        finally:
            shutil.rmtree(data, ignore_errors=True)
    ready = [r["ready_s"] for r in starts]
    print(
        f"  cold start to both listeners answering ({args.runs} fresh processes)  "
        f"median {statistics.median(ready):.2f} s   max {max(ready):.2f} s"
    )

    data = _fresh_pki()
    try:
        served = _child(["-c", SERVE, str(data), str(args.requests)])
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(
        f"  RSS ready {served['rss_ready_mb']:.0f} MiB → after {args.requests:,} requests "
        f"(desk, detail, kiosk) {served['rss_served_mb']:.0f} MiB   "
        f"(peak {served['peak_rss_mb']:.0f} MiB, address space {served['vsz_mb']:.0f} MiB "
        "of 512)"
    )
    sys.stdout.flush()

    visits = subprocess.run(
        pinned(
            [
                sys.executable,
                "-c",
                "import sys; from bench import visits; visits.main(sys.argv[1:])",
            ]
            + ["--visits", str(args.visits), "--central-latency-ms", "0"]
        ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if visits.returncode != 0:
        raise SystemExit(f"pinned visits failed ({visits.returncode}):\n{visits.stderr[-3000:]}")
    print("  " + "\n  ".join(visits.stdout.rstrip().splitlines()))
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
