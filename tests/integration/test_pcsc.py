"""Reader stack through the real pcscd + vpcd with the emulated JPKI card on 'Virtual PCD 00 01'."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from reader.errors import CardRemoved, ForbiddenApdu
from reader.events import CardInserted, CardRemovedEvent, PcscUp, ReaderEvent
from reader.guard import GuardedConnection
from reader.jpki import FORBIDDEN_APS, JpkiSession, digest_info_sha256
from reader.pcsc import PcscReaders, ReaderMonitor
from sim.card import ATR, VirtualCard
from sim.pki import PkiPaths
from sim.population import Person, population

pytestmark = pytest.mark.stack

READER = "Virtual PCD 00 01"
PORT = 35964


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture(scope="session")
def pki(sim_pki: PkiPaths) -> PkiPaths:
    """The run's shared test PKI (tests/conftest.py: build_pki(tmp, population()))."""
    return sim_pki


@pytest.fixture(scope="session")
def holders() -> list[Person]:
    ready = [p for p in population() if p.card_status == "valid" and p.pin_tries_left == 3]
    assert len(ready) >= 2
    return ready[:2]


@pytest.fixture
def readers(pcscd: list[str]) -> Iterator[PcscReaders]:
    pcsc = PcscReaders()
    assert READER in pcsc.list_readers()
    # DOMAIN §6: a card connecting right after another left may go unnoticed; start empty + 0.5 s.
    assert pcsc.wait_until_empty(READER), f"{READER} is occupied"
    yield pcsc
    pcsc.close()


def card_for(person: Person, pki: PkiPaths, tmp_path: Path, **kwargs: float) -> VirtualCard:
    return VirtualCard(
        person.id,
        pki,
        tmp_path / "card-state",
        port=PORT,
        audit_path=tmp_path / "card-audit.jsonl",
        **kwargs,  # type: ignore[arg-type]
    )


def forbidden_audit_entries(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "card-audit.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["forbidden"]]


def test_monitor_reports_insert_and_remove(
    readers: PcscReaders, pki: PkiPaths, holders: list[Person], tmp_path: Path
) -> None:
    events: queue.Queue[ReaderEvent] = queue.Queue()
    monitor = ReaderMonitor(events.put, reader_filter=READER, poll_ms=200)
    monitor.start()
    try:
        assert events.get(timeout=5) == PcscUp((READER,))
        card = card_for(holders[0], pki, tmp_path)
        card.insert()
        try:
            assert events.get(timeout=10) == CardInserted(READER, ATR)
        finally:
            card.remove()
        assert events.get(timeout=10) == CardRemovedEvent(READER)
    finally:
        started = time.monotonic()
        monitor.stop()
        assert time.monotonic() - started < 1.5
    assert events.empty()


def test_read_verify_sign_through_guard(
    readers: PcscReaders, pki: PkiPaths, holders: list[Person], tmp_path: Path
) -> None:
    holder = holders[0]
    refused: list[bytes] = []
    with card_for(holder, pki, tmp_path):
        assert wait_until(lambda: readers.card_present(READER))
        connection = readers.connect(READER)
        try:
            assert connection.atr == ATR
            session = JpkiSession(GuardedConnection(connection, on_refused=refused.append))
            cert_der = session.read_auth_certificate()
            assert cert_der == pki.card_cert(holder.id).read_bytes()
            assert session.pin_tries_left() == 3
            session.verify_pin(holder.pin)
            digest = bytes(range(32))
            signature = session.sign(digest_info_sha256(digest))
            with pytest.raises(ForbiddenApdu):
                session.connection.transmit(bytes.fromhex("00A4040C0A") + FORBIDDEN_APS[0])
        finally:
            connection.close()
            connection.close()
    public_key = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert len(refused) == 1
    assert forbidden_audit_entries(tmp_path) == []


def test_card_pulled_mid_read_then_next_card_works(
    readers: PcscReaders, pki: PkiPaths, holders: list[Person], tmp_path: Path
) -> None:
    first = card_for(holders[0], pki, tmp_path / "first", delay_s=0.05)
    first.insert()
    try:
        assert wait_until(lambda: readers.card_present(READER))
        connection = readers.connect(READER)

        def pull_after_four_apdus() -> None:
            # SELECT AP, SELECT 000A, two READs: then the card leaves mid-certificate.
            if first.wait_for_apdus(4, timeout=10):
                first.remove()

        puller = threading.Thread(target=pull_after_four_apdus)
        puller.start()
        try:
            with pytest.raises(CardRemoved):
                JpkiSession(GuardedConnection(connection)).read_auth_certificate()
        finally:
            connection.close()
            puller.join(timeout=10)
    finally:
        first.remove()

    assert readers.wait_until_empty(READER)
    second = holders[1]
    with card_for(second, pki, tmp_path / "second"):
        assert wait_until(lambda: readers.card_present(READER))
        connection = readers.connect(READER)
        try:
            cert_der = JpkiSession(GuardedConnection(connection)).read_auth_certificate()
        finally:
            connection.close()
    assert cert_der == pki.card_cert(second.id).read_bytes()
