"""sim/pki.py: every validity comes from the `now` the PKI is built at; TLS certificates cover
OpenSSL's real clock while Python's is moved; what is on disk is reused, and remade with the
same key when its window no longer fits. /v1/time answers the simulated central's clock."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sim.central.app import create_app
from sim.central.service import CentralService
from sim.pki import TLS_SLACK, PkiPaths, build_pki
from sim.population import person

AT = datetime(2031, 6, 15, 3, 0, tzinfo=UTC)  # far from any real "today" the suite runs on
PEOPLE = [person("P001"), person("P019"), person("P020")]  # valid, expired, revoked cards


def _cert(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if data.startswith(b"-----"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _valid_at(path: Path, at: datetime) -> bool:
    cert = _cert(path)
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _tls_files(pki: PkiPaths) -> list[Path]:
    return [pki.central_server_cert, pki.device_cert, pki.central_ca_cert, pki.device_ca_cert]


def _snapshot(pki: PkiPaths) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(pki.root.rglob("*")) if p.is_file()}


@pytest.fixture
def copied(sim_pki: PkiPaths, tmp_path: Path) -> Path:
    """The session PKI's keys without its certificates, so nothing here generates a key and
    every certificate is made at the time the test builds at."""
    root = tmp_path / "pki"
    shutil.copytree(sim_pki.root, root, ignore=shutil.ignore_patterns("*.pem", "*.der"))
    return root


def test_cards_mean_their_scenario_at_the_given_time(copied: Path) -> None:
    pki = build_pki(copied, PEOPLE, now=AT)
    assert _valid_at(pki.card_cert("P001"), AT)
    assert _valid_at(pki.card_cert("P020"), AT)  # revoked, not expired
    assert _cert(pki.card_cert("P019")).not_valid_after_utc < AT
    revoked = _cert(pki.card_cert("P020")).serial_number
    assert pki.revoked_serials_file.read_text() == f'["{revoked}"]'


def test_a_service_at_that_time_accepts_and_refuses_the_cards(copied: Path) -> None:
    from sync.codes import is_insured
    from sync.xmlmsg import CardAuthentication, QualificationRequest, build_request, parse_result

    pki = build_pki(copied, PEOPLE, now=AT)
    service = CentralService(pki, PEOPLE, clock=lambda: AT)

    def ask(person_id: str) -> Any:
        card = CardAuthentication(pki.card_cert(person_id).read_bytes(), b"", b"", "visual")
        request = QualificationRequest("1312345670", f"{AT:%Y%m%d}", person_id, "1", card=card)
        return parse_result(service.qualify(build_request(request), "1312345670").body)

    assert is_insured(ask("P001"))
    assert ask("P019").error_code == "EC03"
    assert ask("P020").error_code == "EC05"


def test_tls_certificates_cover_a_moved_clock_either_way(copied: Path) -> None:
    pki = build_pki(copied, PEOPLE, now=AT)
    for path in _tls_files(pki):
        for moved in (-TLS_SLACK, TLS_SLACK, -timedelta(days=400), timedelta(days=400)):
            assert _valid_at(path, AT + moved), (path.name, moved)
    # the card certificates are checked by the central's clock only: no such slack
    assert not _valid_at(pki.card_cert("P001"), AT - timedelta(days=2))


def test_rebuilt_later_everything_is_reused(copied: Path) -> None:
    pki = build_pki(copied, PEOPLE, now=AT)
    first = _snapshot(pki)
    build_pki(copied, PEOPLE, now=AT + timedelta(days=200))
    assert _snapshot(pki) == first


def _keys(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.rglob("*.key")}


def test_rebuilt_earlier_the_leaves_are_remade_with_the_same_keys(copied: Path) -> None:
    pki = build_pki(copied, PEOPLE, now=AT)
    first, keys = _snapshot(pki), _keys(copied)
    earlier = AT - timedelta(days=800)
    build_pki(copied, PEOPLE, now=earlier)
    leaves = [pki.card_cert("P001"), pki.card_cert("P020"), pki.central_server_cert]
    for path in [*leaves, pki.device_cert, pki.card_cert("P019")]:
        assert path.read_bytes() != first[path.name], path.name
    for path in [*leaves, pki.device_cert]:
        assert _valid_at(path, earlier), path.name
    assert _cert(pki.card_cert("P019")).not_valid_after_utc < earlier  # expired then too
    for path in (pki.jpki_root_cert, pki.central_ca_cert, pki.device_ca_cert):
        assert path.read_bytes() == first[path.name], path.name  # decades wide: kept
    assert _keys(copied) == keys


def test_rebuilt_a_decade_earlier_the_cas_are_signed_again_with_their_keys(copied: Path) -> None:
    pki = build_pki(copied, PEOPLE, now=AT)
    first, keys = _snapshot(pki), _keys(copied)
    long_before = AT - timedelta(days=11 * 365)
    build_pki(copied, PEOPLE, now=long_before)
    for ca in (pki.jpki_root_cert, pki.central_ca_cert, pki.device_ca_cert):
        assert ca.read_bytes() != first[ca.name] and _valid_at(ca, long_before), ca.name
    assert _keys(copied) == keys
    _cert(pki.card_cert("P001")).verify_directly_issued_by(_cert(pki.jpki_root_cert))
    _cert(pki.central_server_cert).verify_directly_issued_by(_cert(pki.central_ca_cert))
    _cert(pki.device_cert).verify_directly_issued_by(_cert(pki.device_ca_cert))


def test_time_endpoint_answers_the_services_clock(copied: Path) -> None:
    pki = build_pki(copied, PEOPLE, now=AT)
    app = create_app(CentralService(pki, PEOPLE, clock=lambda: AT))
    assert app.test_client().get("/v1/time").get_json() == {"now": AT.isoformat()}
