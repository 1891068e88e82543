"""Cold start and memory of the appliance process (targets: ≤ 3 s, RSS ≤ 120 MB).

Each run is a fresh Python process that imports everything, builds the appliance from a
configuration on a new data directory (so the first-start work — database migrations, keys,
the staff TLS certificate — is included) and starts every part; it reports when both web
listeners answer, and its resident memory then and after serving a few pages.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = 5

CHILD = r"""
import json, ssl, sys, time, urllib.request
started = time.perf_counter()
from device.appliance import build_appliance
from device.config import load_config
data = sys.argv[1]
config = load_config(environ={}, overrides={
    "data_dir": data + "/appliance", "staff_port": 0, "kiosk_port": 0,
    "central_ca": data + "/pki/central-ca.pem", "device_cert": data + "/pki/device.pem",
    "device_key": data + "/pki/device.key", "jpki_root_file": data + "/pki/jpki-root.pem",
})
app = build_appliance(config)
app.start()
insecure = ssl.create_default_context()
insecure.check_hostname = False
insecure.verify_mode = ssl.CERT_NONE  # the self-signed staff certificate made a moment ago
urllib.request.urlopen(app.staff.base_url + "/login", context=insecure, timeout=10).read()
urllib.request.urlopen(app.kiosk.base_url + "/", timeout=10).read()
ready = time.perf_counter() - started
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
rss_ready = rss()
for _ in range(20):
    urllib.request.urlopen(app.staff.base_url + "/login", context=insecure, timeout=10).read()
    urllib.request.urlopen(app.kiosk.base_url + "/", timeout=10).read()
rss_served = rss()
app.stop()
print(json.dumps({"ready_s": ready, "rss_ready_mb": rss_ready, "rss_served_mb": rss_served}))
"""


def main(argv: list[str]) -> None:
    results = []
    for _ in range(RUNS):
        data = Path(tempfile.mkdtemp(prefix="onshi-bench-start-"))
        subprocess.run(
            [sys.executable, "-m", "sim", "pki", "--data", str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(data)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ready = [r["ready_s"] for r in results]
    print(f"appliance cold start, {RUNS} fresh processes and data directories:")
    print(
        f"  ready (imports → both listeners answer)  median {statistics.median(ready):.2f} s"
        f"   max {max(ready):.2f} s   (target <= 3 s)"
    )
    print(
        f"  RSS when ready                           median "
        f"{statistics.median(r['rss_ready_mb'] for r in results):.0f} MB"
    )
    print(
        f"  RSS after 40 pages                       median "
        f"{statistics.median(r['rss_served_mb'] for r in results):.0f} MB   (target <= 120 MB)"
    )
    print()
