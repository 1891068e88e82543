"""The test PKI: a JPKI-like root and card certificates, the central CA and the device CA.

Built into a directory and reused: key generation is the slow part, so only what is missing
or no longer fits (wrong issuer, validity that no longer matches the scenario, another
medical institution code) is made again, and a certificate made again keeps its key.
Private keys are unencrypted PEM files, mode 0600.

Every validity is relative to the `now` the PKI is built at (the caller's clock): card
certificates mean what their scenario says to a central whose clock reads about that `now`
(valid ones valid, expired ones expired a year ago). The certificates used for real TLS (the
central's server certificate, the device certificate and their CAs) are checked by OpenSSL
against the machine's real clock, which a test that moves Python's clock does not move, so
they cover TLS_SLACK and more either side of `now`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sim.population import Person
from sync.cardexpiry import CardStanding, card_expiry
from sync.challenge import signed_payload
from sync.clock import utc_now

JPKI_AUTH_POLICY = "1.2.392.200149.8.5.1.3.30"
CARD_LIFETIME = timedelta(days=5 * 365)
CARD_BACKDATE = timedelta(days=1)  # a valid card was issued the day before `now`
EXPIRED_AGO = timedelta(days=365)  # an expired card lapsed this long before `now`: past grace
EXPIRING_IN = timedelta(days=45)  # an "expiring" card lapses this long after `now`
GRACE_AGO = timedelta(days=20)  # a "grace" card lapsed this long before `now`
# A card kept for its scenario must still mean it this long after `now` (else it is reissued).
SCENARIO_MARGIN = timedelta(days=7)
RENEW_MARGIN = timedelta(days=30)  # a leaf this close to expiry is reissued
# OpenSSL checks TLS certificates against the real clock while Python's may be moved (pytest
# --clock-shift-days, up to a year either way): a TLS certificate is only used while it covers
# `now` ± TLS_SLACK, and a new one covers twice that before `now`, so it is not remade daily.
TLS_SLACK = timedelta(days=366)
TLS_LIFETIME = timedelta(days=5 * 365)
CA_BACKDATE = timedelta(days=10 * 365)
CA_LIFETIME = timedelta(days=20 * 365)

JPKI_ROOT_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
        x509.NameAttribute(
            NameOID.ORGANIZATIONAL_UNIT_NAME,
            "Japan Agency for Local Authority Information Systems (test)",
        ),
    ]
)


@dataclass(frozen=True)
class PkiPaths:
    root: Path
    jpki_root_cert: Path  # PEM
    jpki_root_key: Path
    central_ca_cert: Path  # PEM; the appliance pins this
    central_ca_key: Path
    central_server_cert: Path  # PEM, SAN 127.0.0.1 and localhost
    central_server_key: Path
    device_ca_cert: Path  # PEM; central accepts client certificates issued by it
    device_ca_key: Path
    device_cert: Path  # PEM, CN = medical institution code, clientAuth
    device_key: Path
    revoked_serials_file: Path  # JSON list of revoked card serials (decimal strings)

    def card_cert(self, person_id: str) -> Path:
        """The card's user-authentication certificate, DER (as stored on the card)."""
        return self.root / "cards" / f"{person_id}.der"

    def card_key(self, person_id: str) -> Path:
        """The card's private key, unencrypted PKCS#8 PEM."""
        return self.root / "cards" / f"{person_id}.key"

    def card_signature(self, person_id: str, nonce: bytes, institution: str, file_id: str) -> bytes:
        """What the person's card signs once its PIN is verified, for tests and benchmarks that
        talk to the central without a reader (sync.challenge defines the signed bytes)."""
        key = serialization.load_pem_private_key(self.card_key(person_id).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        payload = signed_payload(nonce, institution, file_id)
        return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())


