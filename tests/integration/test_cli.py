"""The `onshi` command as a technician and a newcomer use it, through the real stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.cli import COMMANDS
from device.config import SETTINGS
from reader.pcsc import PcscReaders
from sim.card import VirtualCard

from .conftest import APPLIANCE_PORT, APPLIANCE_READER

pytestmark = pytest.mark.stack

ONSHI = str(Path(sys.executable).parent / "onshi")


def env_for(pki: Any, central_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ONSHI_READER=APPLIANCE_READER,
        ONSHI_CENTRAL_URL=central_url,
        ONSHI_CENTRAL_CA=str(pki.central_ca_cert),
        ONSHI_DEVICE_CERT=str(pki.device_cert),
        ONSHI_DEVICE_KEY=str(pki.device_key),
        ONSHI_DATA_DIR=str(data_dir),
    )
    return env


@pytest.fixture
def card_on_reader(
    pcscd: list[str], sim_pki: Any, card_audit_path: Path, tmp_path: Path
) -> Iterator[VirtualCard]:
    card = VirtualCard(
        "P001", sim_pki, tmp_path / "cards", port=APPLIANCE_PORT, audit_path=card_audit_path
    )
    card.insert()
    readers = PcscReaders()
    deadline = time.monotonic() + 10
    while not readers.card_present(APPLIANCE_READER) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield card
    card.remove()
    readers.wait_until_empty(APPLIANCE_READER)
    readers.close()


def test_card_info_reads_only_the_certificate(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    out = subprocess.run(
        [ONSHI, "card", "info", "--json"],
        env=env_for(sim_pki, central_server.url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    info = json.loads(out)
    assert info["subject"].startswith("CN=") and "C=JP" in info["subject"]
    assert "JPKI" in info["issuer"]
    # SELECT AP, SELECT 000A and the reads: no PIN, no other file.
    assert info["apdus"][:2] == ["00 A4 04 0C", "00 A4 02 0C"]
    assert all(h.startswith("00 B0") for h in info["apdus"][2:])


def test_card_check_runs_a_visit_with_the_pin_from_stdin(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    done = subprocess.run(
        [ONSHI, "card", "check", "--json"],
        env=env_for(sim_pki, central_server.url, tmp_path),
        input="1234\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["state"] == "done" and report["badge"] == "VALID"
    assert report["apdus"] >= 8
    assert "1234" not in done.stderr  # the PIN is never echoed or logged


def test_card_check_with_a_wrong_pin_and_no_more_input_ends_cleanly(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    done = subprocess.run(
        [ONSHI, "card", "check", "--json"],
        env=env_for(sim_pki, central_server.url, tmp_path),
        input="9999\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["state"] == "aborted"
    assert "残り 2 回" in done.stderr


def test_configuration_errors_exit_78_with_the_reason(tmp_path: Path) -> None:
    env = dict(os.environ, ONSHI_MEDICAL_INSTITUTION_CODE="12")
    done = subprocess.run(
        [ONSHI, "card", "info"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 78
    assert "medical_institution_code" in done.stderr


def test_help_and_settings_name_everything() -> None:
    help_text = subprocess.run([ONSHI, "--help"], capture_output=True, text=True, check=True).stdout
    for command in {c.split()[0] for c in COMMANDS}:
        assert command in help_text
    settings = subprocess.run(
        [ONSHI, "settings"], capture_output=True, text=True, check=True
    ).stdout
    assert all(s.name in settings for s in SETTINGS)
    people = subprocess.run(
        [ONSHI, "sim", "people"], capture_output=True, text=True, check=True
    ).stdout
    assert "P001" in people and "1234" in people


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_starts_everything_and_ctrl_c_stops_it(pcscd: list[str], tmp_path: Path) -> None:
    staff, kiosk = _free_port(), _free_port()
    env = dict(os.environ, ONSHI_STAFF_PORT=str(staff), ONSHI_KIOSK_PORT=str(kiosk))
    demo = subprocess.Popen(
        [ONSHI, "demo", "--data", str(tmp_path / "demo")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        assert any(f":{staff}/sandbox" in line for line in lines), lines
        page = urllib.request.urlopen(f"http://127.0.0.1:{staff}/", timeout=10).read()
        assert "受付".encode() in page
        kiosk_page = urllib.request.urlopen(f"http://127.0.0.1:{kiosk}/", timeout=10).read()
        assert "カード".encode() in kiosk_page
        # Ctrl-C in a terminal reaches the whole process group, and often twice (make, then us).
        os.killpg(demo.pid, signal.SIGINT)
        time.sleep(0.2)
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
        assert demo.returncode == 0, rest
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    # Nothing left running: the central's and the pages' ports are free again.
    for port in (8443, staff, kiosk):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
