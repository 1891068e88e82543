"""The emulated card is faithful enough for OpenSC's own JPKI driver (an independent reader)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from reader.pcsc import PcscReaders
from sim.card import VirtualCard

pytestmark = pytest.mark.stack

READER = "Virtual PCD 00 01"


def test_opensc_names_the_card_jpki_and_reads_its_certificate(
    pcscd: list[str], sim_pki: Any, tmp_path: Path
) -> None:
    # OpenSC probes other applications while it detects a card: no audit file here, so its
    # probing is not counted as the appliance's traffic.
    card = VirtualCard("P002", sim_pki, tmp_path, port=35964)
    card.insert()
    readers = PcscReaders()
    try:
        deadline = time.monotonic() + 10
        while not readers.card_present(READER) and time.monotonic() < deadline:
            time.sleep(0.05)
        name = subprocess.run(
            ["opensc-tool", "-r", READER, "-n"], capture_output=True, text=True, timeout=30
        ).stdout
        assert name.strip() == "jpki"
        pem = subprocess.run(
            ["pkcs15-tool", "-r", READER, "--read-certificate", "1"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert "BEGIN CERTIFICATE" in pem
    finally:
        card.remove()
        readers.wait_until_empty(READER)
        readers.close()