def pki_paths(root: Path) -> PkiPaths:
    """Where build_pki puts everything under root (nothing is created)."""
    return PkiPaths(
        root=root,
        jpki_root_cert=root / "jpki-root.pem",
        jpki_root_key=root / "jpki-root.key",
        central_ca_cert=root / "central-ca.pem",
        central_ca_key=root / "central-ca.key",
        central_server_cert=root / "central-server.pem",
        central_server_key=root / "central-server.key",
        device_ca_cert=root / "device-ca.pem",
        device_ca_key=root / "device-ca.key",
        device_cert=root / "device.pem",
        device_key=root / "device.key",
        revoked_serials_file=root / "revoked.json",
    )


def build_pki(
    root: Path,
    people: Sequence[Person],
    medical_institution_code: str = "1312345670",
    *,
    now: datetime | None = None,
) -> PkiPaths:
    """Make or refresh the PKI under root for these people, valid at `now` (default: the
    current time); see the module text for the windows."""
    paths = pki_paths(root)
    (root / "cards").mkdir(parents=True, exist_ok=True)
    at = now if now is not None else utc_now()

    jpki = _ensure_ca(paths.jpki_root_cert, paths.jpki_root_key, JPKI_ROOT_NAME, at)
    central = _ensure_ca(
        paths.central_ca_cert, paths.central_ca_key, _cn("onshi test central CA"), at
    )
    device_ca = _ensure_ca(
        paths.device_ca_cert, paths.device_ca_key, _cn("onshi test device CA"), at
    )

    server_ok = _leaf_fits(paths.central_server_cert, central, at, slack=TLS_SLACK)
    _ensure_leaf(
        paths.central_server_cert,
        paths.central_server_key,
        server_ok,
        lambda key: _server_cert(key, central, at),
    )
    device_ok = (
        _leaf_fits(paths.device_cert, device_ca, at, slack=TLS_SLACK)
        and _common_name(paths.device_cert) == medical_institution_code
    )
    _ensure_leaf(
        paths.device_cert,
        paths.device_key,
        device_ok,
        lambda key: _device_cert(key, device_ca, medical_institution_code, at),
    )

    revoked: list[str] = []
    for p in people:
        if p.card_status == "none":
            continue
        cert_path = paths.card_cert(p.id)
        fits = _card_fits(cert_path, jpki, at, p.card_status)
        _ensure_leaf(
            cert_path,
            paths.card_key(p.id),
            fits,
            partial(_card_cert, ca=jpki, now=at, status=p.card_status),
            der=True,
        )
        if p.card_status == "revoked":
            revoked.append(
                str(x509.load_der_x509_certificate(cert_path.read_bytes()).serial_number)
            )
    _write_atomic(paths.revoked_serials_file, json.dumps(sorted(revoked)).encode())
    return paths


@dataclass(frozen=True)
class _Ca:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey


