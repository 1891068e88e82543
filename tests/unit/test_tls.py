"""device/tls.py: the staff listener's certificate, and web/server.py serving over HTTPS with it."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask, request

from device.config import Config, ConfigError, load_config
from device.tls import RENEW_BEFORE, VALIDITY, staff_certificate
from web.server import WebServer

NOW = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


def config(tmp_path: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {"data_dir": str(tmp_path / "data")}
    values.update(overrides)
    return load_config(environ={}, overrides=values)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_created_once_ecdsa_p256_with_the_right_names(tmp_path: Path) -> None:
    cert_path, key_path = staff_certificate(config(tmp_path, staff_host="192.0.2.10"), now=NOW)
    assert cert_path == tmp_path / "data" / "staff-tls" / "cert.pem"
    assert key_path == tmp_path / "data" / "staff-tls" / "key.pem"
    assert key_path.stat().st_mode & 0o777 == 0o600
    cert = load(cert_path)
    hostname = socket.gethostname()
    assert cert.subject.rfc4514_string() == f"CN=onshi-edge {hostname}"
    assert cert.issuer == cert.subject
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", hostname}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("192.0.2.10"),
    }
    assert cert.not_valid_after_utc - NOW == VALIDITY
    assert cert.not_valid_before_utc <= NOW
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False


def test_reused_while_valid_and_renewed_near_expiry(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cert_path, key_path = staff_certificate(cfg, now=NOW)
    first = cert_path.read_bytes(), key_path.read_bytes()
    assert staff_certificate(cfg, now=NOW + timedelta(days=700)) == (cert_path, key_path)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == first
    renew_at = NOW + VALIDITY - RENEW_BEFORE
    staff_certificate(cfg, now=renew_at)
    assert cert_path.read_bytes() != first[0] and key_path.read_bytes() != first[1]
    assert load(cert_path).not_valid_after_utc == renew_at + VALIDITY
    assert key_path.stat().st_mode & 0o777 == 0o600


def test_a_damaged_or_half_missing_pair_is_made_again(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cert_path, key_path = staff_certificate(cfg, now=NOW)
    cert_path.write_text("not a certificate")
    staff_certificate(cfg, now=NOW)
    load(cert_path)
    key_path.unlink()
    staff_certificate(cfg, now=NOW)
    assert key_path.is_file()
    assert not list((tmp_path / "data" / "staff-tls").glob("*.tmp"))


def test_a_host_name_as_staff_host_becomes_a_dns_name(tmp_path: Path) -> None:
    cert_path, _ = staff_certificate(config(tmp_path, staff_host="reception.clinic.lan"), now=NOW)
    san = load(cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "reception.clinic.lan" in san.get_values_for_type(x509.DNSName)
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_configured_files_are_used_as_they_are(tmp_path: Path) -> None:
    made_cert, made_key = staff_certificate(config(tmp_path / "elsewhere"), now=NOW)
    cfg = config(tmp_path, staff_tls_cert=str(made_cert), staff_tls_key=str(made_key))
    assert staff_certificate(cfg) == (made_cert, made_key)
    assert not (tmp_path / "data" / "staff-tls").exists()


@pytest.mark.parametrize(
    "given", [{"staff_tls_cert": "CERT"}, {"staff_tls_key": "KEY"}, {"staff_tls_cert": "MISSING"}]
)
def test_configured_files_must_both_exist(tmp_path: Path, given: dict[str, str]) -> None:
    made_cert, made_key = staff_certificate(config(tmp_path / "elsewhere"), now=NOW)
    real = {"CERT": str(made_cert), "KEY": str(made_key), "MISSING": str(tmp_path / "none.pem")}
    overrides = {name: real[value] for name, value in given.items()}
    if given == {"staff_tls_cert": "MISSING"}:
        overrides["staff_tls_key"] = str(made_key)
    with pytest.raises(ConfigError, match="staff_tls_cert and staff_tls_key"):
        staff_certificate(config(tmp_path, **overrides))


def test_web_server_answers_over_https_with_the_generated_certificate(
    tmp_path: Path, openssl_now: Callable[[], datetime]
) -> None:
    # made at the time OpenSSL checks it against, whatever --clock-shift-days did to Python's
    cert_path, key_path = staff_certificate(config(tmp_path), now=openssl_now())
    app = Flask("tls-probe")

    @app.get("/probe")
    def probe() -> str:
        return f"secure={request.is_secure}"

    server = WebServer(
        app, "127.0.0.1", 0, numthreads=2, certificate=cert_path, private_key=key_path
    )
    server.start()
    try:
        assert server.tls
        context = ssl.create_default_context(cafile=str(cert_path))  # trusts exactly this one
        connection = http.client.HTTPSConnection(
            "localhost", server.port, context=context, timeout=10
        )
        try:
            connection.request("GET", "/probe")
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == b"secure=True"
            peer = connection.sock.getpeercert(binary_form=True)
            assert peer == load(cert_path).public_bytes(Encoding.DER)
        finally:
            connection.close()
        # A client that does not trust it refuses the handshake: this is really TLS.
        strict = ssl.create_default_context()
        refused = http.client.HTTPSConnection("localhost", server.port, context=strict, timeout=10)
        with pytest.raises(ssl.SSLCertVerificationError):
            refused.request("GET", "/probe")
        refused.close()
    finally:
        server.stop()
