"""What every benchmark that talks to the central starts from: a fresh data directory with the
test PKI, the simulated central in a process of its own, and the device's mutual-TLS client."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from sync.central import CentralClient, tls_context


def fresh_data(prefix: str) -> Path:
    """A new directory holding the test PKI (sim/pki.py), as `onshi demo` makes it."""
    data = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run(
        [sys.executable, "-m", "sim", "pki", "--data", str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return data


def start_central(data: Path, port: int, *, quiet: bool = False) -> subprocess.Popen[bytes]:
    """The simulated central on 127.0.0.1:`port`, in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "sim", "central", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
    )


def stop_central(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(10)


def device_client(data: Path, port: int) -> CentralClient:
    """The appliance's client for that central, with the device certificate of `data`."""
    pki = data / "pki"
    context = tls_context(pki / "central-ca.pem", pki / "device.pem", pki / "device.key")
    return CentralClient(f"https://127.0.0.1:{port}", verify=context, timeout_s=10)