def _cn(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ensure_ca(cert_path: Path, key_path: Path, name: x509.Name, now: datetime) -> _Ca:
    """The CA under this name, valid around now. One that no longer covers now ± TLS_SLACK
    is signed again with the same key, so what it issued still chains to it."""
    key = _load_key(key_path) if key_path.exists() else _new_key(key_path)
    if cert_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if (
            cert.subject == name
            and cert.public_key() == key.public_key()
            and _covers(cert, now - TLS_SLACK, now + TLS_SLACK + RENEW_MARGIN)
        ):
            return _Ca(cert, key)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CA_BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return _Ca(cert, key)


def _covers(cert: x509.Certificate, start: datetime, end: datetime) -> bool:
    return cert.not_valid_before_utc <= start and cert.not_valid_after_utc > end


def _leaf_fits(
    cert_path: Path,
    ca: _Ca,
    now: datetime,
    want_expired: bool = False,
    slack: timedelta = timedelta(0),
) -> bool:
    """Whether an existing leaf is still issued by ca and has the validity the scenario needs:
    expired before now, or valid from now - slack until past now + slack + RENEW_MARGIN."""
    if not cert_path.exists():
        return False
    data = cert_path.read_bytes()
    cert = (
        x509.load_pem_x509_certificate(data)
        if data.startswith(b"-----")
        else x509.load_der_x509_certificate(data)
    )
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if want_expired:
        return cert.not_valid_after_utc < now
    return _covers(cert, now - slack, now + slack + RENEW_MARGIN)


# The expiry standing each card status means (sync.cardexpiry), now and SCENARIO_MARGIN later.
_CARD_STANDINGS = {
    "expiring": CardStanding.RENEW_SOON,
    "grace": CardStanding.GRACE,
    "expired": CardStanding.GRACE_OVER,
}


def _card_fits(cert_path: Path, ca: _Ca, now: datetime, status: str) -> bool:
    """Whether a card's existing certificate still means what its status says at `now`."""
    standing = _CARD_STANDINGS.get(status)
    if standing is None:
        return _leaf_fits(cert_path, ca, now)
    expired = standing is not CardStanding.RENEW_SOON
    if not _leaf_fits(cert_path, ca, now, want_expired=expired):
        return False
    not_after = _load_cert(cert_path).not_valid_after_utc
    return all(
        card_expiry(not_after, at).standing is standing for at in (now, now + SCENARIO_MARGIN)
    )


def _load_cert(cert_path: Path) -> x509.Certificate:
    data = cert_path.read_bytes()
    if data.startswith(b"-----"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _ensure_leaf(
    cert_path: Path,
    key_path: Path,
    fits: bool,
    make: Callable[[rsa.RSAPrivateKey], x509.Certificate],
    der: bool = False,
) -> None:
    key = _load_key(key_path) if key_path.exists() else None
    if fits and key is not None:
        data = cert_path.read_bytes()
        cert = x509.load_der_x509_certificate(data) if der else x509.load_pem_x509_certificate(data)
        if cert.public_key() == key.public_key():
            return
    if key is None:
        key = _new_key(key_path)
    cert = make(key)
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    _write_atomic(cert_path, cert.public_bytes(encoding))


def _leaf_builder(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    ca: _Ca,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    public = key.public_key()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )


def _card_cert(key: rsa.RSAPrivateKey, ca: _Ca, now: datetime, status: str) -> x509.Certificate:
    # The subject is only an opaque id: the holder is known by issuer + serial, never by name.
    subject = _cn(secrets.token_hex(16).upper())
    not_after = {
        "expired": now - EXPIRED_AGO,
        "grace": now - GRACE_AGO,
        "expiring": now + EXPIRING_IN,
    }.get(status, now + CARD_LIFETIME)
    not_before = min(not_after - CARD_LIFETIME, now - CARD_BACKDATE)
    policy = x509.PolicyInformation(x509.ObjectIdentifier(JPKI_AUTH_POLICY), None)
    return (
        _leaf_builder(subject, key, ca, not_before, not_after)
        .add_extension(_leaf_key_usage(), critical=True)
        .add_extension(x509.CertificatePolicies([policy]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def _server_cert(key: rsa.RSAPrivateKey, ca: _Ca, now: datetime) -> x509.Certificate:
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    return (
        _leaf_builder(_cn("localhost"), key, ca, now - 2 * TLS_SLACK, now + TLS_LIFETIME)
        .add_extension(_leaf_key_usage(encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def _device_cert(
    key: rsa.RSAPrivateKey, ca: _Ca, medical_institution_code: str, now: datetime
) -> x509.Certificate:
    subject = _cn(medical_institution_code)
    return (
        _leaf_builder(subject, key, ca, now - 2 * TLS_SLACK, now + TLS_LIFETIME)
        .add_extension(_leaf_key_usage(encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _common_name(cert_path: Path) -> str:
    if not cert_path.exists():
        return ""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
    )  # our own keys: the full check costs ~40 ms each and is pointless here
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: RSA 鍵ではありません / not an RSA key")
    return key


def _new_key(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(path, pem, mode=0o600)
    return key


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file and rename, so an interrupted build never leaves half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # the umask must not widen or narrow what was asked
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
